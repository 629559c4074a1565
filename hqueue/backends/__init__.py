"""Distributed backends for hqueue. ``redis`` holds the Redis store, keys and scripts."""
