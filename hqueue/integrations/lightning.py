"""PyTorch Lightning callback: report a logged metric after every validation run, prune when
told.

Recipe status: Lightning needs PyTorch, which does not install cheaply on hqueue's CI, so this
callback is tested against a fake trainer that calls the hook the way ``Trainer.fit`` does
(``tests/test_integrations_recipes.py``), not against Lightning itself. When ``lightning`` (or
the older ``pytorch_lightning``) is importable the class derives from its ``Callback``.

Example:
    >>> cb = LightningPruning(ctrl, monitor="val_loss")  # doctest: +SKIP
    >>> lightning.Trainer(max_epochs=30, callbacks=[cb]).fit(model, data)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import report_monitored

if TYPE_CHECKING:
    from ..ctrl import Ctrl

try:  # hqueue does not depend on lightning
    from lightning.pytorch import Callback as _Callback
except ImportError:
    try:
        from pytorch_lightning import Callback as _Callback
    except ImportError:
        _Callback = object


class LightningPruning(_Callback):  # type: ignore[misc,valid-type]
    """A ``Trainer`` callback: after each validation run (not the sanity check), reports
    ``trainer.callback_metrics[monitor]`` at step ``current_epoch + 1`` (negated when
    ``maximize``) and raises :class:`~hqueue.TrialPruned` out of ``fit`` when
    ``ctrl.should_prune()``."""

    def __init__(self, ctrl: Ctrl, monitor: str = "val_loss", maximize: bool = False) -> None:
        super().__init__()
        self.ctrl, self.monitor, self.maximize = ctrl, monitor, bool(maximize)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if getattr(trainer, "sanity_checking", False):
            return
        report_monitored(self.ctrl, trainer.callback_metrics, self.monitor,
                         int(trainer.current_epoch) + 1, self.maximize, "Lightning")
