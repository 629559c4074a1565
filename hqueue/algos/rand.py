"""Random search: independent draws from the prior.

Example:
    >>> from hqueue import fmin, hp, rand
    >>> import numpy as np
    >>> best = fmin(lambda x: (x - 1) ** 2, hp.uniform("x", -5, 5), algo=rand.suggest,
    ...             max_evals=50, rstate=np.random.default_rng(0), show_progressbar=False)
    >>> abs(best["x"] - 1) < 1
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .docs import rows_to_docs

if TYPE_CHECKING:
    from ..domain import Domain
    from ..trials import Trials


def suggest(new_ids: Sequence[int], domain: Domain, trials: Trials, seed: int) -> list[dict]:
    """Trial documents for ``new_ids`` with points drawn from the prior."""
    rng = np.random.default_rng(seed)
    return rows_to_docs(new_ids, domain.space.sample(rng, len(new_ids)), domain, trials)


def suggest_batch(new_ids: Sequence[int], domain: Domain, trials: Trials, seed: int) -> list[dict]:
    """Alias of :func:`suggest` (hyperopt compatibility)."""
    return suggest(new_ids, domain, trials, seed)
