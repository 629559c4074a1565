"""``hqueue purge``: delete an experiment and every key it has.

Example:
    >>> from click.testing import CliRunner
    >>> "--force" in CliRunner().invoke(purge, ["--help"]).output
    True
"""

from __future__ import annotations

from typing import Any

import click

from ..exceptions import HqueueError
from ._common import connect, url_option


def experiment_keys(client: Any, exp_key: str) -> list[bytes]:
    """Every Redis key of the experiment (``hq:{exp}:*``)."""
    from ..backends.redis.attachments import glob_escape
    from ..backends.redis.keys import ExperimentKeys

    base = ExperimentKeys(exp_key).base
    return list(client.scan_iter(match=glob_escape(base) + ":*", count=1000))


def delete_experiment(client: Any, exp_key: str) -> int:
    """Delete the experiment's keys and its entry in ``hq:experiments``; returns how many
    keys were deleted."""
    from ..backends.redis.keys import EXPERIMENTS

    keys = experiment_keys(client, exp_key)
    deleted = 0
    for i in range(0, len(keys), 500):
        deleted += int(client.delete(*keys[i:i + 500]))
    client.srem(EXPERIMENTS, exp_key)
    return deleted


@click.command()
@url_option
@click.option("--exp-key", "-e", required=True, metavar="KEY",
              help="The experiment to delete (never guessed).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Delete even while a driver (fmin) holds it.")
def purge(url: str | None, exp_key: str, yes: bool, force: bool) -> None:
    """Delete an experiment: its trials, results, attachments, domain and counters.

    Refuses while a driver (fmin) is running it, unless --force. Workers that later get a
    task of the deleted experiment drop it.

    \b
    Example:
      hqueue purge --url redis://127.0.0.1:6379/0 --exp-key old-search --yes
    """
    from ..backends.redis.keys import ExperimentKeys
    from ..backends.redis.overview import require_experiment

    client = connect(url)
    exp_key = require_experiment(client, exp_key)
    keys = ExperimentKeys(exp_key)
    holder = client.get(keys.driver)
    if holder is not None and not force:
        raise HqueueError(f"experiment {exp_key!r} is held by a running driver (fmin, id "
                          f"{holder.decode(errors='replace')}): stop it first, or pass --force")
    n_trials = int(client.zcard(keys.tids))
    if not yes:
        click.confirm(f"Delete experiment {exp_key!r} ({n_trials} trials) and all its data? "
                      "This cannot be undone", abort=True)
    deleted = delete_experiment(client, exp_key)
    click.echo(f"experiment {exp_key!r} deleted ({n_trials} trials, {deleted} keys)")
