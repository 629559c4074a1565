"""``hqueue.plotting``: what each plot draws, on real Trials, with the Agg backend."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import hqueue
from hqueue import hp, plotting, rand
from hqueue.states import JOB_STATE_DONE, STATUS_FAIL, STATUS_OK

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg", force=True)
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

FAILED = object()


def make_trials(rows: list[tuple[object, dict]]) -> hqueue.Trials:
    """Finished trials from ``(loss, {label: value})`` rows.

    ``loss`` is a number, None, or FAILED (a STATUS_FAIL result without a loss). Labels missing
    from a row's dict are inactive in that trial; a label that a row maps to ``...`` is left out
    of that trial's ``misc`` altogether (a document written by older code).
    """
    trials = hqueue.Trials()
    labels = sorted({label for _, values in rows for label in values})
    tids = trials.new_trial_ids(len(rows))
    results, miscs = [], []
    for tid, (loss, values) in zip(tids, rows):
        if loss is FAILED:
            results.append({"status": STATUS_FAIL})
        else:
            results.append({"status": STATUS_OK if loss is not None else STATUS_FAIL, "loss": loss})
        idxs, vals = {}, {}
        for label in labels:
            if values.get(label) is ...:
                continue
            active = label in values
            idxs[label] = [tid] if active else []
            vals[label] = [values[label]] if active else []
        miscs.append({"tid": tid, "cmd": None, "workdir": None, "idxs": idxs, "vals": vals})
    docs = trials.new_trial_docs(tids, [None] * len(rows), results, miscs)
    for doc in docs:
        doc["state"] = JOB_STATE_DONE
    trials.insert_trial_docs(docs)
    trials.refresh()
    return trials


@pytest.fixture(autouse=True)
def fresh_figure():
    plt.close("all")
    fig = plt.figure()
    yield fig
    plt.close("all")


@pytest.fixture
def no_show(monkeypatch: pytest.MonkeyPatch) -> list:
    calls: list = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: calls.append(1))
    return calls


def scatter_sizes(ax) -> list[int]:
    return [len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection)]


def assert_png(fig: Figure, tmp_path: Path) -> None:
    path = tmp_path / "plot.png"
    fig.savefig(path)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 1000


LOSSES = [3.0, 5.0, 2.0, FAILED, 4.0, 1.0, 1.5]


# -- main_plot_history -----------------------------------------------------------------------
def test_history_scatters_losses_and_draws_best_so_far(tmp_path, no_show) -> None:
    trials = make_trials([(y, {"x": 0.1}) for y in LOSSES])
    fig = plotting.main_plot_history(trials, do_show=False)
    assert isinstance(fig, Figure) and no_show == []
    (ax,) = fig.axes
    assert scatter_sizes(ax) == [6]  # the failed trial has no loss: not drawn
    assert ax.get_title() == "Loss History"
    assert ax.get_xlabel() == "time" and ax.get_ylabel() == "loss"
    best_line = next(line for line in ax.lines if line.get_label() == "best so far")
    best = np.asarray(best_line.get_ydata(), dtype=float)
    assert list(best) == [3.0, 3.0, 2.0, 2.0, 1.0, 1.0]
    assert np.all(np.diff(best) <= 0)
    avg = next(line for line in ax.lines if line.get_label() == "avg best error")
    assert list(avg.get_ydata()) == [1.0, 1.0]  # trials.average_best_error()
    assert_png(fig, tmp_path)


def test_history_colours_points_by_status(no_show) -> None:
    trials = make_trials([(1.0, {"x": 0.0}), (None, {"x": 0.0}), (2.0, {"x": 0.0})])
    trials.trials[1]["result"]["loss"] = 9.0  # a failed trial that reported a loss
    fig = plotting.main_plot_history(
        trials, do_show=False, status_colors={"ok": "b", "fail": "r"}, title="T"
    )
    (ax,) = fig.axes
    (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    colors = points.get_facecolors()
    assert [tuple(c) for c in colors] == [matplotlib.colors.to_rgba(c) for c in "brb"]
    assert ax.get_title() == "T"


def test_history_draws_on_the_current_axes(no_show) -> None:
    fig = plt.gcf()
    left = plt.subplot(1, 2, 1)
    right = plt.subplot(1, 2, 2)
    plotting.main_plot_history(make_trials([(1.0, {"x": 0.0})]), do_show=False)
    assert scatter_sizes(right) == [1] and scatter_sizes(left) == []
    assert len(fig.axes) == 2


def test_history_shows_only_when_asked(no_show) -> None:
    plotting.main_plot_history(make_trials([(1.0, {"x": 0.0})]))
    assert no_show == [1]


def test_history_without_ok_trials_skips_the_best_lines(no_show) -> None:
    trials = make_trials([(None, {"x": 0.0}), (None, {"x": 0.0})])
    for doc in trials.trials:
        doc["result"]["loss"] = 1.0  # failed trials that reported a loss
    (ax,) = plotting.main_plot_history(trials, do_show=False).axes
    assert scatter_sizes(ax) == [2] and len(ax.lines) == 0


@pytest.mark.parametrize(
    "fn", [plotting.main_plot_history, plotting.main_plot_histogram, plotting.main_plot_vars]
)
def test_empty_or_all_failed_trials_raise_a_clear_error(fn, no_show) -> None:
    with pytest.raises(ValueError, match="empty"):
        fn(hqueue.Trials(), do_show=False)
    with pytest.raises(ValueError, match="2 fail"):
        fn(make_trials([(FAILED, {"x": 0.0}), (None, {"x": 1.0})]), do_show=False)
    with pytest.raises(hqueue.HqueueError):
        fn(hqueue.Trials(), do_show=False)


# -- main_plot_histogram ---------------------------------------------------------------------
def test_histogram_counts_every_finite_loss(tmp_path, no_show) -> None:
    trials = make_trials([(y, {"x": 0.0}) for y in [*LOSSES, float("inf"), None]])
    fig = plotting.main_plot_histogram(trials, do_show=False)
    (ax,) = fig.axes
    assert sum(p.get_height() for p in ax.patches) == 6
    assert ax.get_title() == "Loss Histogram" and ax.get_xlabel() == "loss"
    assert no_show == []
    assert_png(fig, tmp_path)


# -- main_plot_vars --------------------------------------------------------------------------
@pytest.fixture
def conditional_trials() -> hqueue.Trials:
    # "model" is a choice (index); "C" only under model 0, "depth" only under model 1;
    # "lr_log" everywhere; "extra" is missing from the misc of most documents.
    return make_trials(
        [
            (3.0, {"model": 0, "C": 1.0, "lr_log": 0.1, "extra": ...}),
            (2.0, {"model": 1, "depth": 3, "lr_log": 0.01, "extra": ...}),
            (FAILED, {"model": 0, "C": 5.0, "lr_log": 0.5, "extra": ...}),
            (1.0, {"model": 1, "depth": 5, "lr_log": 0.001, "extra": 7.0}),
            (4.0, {"model": 0, "C": 2.0, "lr_log": 0.2, "extra": ...}),
        ]
    )


def test_vars_one_subplot_per_label_with_active_trials(
    conditional_trials, tmp_path, no_show
) -> None:
    fig = plotting.main_plot_vars(conditional_trials, do_show=False, fontsize=8)
    assert isinstance(fig, Figure) and no_show == []
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["C", "depth", "extra", "lr_log", "model"]
    by_title = dict(zip(titles, fig.axes))
    # scored points, then the failed trial (red crosses) where the label was active
    assert scatter_sizes(by_title["C"]) == [2, 1]
    assert scatter_sizes(by_title["depth"]) == [2]
    assert scatter_sizes(by_title["extra"]) == [1]
    assert scatter_sizes(by_title["lr_log"]) == [4, 1]
    assert scatter_sizes(by_title["model"]) == [4, 1]
    c_points = by_title["C"].collections[0].get_offsets()
    assert [tuple(p) for p in c_points] == [(0, 1.0), (4, 2.0)]  # x = tid, y = value
    assert by_title["C"].title.get_fontsize() == 8
    assert_png(fig, tmp_path)


def test_vars_choice_gets_integer_ticks_and_log_label_a_log_axis(
    conditional_trials, no_show
) -> None:
    fig = plotting.main_plot_vars(conditional_trials, do_show=False)
    by_title = {ax.get_title(): ax for ax in fig.axes}
    fig.canvas.draw()
    ticks = by_title["model"].get_yticks()
    assert np.all(ticks == np.round(ticks))
    assert by_title["lr_log"].get_yscale() == "log"
    assert by_title["C"].get_yscale() == "linear"


def test_vars_grid_uses_columns(conditional_trials, no_show) -> None:
    fig = plotting.main_plot_vars(conditional_trials, do_show=False, columns=2)
    shapes = {ax.get_subplotspec().get_gridspec().get_geometry() for ax in fig.axes}
    assert shapes == {(3, 2)}


def test_vars_arrange_by_loss_puts_loss_on_x(conditional_trials, no_show) -> None:
    fig = plotting.main_plot_vars(conditional_trials, do_show=False, arrange_by_loss=True)
    by_title = {ax.get_title(): ax for ax in fig.axes}
    assert scatter_sizes(by_title["lr_log"]) == [4]  # the failed trial has no x
    xs = sorted(by_title["lr_log"].collections[0].get_offsets()[:, 0])
    assert xs == [1.0, 2.0, 3.0, 4.0]


def test_vars_colorize_best_highlights_that_many_trials(conditional_trials, no_show) -> None:
    fig = plotting.main_plot_vars(conditional_trials, do_show=False, colorize_best=2)
    ax = {ax.get_title(): ax for ax in fig.axes}["lr_log"]
    colors = ax.collections[0].get_facecolors()
    green = [c for c in colors if c[1] > 0 and c[0] == 0 and c[2] == 0]
    assert len(green) == 2


def test_vars_label_never_active_gets_an_empty_subplot(no_show) -> None:
    trials = make_trials([(1.0, {"x": 0.5}), (2.0, {"x": 0.7})])
    for doc in trials.trials:
        doc["misc"]["idxs"]["unused"] = []
        doc["misc"]["vals"]["unused"] = []
    fig = plotting.main_plot_vars(trials, do_show=False)
    by_title = {ax.get_title(): ax for ax in fig.axes}
    assert scatter_sizes(by_title["unused"]) == []
    assert scatter_sizes(by_title["x"]) == [2]


# -- with trials filled by fmin ------------------------------------------------------------
def test_all_plots_on_an_fmin_search(tmp_path, no_show) -> None:
    space = hp.choice(
        "model", [{"C": hp.uniform("C", 0, 10)}, {"depth": hp.randint("depth", 1, 8)}]
    )

    def objective(p):
        if p.get("C", 0) > 8:
            return {"status": STATUS_FAIL}
        return {"status": STATUS_OK, "loss": p.get("C", 0) + p.get("depth", 0)}

    trials = hqueue.Trials()
    hqueue.fmin(
        objective,
        space,
        algo=rand.suggest,
        max_evals=30,
        trials=trials,
        rstate=np.random.default_rng(0),
        show_progressbar=False,
    )
    n_loss = sum(y is not None for y in trials.losses())
    idxs, _ = trials.idxs_vals
    for fn in (plotting.main_plot_history, plotting.main_plot_histogram, plotting.main_plot_vars):
        plt.close("all")
        fig = fn(trials, do_show=False)
        assert_png(fig, tmp_path)
        if fn is plotting.main_plot_history:
            assert scatter_sizes(fig.axes[0]) == [n_loss]
        if fn is plotting.main_plot_vars:
            assert [ax.get_title() for ax in fig.axes] == ["C", "depth", "model"]
            assert [sum(scatter_sizes(ax)) for ax in fig.axes] == [
                len(idxs["C"]),
                len(idxs["depth"]),
                len(idxs["model"]),
            ]
    assert no_show == []


def test_accepts_hyperopt_trials_when_available(no_show) -> None:
    hyperopt = pytest.importorskip("hyperopt")
    trials = hyperopt.Trials()
    hyperopt.fmin(
        lambda x: x**2,
        hyperopt.hp.uniform("x", -1, 1),
        algo=hyperopt.rand.suggest,
        max_evals=10,
        trials=trials,
        rstate=np.random.default_rng(0),
        show_progressbar=False,
    )
    assert scatter_sizes(plotting.main_plot_history(trials, do_show=False).axes[0]) == [10]
    plt.close("all")
    assert scatter_sizes(plotting.main_plot_vars(trials, do_show=False).axes[0]) == [10]


def test_missing_matplotlib_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install 'hqueue\[plot\]'"):
        plotting.main_plot_history(make_trials([(1.0, {"x": 0.0})]), do_show=False)
