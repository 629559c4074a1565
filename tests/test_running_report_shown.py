"""A running trial shows its latest ``ctrl.report`` (value and step), not its checkpoint, in
``hqueue trials``, ``hqueue show`` and the dashboard, and its output so far in ``hqueue show
--output`` (issue 13 item 6), with a real worker."""

from __future__ import annotations

import redis
from click.testing import CliRunner
from e2e_helpers import SECRET, WorkerPool, send_trials, wait_for_gate, wait_until

from hqueue import hp
from hqueue.cli import main
from hqueue.dashboard.model import Dashboard


def checkpoint_then_report(expr, memo, ctrl) -> dict:
    """Checkpoint a loss of 99, report 0.5 at step 3, then wait for ``$HQ_TEST_GATE``."""
    ctrl.checkpoint({"status": "ok", "loss": 99.0, "note": "saved"})
    ctrl.report(0.75, step=2)
    ctrl.report(0.5, step=3)
    print("epoch 3 done", flush=True)
    wait_for_gate()
    return {"status": "ok", "loss": 0.25}


def _cli(url: str, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--url", url, "--exp-key", "rep"])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_running_trial_shows_its_latest_report_not_its_checkpoint(redis_url, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setenv("HQUEUE_SECRET", SECRET)
    pool = WorkerPool(redis_url, tmp_path)
    gate = tmp_path / "gate"
    pool.start(env={"HQ_TEST_GATE": str(gate)})
    try:
        store = send_trials(redis_url, "rep", checkpoint_then_report, hp.uniform("x", -1, 1),
                            [{"x": 0.5}], pass_expr_memo_ctrl=True)
        wait_until(lambda: len((store.get(0)["result"] or {}).get("intermediate", [])) == 2,
                   120, "the trial's two reports")
        header, row = [line.split() for line in _cli(redis_url, "trials").splitlines()[:2]]
        assert row[2] == "0.5"  # the latest report, not the checkpoint's 99
        assert header[:4] == ["TID", "STATE", "LOSS", "STEP"]
        assert row[:4] == ["0", "running", "0.5", "3"]
        shown = _cli(redis_url, "show", "0").splitlines()
        at = shown.index("latest report")
        assert shown[at + 1].split() == ["value", "0.5"]
        assert shown[at + 2].split() == ["step", "3"]
        page = Dashboard(redis.Redis.from_url(redis_url)).trials("rep")
        assert (page["rows"][0]["loss"], page["rows"][0]["step"]) == (0.5, 3)
        # its output so far is readable while it runs (stored every few seconds)
        wait_until(lambda: _cli(redis_url, "show", "0", "--output") == "epoch 3 done\n", 120,
                   "the running trial's output")
        assert store.get(0)["state"] == 1
        gate.touch()
        wait_until(lambda: store.get(0)["state"] == 2, 120, "the trial done")
        row = _cli(redis_url, "trials").splitlines()[1].split()
        assert row[:4] == ["0", "done", "0.25", "-"]  # a finished trial: its result's loss
        assert "latest report" not in _cli(redis_url, "show", "0")
    finally:
        pool.stop_all()
