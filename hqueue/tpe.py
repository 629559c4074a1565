"""``hqueue.tpe``: hyperopt's ``tpe`` module path: ``suggest`` and the names code written for
hyperopt imports from it.

``suggest`` is hqueue's sampler (:mod:`hqueue.algos.tpe`). The mixture and Parzen helpers
(``GMM1``, ``adaptive_parzen_normal``, ``ap_split_trials``, ``adaptive_parzen_samplers``, ...)
are reference implementations with hyperopt's signatures and semantics
(:mod:`hqueue.pyll.mixtures`, :mod:`hqueue.pyll.parzen`); the sampler does not use them.
``build_posterior`` (hyperopt's graph rewrite of a whole space) is not provided.

Example:
    >>> from hqueue import tpe
    >>> callable(tpe.suggest), tpe._default_gamma
    (True, 'auto')
"""

from __future__ import annotations

from .algos.tpe import HYPEROPT_SETTINGS, suggest
from .algos.tpe.sampler import (
    _default_gamma,
    _default_linear_forgetting,
    _default_n_EI_candidates,
    _default_n_startup_jobs,
    _default_prior_weight,
)
from .pyll.mixtures import (
    EPS,
    GMM1,
    LGMM1,
    GMM1_lpdf,
    LGMM1_lpdf,
    categorical_lpdf,
    lognormal_cdf,
    lognormal_lpdf,
    logsum_rows,
    normal_cdf,
    qlognormal_lpdf,
    randint_via_categorical_lpdf,
)
from .pyll.parzen import (
    DEFAULT_LF,
    adaptive_parzen_normal,
    adaptive_parzen_normal_orig,
    adaptive_parzen_samplers,
    ap_split_trials,
    broadcast_best,
    linear_forgetting_weights,
    tpe_cat_pseudocounts,
)

__all__ = [
    "DEFAULT_LF", "EPS", "GMM1", "GMM1_lpdf", "HYPEROPT_SETTINGS", "LGMM1", "LGMM1_lpdf",
    "_default_gamma", "_default_linear_forgetting", "_default_n_EI_candidates",
    "_default_n_startup_jobs", "_default_prior_weight", "adaptive_parzen_normal",
    "adaptive_parzen_normal_orig", "adaptive_parzen_samplers", "ap_split_trials",
    "broadcast_best", "categorical_lpdf", "linear_forgetting_weights", "logsum_rows",
    "lognormal_cdf", "lognormal_lpdf", "normal_cdf", "qlognormal_lpdf",
    "randint_via_categorical_lpdf", "suggest", "tpe_cat_pseudocounts",
]
