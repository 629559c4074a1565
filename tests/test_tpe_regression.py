"""TPE suggestions pinned: speed work on the sampler must not change what it suggests.

``tests/data/tpe_regression.json`` holds the suggestions (every label's value, in trial-document
form) of ``tpe.suggest`` for fixed seeds on a 10-parameter mixed space and on a conditional
(tree-structured) space, at several history sizes, with the default settings and with
``tpe.HYPEROPT_SETTINGS`` (and a few other switches), with and without pending trials (the
constant liar, also within one batch of new ids), plus serial searches driven as ``fmin``
drives them (which exercise the history's incremental state between calls). Chosen options
must match exactly and floats to 1e-9 relative.

Record anew (only when a change of suggestions is intended, e.g. a new default)::

    .venv/bin/python tests/test_tpe_regression.py --record
"""

from __future__ import annotations

import json
import math
import sys
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hqueue import Trials, hp, rand, tpe
from hqueue.domain import Domain
from hqueue.states import JOB_STATE_DONE, STATUS_OK

DATA = Path(__file__).parent / "data" / "tpe_regression.json"
SIZES = (25, 100, 1000, 3000)
SEEDS = (0, 1, 2)
SETTINGS: dict[str, dict[str, Any]] = {
    "default": {},
    "hyperopt": dict(tpe.HYPEROPT_SETTINGS),
    "scott": {"bandwidth": "scott"},
    "previous_default": {"gamma": 0.25, "n_startup_jobs": 20, "ordinal": False},
    "hyperopt_fraction": {**tpe.HYPEROPT_SETTINGS, "gamma": None, "linear_forgetting": None},
}
N_PENDING = 5
BATCH = 3
SERIAL_EVALS = 70


def mixed_space() -> dict[str, Any]:
    """4 uniform, 2 loguniform, quniform, qloguniform, 2 choice (the benchmarks' mixed10)."""
    space: dict[str, Any] = {f"u{i}": hp.uniform(f"u{i}", -5.0, 5.0) for i in range(4)}
    space["l0"] = hp.loguniform("l0", math.log(1e-4), math.log(1.0))
    space["l1"] = hp.loguniform("l1", math.log(1e-2), math.log(1e2))
    space["q0"] = hp.quniform("q0", 0, 20, 1)
    space["ql0"] = hp.qloguniform("ql0", math.log(1), math.log(1000), 1)
    space["act"] = hp.choice("act", ["relu", "tanh", "gelu"])
    space["width"] = hp.choice("width", [1, 2, 4, 8])
    return space


def mixed_loss(vals: dict[str, Any]) -> float:
    u = sum((vals[f"u{i}"] - (1.5, -2.0, 0.5, 3.0)[i]) ** 2 for i in range(4)) / 10
    return (u + (math.log10(vals["l0"]) + 2.5) ** 2 + 0.5 * math.log10(vals["l1"]) ** 2
            + ((vals["q0"] - 7) / 5) ** 2 + 0.3 * (math.log10(max(vals["ql0"], 1)) - 2) ** 2
            + 0.1 * vals["act"] + 0.05 * abs(vals["width"] - 2))


def conditional_space() -> dict[str, Any]:
    log = math.log
    kernel = hp.choice("svm_kernel", [
        {"name": "rbf", "gamma": hp.loguniform("svm_gamma", log(1e-4), log(10.0))},
        {"name": "poly", "degree": hp.quniform("svm_degree", 2, 5, 1)},
    ])
    return {"model": hp.choice("model", [
        {"type": "linear", "alpha": hp.loguniform("linear_alpha", log(1e-6), log(10.0))},
        {"type": "tree", "depth": hp.quniform("tree_depth", 1, 12, 1),
         "min_leaf": hp.qloguniform("tree_min_leaf", log(1), log(100), 1)},
        {"type": "svm", "C": hp.loguniform("svm_C", log(1e-3), log(1e3)), "kernel": kernel},
        {"type": "const", "shared": hp.uniform("shared", -1, 1)},
    ]), "lr": hp.loguniform("lr", log(1e-5), log(1.0))}


def conditional_loss(vals: dict[str, Any]) -> float:
    m = vals["model"]
    base = 0.1 * (math.log10(vals["lr"]) + 3) ** 2
    if m == 0:
        return base + 0.3 + 0.01 * (math.log10(vals["linear_alpha"]) + 2) ** 2
    if m == 1:
        return (base + 0.2 + 0.01 * (vals["tree_depth"] - 7) ** 2
                + 0.05 * (math.log10(max(vals["tree_min_leaf"], 1)) - 1) ** 2)
    if m == 2:
        extra = ((math.log10(vals["svm_gamma"]) + 1) ** 2 if vals["svm_kernel"] == 0
                 else 0.1 * abs(vals["svm_degree"] - 3))
        return base + 0.05 * (math.log10(vals["svm_C"]) - 1) ** 2 + 0.1 * extra
    return base + 0.5 + vals["shared"] ** 2


