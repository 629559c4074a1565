"""Keras callback: report a monitored metric after every epoch, prune when told.

Recipe status: Keras (and a backend for it) does not install cheaply on hqueue's CI, so this
callback is tested against a fake training loop that calls the hooks the way
``keras.Model.fit`` does (``tests/test_integrations_recipes.py``), not against Keras itself.
When Keras is importable the class derives from ``keras.callbacks.Callback``.

Example:
    >>> cb = KerasPruning(ctrl, monitor="val_loss")  # doctest: +SKIP
    >>> model.fit(x, y, validation_data=(xv, yv), epochs=30, callbacks=[cb])  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import report_monitored

if TYPE_CHECKING:
    from ..ctrl import Ctrl

try:  # hqueue does not depend on keras
    import keras

    _Callback: Any = keras.callbacks.Callback
except ImportError:
    _Callback = object


class KerasPruning(_Callback):
    """A ``model.fit`` callback: after epoch ``e`` (0-based), reports ``logs[monitor]`` at step
    ``e + 1`` (negated when ``maximize``, e.g. for ``val_accuracy``) and raises
    :class:`~hqueue.TrialPruned` out of ``fit`` when ``ctrl.should_prune()``."""

    def __init__(self, ctrl: Ctrl, monitor: str = "val_loss", maximize: bool = False) -> None:
        super().__init__()
        self.ctrl, self.monitor, self.maximize = ctrl, monitor, bool(maximize)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        report_monitored(self.ctrl, logs or {}, self.monitor, int(epoch) + 1, self.maximize,
                         "Keras")
