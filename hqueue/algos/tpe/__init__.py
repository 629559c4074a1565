"""TPE in three layers: :mod:`.sampler` (split, score, pick), :mod:`.parzen` (observations to
mixtures), :mod:`.mixture` (batched log-densities).

Example:
    >>> from hqueue.algos.tpe import suggest
"""

from __future__ import annotations

from .sampler import HYPEROPT_SETTINGS, split_good, suggest

__all__ = ["HYPEROPT_SETTINGS", "split_good", "suggest"]
