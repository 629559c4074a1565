"""Shared set-up for the seed-document examples: the same hooks and fixture as the hyperopt
compatibility suite (tests/compat/conftest.py), reused so the two stay in step."""

from __future__ import annotations

from compat.conftest import (  # noqa: F401  (pytest finds hooks and fixtures by name)
    _no_fmin_seed_env,
    pytest_collection_modifyitems,
    pytest_configure,
)
