"""Statistics, tables and plots for the ``quality`` benchmark.

Regret at evaluation i is the noise-free value of the *incumbent* (the point with the best
observed loss among the first i evaluations) minus the known optimum. On noiseless problems this
is the usual best-so-far regret; on noisy ones it charges an optimiser for trusting lucky noise.
Problems flagged ``log_regret`` are scored as ``log10(regret)`` (floored at 1e-12) in means and
ranks; rank statistics and Mann-Whitney tests are unaffected by that monotone transform.

Example:
    >>> import numpy as np
    >>> incumbent_regret(np.array([3.0, 1.0, 2.0]), np.array([3.0, 1.5, 0.0]), 0.0).tolist()
    [3.0, 1.5, 1.5]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import report
from benchmarks.peers import AlgoSpec
from benchmarks.problems import get_problem

LOG_FLOOR = 1e-12
ALPHA = 0.05
REFERENCE_PEER = "hyperopt_tpe"


def incumbent_regret(observed: np.ndarray, clean: np.ndarray, optimum: float) -> np.ndarray:
    """Regret trace: clean value of the best-observed point so far, minus the optimum."""
    best_before = np.concatenate([[np.inf], np.minimum.accumulate(observed)[:-1]])
    improved = observed < best_before
    incumbent = np.maximum.accumulate(np.where(improved, np.arange(len(observed)), 0))
    return np.maximum(clean[incumbent] - optimum, 0.0)


@dataclass
class Analysis:
    """Regret traces per (algo, problem) as arrays (seeds x evaluations), plus run times."""

    specs: list[AlgoSpec]
    problems: list[str]
    budgets: list[int]
    traces: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    seeds: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    seconds: dict[str, list[float]] = field(default_factory=dict)
    lookup: Callable[[str], Any] = get_problem  # problem name -> problem
    reference: str = REFERENCE_PEER  # the peer the summary line checks losses against

    @property
    def algos(self) -> list[str]:
        """Algorithm names that have at least one run."""
        return [
            s.name for s in self.specs if any((s.name, p) in self.traces for p in self.problems)
        ]

    @property
    def contenders(self) -> list[str]:
        """hqueue TPE and its variants: each is tested against every peer."""
        return [
            s.name
            for s in self.specs
            if s.library == "hqueue" and s.method == "tpe" and s.name in self.algos
        ]

    @property
    def peers(self) -> list[str]:
        """Algorithms from other libraries."""
        return [s.name for s in self.specs if s.library != "hqueue" and s.name in self.algos]

    def scores(self, algo: str, problem: str, budget: int) -> np.ndarray:
        """Per-seed score at ``budget``: regret, or log10 regret for log-scaled problems."""
        regret = self.traces[algo, problem][:, budget - 1]
        if self.lookup(problem).log_regret:
            return np.log10(np.maximum(regret, LOG_FLOOR))
        return regret


def analyse(
    records: Sequence[dict[str, Any]],
    specs: Sequence[AlgoSpec],
    problems: Sequence[str],
    budgets: Sequence[int],
    lookup: Callable[[str], Any] = get_problem,
    reference: str = REFERENCE_PEER,
) -> Analysis:
    """Turn run records into regret traces truncated to the largest budget; ``lookup`` finds
    a problem by name, ``reference`` is the peer the summary lines compare against."""
    out = Analysis(list(specs), list(problems), list(budgets), lookup=lookup,
                   reference=reference)
    horizon = max(budgets)
    grouped: dict[tuple[str, str], list[tuple[int, np.ndarray]]] = {}
    for r in records:
        problem = lookup(r["problem"])
        obs = np.asarray(r["losses"][:horizon], dtype=float)
        clean = np.asarray(r["clean"][:horizon], dtype=float)
        trace = incumbent_regret(obs, clean, problem.optimum)
        grouped.setdefault((r["algo"], r["problem"]), []).append((r["seed"], trace))
        out.seconds.setdefault(r["algo"], []).append(float(r["seconds"]))
    for key, runs in grouped.items():
        runs.sort(key=lambda item: item[0])
        out.seeds[key] = [s for s, _ in runs]
        out.traces[key] = np.vstack([t for _, t in runs])
    return out


def mann_whitney(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """Two-sided p-value and direction: -1 if ``a`` tends lower (better), +1 higher, 0 equal."""
    from scipy.stats import mannwhitneyu

    if np.all(a == a[0]) and np.all(b == a[0]):
        return 1.0, 0
    res = mannwhitneyu(a, b, alternative="two-sided")
    p = float(res.pvalue) if not math.isnan(res.pvalue) else 1.0
    centre = len(a) * len(b) / 2.0
    return p, (0 if res.statistic == centre else (-1 if res.statistic < centre else 1))


def mean_ranks(an: Analysis, budget: int) -> dict[str, tuple[float, float]]:
    """Per algo: (mean over problems of the rank of its mean score, mean per-seed rank)."""
    from scipy.stats import rankdata

    algos = [a for a in an.algos if all((a, p) in an.traces for p in an.problems)]
    by_problem: dict[str, list[float]] = {a: [] for a in algos}
    by_seed: dict[str, list[float]] = {a: [] for a in algos}
    for p in an.problems:
        means = [float(np.mean(an.scores(a, p, budget))) for a in algos]
        for a, r in zip(algos, rankdata(means)):
            by_problem[a].append(float(r))
        common = set.intersection(*(set(an.seeds[a, p]) for a in algos)) if algos else set()
        for seed in sorted(common):
            vals = [an.scores(a, p, budget)[an.seeds[a, p].index(seed)] for a in algos]
            for a, r in zip(algos, rankdata(vals)):
                by_seed[a].append(float(r))
    return {
        a: (float(np.mean(by_problem[a])), float(np.mean(by_seed[a])) if by_seed[a] else math.nan)
        for a in algos
    }


def _regret_table(an: Analysis, budget: int) -> str:
    rows = []
    for p in an.problems:
        cells = {a: an.scores(a, p, budget) for a in an.algos if (a, p) in an.traces}
        best = min((float(np.mean(v)) for v in cells.values()), default=math.nan)
        row: list[Any] = [
            p + (" (log10)" if an.lookup(p).log_regret else ""),
            an.lookup(p).kind,
        ]
        for a in an.algos:
            v = cells.get(a)
            if v is None:
                row.append("-")
                continue
            se = float(np.std(v, ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan
            text = f"{np.mean(v):.3g} ± {se:.2g}"
            row.append(f"**{text}**" if float(np.mean(v)) == best else text)
        rows.append(row)
    return report.markdown_table(["problem", "kind", *an.algos], rows, left=2)


def _rank_table(an: Analysis, ranks: dict[str, tuple[float, float]]) -> str:
    rows = [
        [a, ranks[a][0], ranks[a][1], float(np.mean(an.seconds.get(a, [math.nan])))]
        for a in sorted(ranks, key=lambda a: ranks[a][0])
    ]
    return report.markdown_table(
        ["algorithm", "mean rank (problem means)", "mean rank (per seed)", "mean s/run"],
        rows,
        left=1,
    )


def _mwu_table(an: Analysis, contender: str, budget: int) -> tuple[str, dict[str, list[str]]]:
    """p-values of ``contender`` vs each peer per problem; also the problems it loses on."""
    worse: dict[str, list[str]] = {peer: [] for peer in an.peers}
    rows = []
    for p in an.problems:
        row: list[Any] = [p]
        for peer in an.peers:
            if (contender, p) not in an.traces or (peer, p) not in an.traces:
                row.append("-")
                continue
            pval, sign = mann_whitney(an.scores(contender, p, budget), an.scores(peer, p, budget))
            mark = ""
            if pval < ALPHA and sign < 0:
                mark = " **better**"
            elif pval < ALPHA and sign > 0:
                mark = " **worse**"
                worse[peer].append(p)
            row.append(f"{pval:.3g}{mark}")
        rows.append(row)
    headers = ["problem", *[f"vs {peer}" for peer in an.peers]]
    return report.markdown_table(headers, rows, left=1), worse


def problem_table(problems: Sequence[str],
                  lookup: Callable[[str], Any] = get_problem) -> str:
    """The problems in this report: kind, optimum, noise and a one-line description."""
    rows = []
    for name in problems:
        p = lookup(name)
        rows.append([name, p.kind, p.description, f"{p.optimum:.6g}", p.noise_sd or "-"])
    return report.markdown_table(
        ["problem", "kind", "description", "optimum", "noise sd"], rows, left=3
    )


def render(an: Analysis) -> str:
    """All tables and summary lines, one section per budget."""
    n_seeds = max((len(s) for s in an.seeds.values()), default=0)
    parts = [
        "## Problems\n\n"
        + problem_table(an.problems, an.lookup)
        + "\n\n"
        + (__doc__ or "").split("\n\n")[1].replace("\n", " ")
        + "\n"
    ]
    for budget in an.budgets:
        ranks = mean_ranks(an, budget)
        parts.append(f"## Budget {budget} evaluations\n")
        parts.append(
            f"Mean regret ± standard error over {n_seeds} seeds (lower is better; "
            "best mean in bold):\n\n" + _regret_table(an, budget) + "\n"
        )
        parts.append(
            "Mean ranks (1 = best) and mean wall time per run:\n\n" + _rank_table(an, ranks) + "\n"
        )
        summary = []
        for contender in an.contenders:
            table, worse = _mwu_table(an, contender, budget)
            parts.append(
                f"Two-sided Mann-Whitney U p-values, {contender} vs each peer "
                f"(marked where p < {ALPHA}):\n\n{table}\n"
            )
            best = (
                bool(ranks)
                and contender in ranks
                and ranks[contender][0] == min(r[0] for r in ranks.values())
            )
            lost = worse.get(an.reference, [])
            summary.append(
                f"{contender} best mean rank: {'yes' if best else 'no'}; "
                f"significantly worse than {an.reference} on: [{', '.join(lost)}]"
            )
        if not an.contenders:
            summary.append("no hqueue TPE runs in this report")
        parts.append(
            f"**Summary (budget {budget}):**\n\n" + "\n".join(f"- {s}" for s in summary) + "\n"
        )
    return "\n".join(parts)


def plot(an: Analysis, out: Path, prefix: str = "quality") -> list[Path]:
    """``<prefix>_regret.png`` (median and quartiles of regret per problem) and
    ``<prefix>_ranks.png`` (mean ranks per budget)."""
    plt = report.pyplot()
    ncols = min(3, max(1, len(an.problems)))
    nrows = max(1, math.ceil(len(an.problems) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
    for ax, p in zip(axes.flat, an.problems):
        for a in an.algos:
            if (a, p) not in an.traces:
                continue
            t = np.maximum(an.traces[a, p], LOG_FLOOR)
            x = np.arange(1, t.shape[1] + 1)
            q1, med, q3 = np.percentile(t, [25, 50, 75], axis=0)
            (line,) = ax.plot(x, med, label=a, lw=1.4)
            ax.fill_between(x, q1, q3, color=line.get_color(), alpha=0.15)
        for b in an.budgets[:-1]:
            ax.axvline(b, color="grey", ls=":", lw=0.8)
        ax.set(yscale="log", title=f"{p} ({an.lookup(p).kind})", xlabel="evaluations")
        ax.grid(True, which="both", alpha=0.25)
    for ax in list(axes.flat)[len(an.problems) :]:
        ax.set_visible(False)
    axes[0][0].set_ylabel("regret (median, IQR)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    regret_png = out / f"{prefix}_regret.png"
    fig.savefig(regret_png, dpi=110)
    plt.close(fig)
    return [regret_png, _plot_ranks(an, out / f"{prefix}_ranks.png")]


def _plot_ranks(an: Analysis, path: Path) -> Path:
    plt = report.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(1, len(an.budgets))
    for i, budget in enumerate(an.budgets):
        ranks = mean_ranks(an, budget)
        names = list(ranks)
        ax.bar(
            np.arange(len(names)) + i * width,
            [ranks[n][0] for n in names],
            width,
            label=f"budget {budget}",
        )
        ax.set_xticks(
            np.arange(len(names)) + width * (len(an.budgets) - 1) / 2,
            names,
            rotation=20,
            ha="right",
        )
    ax.set(ylabel="mean rank over problems (lower is better)", title="mean rank")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