SPACES = {"mixed": (mixed_space, mixed_loss), "conditional": (conditional_space, conditional_loss)}


def _flat(doc: dict) -> dict[str, Any]:
    return {k: v[0] for k, v in doc["misc"]["vals"].items() if v}


def history_trials(space_name: str, size: int, n_pending: int) -> tuple[Domain, Trials]:
    """``size`` finished trials drawn by ``rand.suggest`` (deterministic losses, one in 17
    failed), plus ``n_pending`` queued ones."""
    make, loss = SPACES[space_name]
    domain = Domain(lambda c: 0.0, make())
    trials = Trials()
    docs = rand.suggest(trials.new_trial_ids(size + n_pending), domain, trials, 12345)
    for i, doc in enumerate(docs[:size]):
        doc["state"] = JOB_STATE_DONE
        doc["result"] = ({"status": "fail"} if i % 17 == 16
                         else {"status": STATUS_OK, "loss": loss(_flat(doc))})
    trials.insert_trial_docs(docs)
    trials.refresh()
    return domain, trials


def suggestions(space_name: str, size: int, settings: str, pending: bool) -> list:
    domain, trials = history_trials(space_name, size, N_PENDING if pending else 0)
    algo = partial(tpe.suggest, **SETTINGS[settings])
    out = []
    for seed in SEEDS:
        ids = trials.new_trial_ids(BATCH if pending else 1)
        out.append([doc["misc"]["vals"] for doc in algo(ids, domain, trials, seed)])
    return out


def serial_run(space_name: str, settings: str, seed: int) -> list:
    """A serial search as ``fmin`` drives it (one new trial per call, the history growing
    incrementally, rebuilt from scratch every 25 trials)."""
    make, loss = SPACES[space_name]
    domain = Domain(lambda c: 0.0, make())
    trials = Trials()
    rng = np.random.default_rng(seed)
    algo = partial(tpe.suggest, **{"n_startup_jobs": 10, **SETTINGS[settings]})
    for i in range(SERIAL_EVALS):
        docs = algo(trials.new_trial_ids(1), domain, trials, int(rng.integers(2**31 - 1)))
        for doc in docs:
            doc["state"] = JOB_STATE_DONE
            doc["result"] = {"status": STATUS_OK, "loss": loss(_flat(doc))}
        trials.insert_trial_docs(docs)
        if i % 25 == 24:
            trials.refresh()
    return [t["misc"]["vals"] for t in trials.trials]


def cases() -> list[tuple[str, ...]]:
    out = []
    for space_name in SPACES:
        for size in SIZES:
            for settings in SETTINGS:
                for pending in (False, True):
                    out.append(("history", space_name, str(size), settings, str(pending)))
        for settings in ("default", "hyperopt"):
            for seed in (0, 1):
                out.append(("serial", space_name, settings, str(seed)))
    return out


def run_case(case: tuple[str, ...]) -> list:
    if case[0] == "history":
        _, space_name, size, settings, pending = case
        return suggestions(space_name, int(size), settings, pending == "True")
    _, space_name, settings, seed = case
    return serial_run(space_name, settings, int(seed))


def _mismatches(expected: Any, got: Any, path: str = "") -> list[str]:
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(expected) != set(got):
            return [f"{path}: labels {sorted(expected)} != {sorted(got or {})}"]
        return [m for k in expected for m in _mismatches(expected[k], got[k], f"{path}.{k}")]
    if isinstance(expected, list):
        if not isinstance(got, list) or len(expected) != len(got):
            return [f"{path}: {expected!r} != {got!r}"]
        return [m for i, (e, g) in enumerate(zip(expected, got))
                for m in _mismatches(e, g, f"{path}[{i}]")]
    if isinstance(expected, float):
        ok = isinstance(got, float) and math.isclose(expected, got, rel_tol=1e-9, abs_tol=1e-12)
    else:
        ok = type(expected) is type(got) and expected == got
    return [] if ok else [f"{path}: {expected!r} != {got!r}"]


@pytest.fixture(scope="module")
def pinned() -> dict[str, Any]:
    return json.loads(DATA.read_text())


@pytest.mark.parametrize("case", cases(), ids=lambda c: "-".join(c))
def test_suggestions_match_the_pinned_ones(case, pinned):
    got = json.loads(json.dumps(run_case(case)))  # the stored form: tuples become lists
    bad = _mismatches(pinned["|".join(case)], got)
    assert not bad, f"{len(bad)} differences, first: {bad[:5]}"


def record() -> None:
    DATA.parent.mkdir(exist_ok=True)
    data = {"|".join(c): run_case(c) for c in cases()}
    DATA.write_text(json.dumps(data, indent=0, sort_keys=True) + "\n")
    print(f"wrote {len(data)} cases to {DATA}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--record"]:
        record()
    else:
        sys.exit("usage: test_tpe_regression.py --record")
