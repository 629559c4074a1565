"""``hqueue demo``: a real search across local workers, set up and cleaned up for you.

Example:
    >>> from click.testing import CliRunner
    >>> "--keep" in CliRunner().invoke(demo, ["--help"]).output
    True
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--trials", "-n", type=click.IntRange(1), default=60, show_default=True,
              help="Trials to run.")
@click.option("--workers", "-w", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Local worker processes.")
@click.option("--dir", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Keep Redis's data and the logs here [default: a temporary "
                                 "directory, removed on exit].")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Redis port [default: a free one].")
@click.option("--keep", is_flag=True,
              help="Leave Redis and the workers running afterwards (for hqueue status, plot, "
                   "dashboard); prints how to stop them.")
@click.option("--exp-key", default="demo", show_default=True, help="Experiment key.")
@click.option("--seed", type=int, default=None, help="Seed of the search (TPE).")
@click.option("--stop", is_flag=True,
              help="Stop the Redis and workers a `hqueue demo --keep` left in --dir.")
@click.option("--epoch-seconds", type=click.FloatRange(0), default=None,
              help="Seconds of one epoch of the smallest model (6 epochs a trial; MLPs take up "
                   "to 3 times longer) [default: 0.15].")
def demo(trials: int, workers: int, data_dir: Path | None, port: int | None, keep: bool,
         exp_key: str, seed: int | None, stop: bool, epoch_seconds: float | None) -> None:
    """Run a real distributed search on this machine: a Redis, worker processes, TPE.

    Starts Redis (`hqueue serve`) on a free port and N workers (`hqueue worker`), runs a
    search over a conditional space (a stand-in for training a linear model or an MLP, under
    a few seconds per trial), prints the best configuration, then stops everything it started
    (also on Ctrl-C) unless --keep.

    \b
    Example:
      hqueue demo
      hqueue demo --trials 200 --workers 4 --keep
      hqueue demo --stop --dir /tmp/hqueue-demo-abc123     # what --keep printed
    """
    from ..demo import EPOCH_S, run_demo, stop_kept

    if stop:
        if data_dir is None:
            raise click.UsageError("--stop needs the --dir that `hqueue demo --keep` printed")
        for line in stop_kept(data_dir):
            click.echo(line)
        return
    try:
        run_demo(trials=trials, workers=workers, data_dir=data_dir, port=port, keep=keep,
                 exp_key=exp_key, seed=seed, echo=click.echo,
                 epoch_s=EPOCH_S if epoch_seconds is None else epoch_seconds)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
