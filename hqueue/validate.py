"""Checks of ``fmin``'s stop arguments, with hyperopt's exact messages.

``str(error)`` is hyperopt's message word for word (code and tests compare it); hqueue's hint
on the fix is attached as a note, which tracebacks print after the message (Python 3.11+).

Example:
    >>> validate_timeout(None), validate_timeout(2.5)
    (None, None)
    >>> try:
    ...     validate_loss_threshold("a")
    ... except ValueError as e:
    ...     print(e)
    The loss_threshold argument should be None or a numeric value. Given value: a
"""

from __future__ import annotations

import numbers
from typing import Any

from .exceptions import BadArgument


def _error(message: str, hint: str) -> BadArgument:
    err = BadArgument(message)
    if hasattr(err, "add_note"):  # Python 3.11+
        err.add_note(hint)
    return err


def validate_timeout(timeout: Any) -> None:
    """Raise :class:`~hqueue.exceptions.BadArgument` unless ``timeout`` is None or > 0."""
    if timeout is not None and (isinstance(timeout, bool)
                                or not isinstance(timeout, numbers.Real) or not timeout > 0):
        raise _error(
            f"The timeout argument should be None or a positive value. Given value: {timeout}",
            "timeout is a number of seconds > 0, e.g. fmin(..., timeout=60), or None",
        )


def validate_loss_threshold(loss_threshold: Any) -> None:
    """Raise :class:`~hqueue.exceptions.BadArgument` unless ``loss_threshold`` is None or a
    real number."""
    if loss_threshold is not None and (isinstance(loss_threshold, bool)
                                       or not isinstance(loss_threshold, numbers.Real)):
        raise _error(
            "The loss_threshold argument should be None or a numeric value. "
            f"Given value: {loss_threshold}",
            "the search stops once a loss <= loss_threshold is seen: pass a number, or None",
        )
