"""The Redis backend: the key schema, the trial store (Lua scripts) and the msgpack codec."""
