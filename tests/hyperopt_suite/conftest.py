"""``examples/`` holds scripts run inside other libraries' environments (Ray Tune, fugue
tune), not tests."""

collect_ignore = ["examples"]
