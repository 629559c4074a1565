"""``hqueue.sklearn.HyperoptSearchCV`` (hyperopt.sklearn): fits, scores, warm starts."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_diabetes, load_iris  # noqa: E402
from sklearn.linear_model import Ridge, RidgeClassifier  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402

from hqueue import hp, rand  # noqa: E402
from hqueue.base import Trials  # noqa: E402
from hqueue.sklearn import HyperoptSearchCV  # noqa: E402

SPACE = {"alpha": hp.loguniform("alpha", np.log(1e-3), np.log(1e3))}


def test_classifier_search_scores_match_cross_validation() -> None:
    X, y = load_iris(return_X_y=True)
    search = HyperoptSearchCV(RidgeClassifier(), SPACE, max_evals=6, cv=3,
                              random_state=0).fit(X, y)
    assert len(search.trials_.trials) == 6
    assert len(search.cv_results_["params"]) == 6
    losses = search.trials_.losses()
    # each trial's loss is minus the mean CV score of its candidate
    np.testing.assert_allclose(losses, -np.asarray(search.cv_results_["mean_test_score"]))
    assert search.best_score_ == pytest.approx(-min(losses))
    alpha = search.best_params_["alpha"]
    direct = cross_val_score(RidgeClassifier(alpha=alpha), X, y, cv=3).mean()
    assert search.best_score_ == pytest.approx(direct)
    assert search.best_estimator_.alpha == alpha
    assert search.score(X, y) > 0.7
    assert set(search.predict(X)) <= set(y)


def test_regressor_search_finds_a_good_alpha_and_is_seeded() -> None:
    X, y = load_diabetes(return_X_y=True)

    def run() -> HyperoptSearchCV:
        return HyperoptSearchCV(Ridge(), SPACE, max_evals=12, algo=rand.suggest,
                                scoring="r2", random_state=3).fit(X, y)

    first, second = run(), run()
    assert first.best_params_ == second.best_params_
    assert first.best_score_ > 0.4  # Ridge on diabetes: r2 about 0.46 for small alpha


def test_warm_start_adds_to_the_given_trials() -> None:
    X, y = load_iris(return_X_y=True)
    trials = Trials()
    search = HyperoptSearchCV(RidgeClassifier(), SPACE, max_evals=3, trials=trials,
                              warm_start=True, cv=3, random_state=1).fit(X, y)
    assert search.trials_ is trials and len(trials.trials) == 3
    search.set_params(max_evals=5).fit(X, y)
    assert len(trials.trials) == 5
    cold = HyperoptSearchCV(RidgeClassifier(), SPACE, max_evals=2, trials=trials, cv=3,
                            random_state=1).fit(X, y)
    assert cold.trials_ is not trials and len(cold.trials_.trials) == 2


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"random_state": 0.5}, "random_state"),
    ({"refit": "accuracy"}, "refit is expected to be a boolean"),
    ({"scoring": ["accuracy"]}, "scoring parameter must be"),
])
def test_bad_arguments(kwargs: dict, message: str) -> None:
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=message):
        HyperoptSearchCV(RidgeClassifier(), SPACE, max_evals=2, cv=3, **kwargs).fit(X, y)


def test_one_class_is_rejected() -> None:
    X, _ = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="only one class"):
        HyperoptSearchCV(RidgeClassifier(), SPACE, max_evals=2).fit(X, np.zeros(len(X)))


@pytest.mark.hqueue_only
def test_import_hqueue_does_not_import_sklearn() -> None:
    code = "import sys, hqueue; assert 'sklearn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
