"""hqueue's live web dashboard: ``hqueue dashboard --url URL`` (needs ``hqueue[dashboard]``).

- :mod:`.model`: what the pages show, built from Redis with one incrementally refreshed mirror
  per experiment (framework-free, so it is tested without a web server);
- :mod:`.app`: the Flask application (pages and the JSON API the pages poll);
- :mod:`.security`: the token guard for non-loopback binds and the Redis URL shown to users;
- :mod:`.command`: the click command, which imports Flask only when it runs.

Example:
    >>> from hqueue.dashboard.security import display_url
    >>> display_url("redis://:s3cret@10.0.0.5:6379/0")
    'redis://10.0.0.5:6379/0'
"""
