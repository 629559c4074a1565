"""The ``hqueue`` commands beyond ``serve`` and ``worker``, one small module each.

Each module defines click commands that import their heavy dependencies inside the function
body, so ``hqueue --help`` stays fast; :func:`register` adds them all to the ``main`` group.

Example:
    >>> import click
    >>> group = click.Group()
    >>> register(group)
    >>> sorted(group.commands)[:4]
    ['best', 'cancel', 'demo', 'enqueue']
"""

from __future__ import annotations

import click

from .control import cancel, enqueue, requeue
from .demo import demo
from .export import export
from .plot import plot
from .purge import purge
from .show import best, show
from .status import status
from .trials import trials

COMMANDS = (demo, status, trials, show, best, cancel, requeue, enqueue, export, plot, purge)


def register(group: click.Group) -> None:
    """Add every command of this package to ``group``."""
    for command in COMMANDS:
        group.add_command(command)
