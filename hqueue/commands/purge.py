"""``hqueue purge``: delete an experiment and every key it has.

Example:
    >>> from click.testing import CliRunner
    >>> "--force" in CliRunner().invoke(purge, ["--help"]).output
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..exceptions import HqueueError
from ._common import connect, url_option

if TYPE_CHECKING:
    from redis import Redis


def delete_experiment(client: Redis, exp_key: str) -> int:
    """Delete the experiment's keys and its entry in ``hq:experiments``; returns how many
    keys were deleted (:meth:`ExperimentRecords.delete`)."""
    from ..backends.redis.records import ExperimentRecords

    return ExperimentRecords(client, exp_key).delete()


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
