"""TPE in three layers: :mod:`.sampler` (split, score, pick), :mod:`.parzen` and :mod:`.joint`
(observations to mixtures, one label at a time or a group jointly), :mod:`.mixture` (batched
log-densities); :mod:`.groups` keeps each group's observations as arrays between suggestions.

Example:
    >>> from hqueue.algos.tpe import suggest
"""

from __future__ import annotations

from .sampler import HYPEROPT_SETTINGS, split_good, suggest

__all__ = ["HYPEROPT_SETTINGS", "split_good", "suggest"]
