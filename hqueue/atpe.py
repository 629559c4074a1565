"""``hqueue.atpe``: hyperopt's adaptive TPE is not provided; ``suggest`` says what to use.

hyperopt's ATPE tunes TPE's own settings with pre-trained LightGBM models. hqueue does not ship
it: :func:`hqueue.tpe.suggest` (whose defaults were chosen by measurement, see
``benchmarks/results/quality.md``) is the algorithm to use.

Example:
    >>> from hqueue import atpe
    >>> try:
    ...     atpe.suggest([0], None, None, 0)
    ... except NotImplementedError as e:
    ...     print(str(e)[:60])
    hqueue.atpe.suggest (hyperopt's adaptive TPE) is not provide
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .exceptions import NotProvided

if TYPE_CHECKING:
    from .domain import Domain
    from .trials import Trials


def suggest(new_ids: Any, domain: Domain, trials: Trials, seed: Any, *args: Any,
            **kwargs: Any) -> list[dict]:
    """Raise :class:`~hqueue.exceptions.NotProvided`: adaptive TPE is not part of hqueue."""
    raise NotProvided(
        "hqueue.atpe.suggest (hyperopt's adaptive TPE) is not provided; use "
        "algo=hqueue.tpe.suggest (or hqueue.anneal.suggest, hqueue.rand.suggest)"
    )


__all__ = ["suggest"]
