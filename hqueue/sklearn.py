"""scikit-learn integration (``hyperopt.sklearn``): :class:`HyperoptSearchCV`.

A ``BaseSearchCV`` estimator whose candidates come from :func:`hqueue.fmin` over a search
space: each candidate is scored by cross-validation and ``fmin`` minimizes the negated mean
test score. Needs scikit-learn (``pip install scikit-learn``); ``import hqueue`` does not
import it.

Example:
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import RidgeClassifier
    >>> from hqueue import hp
    >>> X, y = load_iris(return_X_y=True)
    >>> search = HyperoptSearchCV(RidgeClassifier(), {"alpha": hp.loguniform("alpha", -3, 3)},
    ...                           max_evals=5, cv=3, random_state=0).fit(X, y)
    >>> len(search.trials_.trials), sorted(search.best_params_)
    (5, ['alpha'])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

try:
    from sklearn.base import is_classifier
    from sklearn.model_selection._search import BaseSearchCV
    from sklearn.utils.multiclass import check_classification_targets, unique_labels
    from sklearn.utils.validation import check_array
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("hqueue.sklearn needs scikit-learn: pip install scikit-learn") from exc

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    def _validate_data(estimator: Any, **kwargs: Any) -> Any:
        return estimator._validate_data(**kwargs)

from .base import STATUS_OK
from .fmin import fmin
from .trials import Trials

__all__ = ["HyperoptSearchCV"]


def _as_generator(random_state: Any) -> np.random.Generator | None:
    """``fmin``'s ``rstate`` from an int seed, a Generator or None."""
    if random_state is None or isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return np.random.default_rng(int(random_state))
    raise ValueError("Please supply a `numpy.random.Generator` or integer for `random_state`.")


class HyperoptSearchCV(BaseSearchCV):
    """Hyper-parameter search with ``fmin`` and cross-validation (hyperopt 0.3.0's signature).

    Args:
        estimator: a scikit-learn estimator; each candidate is ``clone(estimator)`` with the
            sampled parameters set.
        space: search space whose samples are dicts of estimator parameters.
        max_evals: number of candidates in the trials object after ``fit``.
        trials: a ``Trials`` to fill (used only with ``warm_start=True``).
        algo: suggestion algorithm (``tpe.suggest``, ``rand.suggest``, ...); None: fmin's default.
        warm_start: keep the previous ``fit``'s trials and add to them up to ``max_evals``.
        scoring, n_jobs, refit, cv, verbose, pre_dispatch, error_score, return_train_score: as
            in ``sklearn.model_selection.GridSearchCV`` (one metric only).
        random_state: int seed or ``numpy.random.Generator`` for the search.

    Attributes (after ``fit``): ``trials_``, ``best_params_``, ``best_score_``,
    ``best_estimator_`` (with ``refit``), ``cv_results_`` (one row per candidate).

    Example:
        >>> from sklearn.linear_model import Ridge
        >>> from hqueue import hp
        >>> search = HyperoptSearchCV(Ridge(), {"alpha": hp.uniform("alpha", 0, 1)}, max_evals=10)
        >>> search.get_params()["max_evals"], search.warm_start
        (10, False)
    """

    _required_parameters = ["estimator", "space", "max_evals"]

    def __init__(
        self,
        estimator: Any,
        space: Any,
        max_evals: int,
        trials: Trials | None = None,
        algo: Callable | None = None,
        warm_start: bool = False,
        scoring: str | Callable | None = None,
        n_jobs: int | None = None,
        refit: bool = True,
        cv: Any = None,
        verbose: int = 0,
        pre_dispatch: int | str = "2*n_jobs",
        random_state: int | np.random.Generator | None = None,
        error_score: Any = np.nan,
        return_train_score: bool = False,
    ) -> None:
        super().__init__(estimator=estimator, scoring=scoring, n_jobs=n_jobs, refit=refit,
                         cv=cv, verbose=verbose, pre_dispatch=pre_dispatch,
                         error_score=error_score, return_train_score=return_train_score)
        self.space = space
        self.max_evals = max_evals
        self.trials = trials
        self.algo = algo
        self.warm_start = warm_start
        self.random_state = random_state

    def _check_inputs(self, X: Any, y: Any) -> None:
        """Reject what cross-validation would choke on, with scikit-learn's messages."""
        if self.scoring is not None and not (isinstance(self.scoring, str)
                                             or callable(self.scoring)):
            raise ValueError("scoring parameter must be a string, a callable or None. "
                             "Multimetric scoring is not supported.")
        check_array(X, accept_sparse=True)
        if y is not None:
            if is_classifier(self.estimator):
                y = _validate_data(self, X="no_validation", y=y, multi_output=True)
                check_classification_targets(y)
                if len(unique_labels(y)) < 2:
                    raise ValueError("Classifier can't train when only one class is present.")
            else:
                _validate_data(self, X="no_validation", y=y)
        if not isinstance(self.refit, bool):
            raise ValueError(f"refit is expected to be a boolean. Got {type(self.refit)} "
                             "instead.")

    def fit(self, X: Any, y: Any = None, groups: Any = None, **fit_params: Any
            ) -> HyperoptSearchCV:
        """Search the space with cross-validation, then refit the best (``refit=True``).

        Example:
            >>> from sklearn.datasets import load_diabetes
            >>> from sklearn.linear_model import Ridge
            >>> from hqueue import hp
            >>> X, y = load_diabetes(return_X_y=True)
            >>> s = HyperoptSearchCV(Ridge(), {"alpha": hp.uniform("alpha", 0, 1)},
            ...                      max_evals=3, random_state=1).fit(X, y)
            >>> len(s.cv_results_["params"])
            3
        """
        self._check_inputs(X, y)
        super().fit(X, y=y, groups=groups, **fit_params)
        return self

    def _run_search(self, evaluate_candidates: Callable) -> None:
        """Let ``fmin`` propose candidates; ``evaluate_candidates`` scores each one."""

        def objective(params: dict) -> dict:
            results = evaluate_candidates([params])
            return {"loss": -float(results["mean_test_score"][-1]), "params": params,
                    "status": STATUS_OK}

        if not self.warm_start or not hasattr(self, "trials_"):
            use_given = self.warm_start and self.trials is not None
            self.trials_ = self.trials if use_given else Trials()
        fmin(objective, space=self.space, algo=self.algo, max_evals=self.max_evals,
             rstate=_as_generator(self.random_state), trials=self.trials_,
             show_progressbar=False)
