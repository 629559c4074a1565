"""Every exception hqueue raises derives from :class:`HqueueError`.

hyperopt's public exception names are kept so ``except hyperopt.exceptions.X`` code keeps
working with ``hqueue.exceptions.X``.

Example:
    >>> from hqueue.exceptions import AllTrialsFailed, HqueueError
    >>> issubclass(AllTrialsFailed, HqueueError)
    True
"""

from __future__ import annotations


class HqueueError(Exception):
    """Root of all hqueue errors."""


class BadSearchSpace(HqueueError, ValueError):
    """A search space description is invalid (bad bounds, empty choice, ...)."""


class DuplicateLabel(BadSearchSpace):
    """Two different hyperparameters of one search space share a label."""


class InvalidTrial(HqueueError, ValueError):
    """A trial document does not follow the trial schema.

    Args mirror hyperopt's: ``InvalidTrial(msg, obj)``.
    """

    def __init__(self, msg: str, obj: object = None) -> None:
        super().__init__(msg, obj)
        self.msg = msg
        self.obj = obj

    def __str__(self) -> str:
        return self.msg if self.obj is None else f"{self.msg}: {self.obj!r}"[:2000]


class InvalidResultStatus(HqueueError, ValueError):
    """An objective returned a result whose ``status`` is not one of STATUS_STRINGS."""

    def __init__(self, result: object, msg: str | None = None) -> None:
        super().__init__(msg or f"invalid result status in {result!r}")
        self.result = result


class InvalidLoss(HqueueError, ValueError):
    """An objective returned a loss that is not a finite real number (or reported none)."""

    def __init__(self, result: object, msg: str | None = None) -> None:
        super().__init__(msg or f"invalid loss in {result!r}")
        self.result = result


class InvalidObjective(HqueueError, TypeError):
    """The objective is not callable or returns something fmin cannot interpret."""


class InvalidAnnotatedParameter(BadSearchSpace):
    """``space="annotated"``: a parameter's annotation is not an hp expression."""


class AllTrialsFailed(HqueueError):
    """No trial finished with STATUS_OK, so there is no best trial."""


class BadArgument(HqueueError, ValueError):
    """An argument to a public function has the wrong type or value."""


class SearchInterrupted(KeyboardInterrupt):  # noqa: N818 (a KeyboardInterrupt, not an error)
    """Ctrl-C stopped a distributed search; the message says what was cancelled, what still
    runs and how to resume. A KeyboardInterrupt, so ``except KeyboardInterrupt`` catches it."""


class NotProvided(HqueueError, NotImplementedError):
    """A hyperopt feature that hqueue deliberately does not ship (the message says what to use)."""


class TrialPruned(HqueueError):
    """Raised by an objective to end its trial as pruned (after ``ctrl.should_prune()``).

    The trial finishes with ``result["status"] == "pruned"``, its last reported value as the
    loss and its curve in ``result["intermediate"]``; it is not an error.
    """
