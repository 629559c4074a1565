"""``hqueue.criteria``: acquisition criteria for a Gaussian prediction (hyperopt's module).

Expected improvement (EI) here is of a variable *above* a threshold, as in hyperopt:
``E[max(X - thresh, 0)]`` for ``X ~ N(mean, var)``.

Example:
    >>> round(float(EI_gaussian(0.0, 1.0, 0.0)), 4)  # 1 / sqrt(2 pi)
    0.3989
    >>> float(UCB(1.0, 4.0, 1.0))
    3.0
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import log_ndtr, ndtr
from scipy.stats import norm


def EI_empirical(samples: Any, thresh: float) -> float:  # noqa: N802
    """Expected improvement over ``thresh`` estimated from ``samples``."""
    return float(np.maximum(np.asarray(samples) - thresh, 0).mean())


def EI_gaussian_empirical(mean: float, var: float, thresh: float,  # noqa: N802
                          rng: np.random.Generator, N: int) -> float:  # noqa: N803
    """:func:`EI_empirical` over ``N`` draws of ``N(mean, var)`` from ``rng``."""
    return EI_empirical(rng.standard_normal(N) * np.sqrt(var) + mean, thresh)


def EI_gaussian(mean: Any, var: Any, thresh: Any) -> Any:  # noqa: N802
    """Expected improvement of ``N(mean, var)`` over ``thresh``, in closed form."""
    sigma = np.sqrt(var)
    z = (mean - thresh) / sigma
    return sigma * (z * ndtr(z) + norm.pdf(z))


def logEI_gaussian(mean: Any, var: Any, thresh: Any) -> Any:  # noqa: N802
    """``log(EI_gaussian(mean, var, thresh))``, finite far below the mean's tail too.

    For ``z = (mean - thresh) / sigma < 0`` it uses
    ``log EI = log sigma + log pdf(z) + log1p(z * cdf(z) / pdf(z))`` with the ratio taken in
    log space, which stays finite where ``cdf(z)`` underflows; ``-inf`` where even that fails.
    """
    var = np.asarray(var, dtype=float)
    if var.min() < 0:
        raise ValueError("logEI_gaussian: var must be >= 0")
    sigma = np.sqrt(var)
    z = np.asarray((np.asarray(mean, dtype=float) - thresh) / sigma, dtype=float)
    with np.errstate(all="ignore"):
        zneg = np.minimum(z, -1e-300)
        ratio = np.exp(np.log(-zneg) + log_ndtr(zneg) - norm.logpdf(zneg))
        low = np.log(sigma) + norm.logpdf(z) + np.log1p(-ratio)
        high = np.log(sigma) + np.log(z * ndtr(z) + norm.pdf(z))
        rval = np.where(z < 0, low, high)
    rval = np.where(np.isfinite(rval), rval, -np.inf)
    return float(rval) if rval.ndim == 0 else rval


def UCB(mean: Any, var: Any, zscore: float) -> Any:  # noqa: N802
    """Upper confidence bound ``mean + zscore * sqrt(var)``."""
    return mean + np.sqrt(var) * zscore


__all__ = ["EI_empirical", "EI_gaussian", "EI_gaussian_empirical", "UCB", "logEI_gaussian"]
