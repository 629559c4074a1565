"""Mixture of search algorithms: each suggestion comes from one algorithm picked at random.

Example:
    >>> from functools import partial
    >>> from hqueue import mix, rand, tpe
    >>> algo = partial(mix.suggest, p_suggest=[(0.2, rand.suggest), (0.8, tpe.suggest)])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..exceptions import BadArgument

if TYPE_CHECKING:
    from ..domain import Domain
    from ..trials import Trials


def suggest(new_ids: Sequence[int], domain: Domain, trials: Trials, seed: int,
            p_suggest: Sequence[tuple[float, Callable]]) -> Any:
    """Delegate to one of ``p_suggest``'s algorithms, chosen with its probability."""
    if not p_suggest:
        raise BadArgument("mix.suggest needs p_suggest=[(probability, algo), ...]")
    ps, algos = zip(*p_suggest)
    if not np.isclose(sum(ps), 1.0):
        raise BadArgument(f"mix.suggest probabilities must sum to 1, got {ps}")
    rng = np.random.default_rng(seed)
    idx = int(rng.choice(len(ps), p=np.asarray(ps, float) / sum(ps)))
    return algos[idx](new_ids, domain, trials, seed=int(rng.integers(2**31 - 1)))
