"""``examples/`` holds scripts run inside other libraries' environments (Ray Tune), not tests."""

collect_ignore = ["examples"]
