"""The one incremental mirror of an experiment (hqueue.mirror.TrialMirror)."""

from __future__ import annotations

from hqueue.backends.memory import MemoryBackend
from hqueue.mirror import TrialMirror
from hqueue.states import JOB_STATE_DONE, JOB_STATE_ERROR, JOB_STATE_NEW, JOB_STATE_RUNNING
from hqueue.trial_doc import generate_trial


class ChangeLog:
    """A change source that hands out copies, as Redis does."""

    def __init__(self) -> None:
        self.log: list[dict] = []

    def put(self, tid: int, state: int) -> None:
        self.log.append(dict(generate_trial(tid, {"x": float(tid)}), state=state))

    def changes_since(self, seq: int) -> tuple[int, list[dict]]:
        return len(self.log), [dict(d) for d in self.log[seq:]]


def test_a_changed_document_is_updated_in_place():
    source = ChangeLog()
    source.put(0, JOB_STATE_NEW)
    mirror = TrialMirror(source)
    mirror.pull()
    held = mirror.docs[0]
    source.put(0, JOB_STATE_RUNNING)
    assert mirror.pull() is False  # still in the valid states
    assert mirror.docs[0] is held and held["state"] == JOB_STATE_RUNNING
    assert mirror.changed == [0] and mirror.ordered == [held]


def test_leaving_or_reentering_the_valid_states_is_reported():
    source = ChangeLog()
    source.put(0, JOB_STATE_DONE)
    mirror = TrialMirror(source)
    mirror.pull()
    source.put(0, JOB_STATE_ERROR)
    assert mirror.pull() is True
    source.put(0, JOB_STATE_NEW)  # a requeue
    assert mirror.pull() is True


def test_state_counts_follow_the_changes():
    source = ChangeLog()
    for tid in range(3):
        source.put(tid, JOB_STATE_NEW)
    mirror = TrialMirror(source)
    mirror.pull()
    source.put(1, JOB_STATE_DONE)
    mirror.pull()
    assert mirror.count(JOB_STATE_NEW) == 2 and mirror.count(JOB_STATE_DONE) == 1


def test_reload_reads_everything_again_without_duplicates():
    source = ChangeLog()
    source.put(0, JOB_STATE_NEW)
    mirror = TrialMirror(source)
    mirror.pull()
    mirror.reload()
    assert len(mirror.ordered) == 1 and mirror.count(JOB_STATE_NEW) == 1


def test_shared_in_memory_documents_are_not_copied():
    backend = MemoryBackend()
    doc = generate_trial(0, {"x": 1.0})
    backend.create([doc])
    mirror = TrialMirror(backend)
    mirror.pull()
    mirror.reload()
    assert mirror.docs[0] is doc and mirror.count(JOB_STATE_NEW) == 1


def test_an_in_memory_view_sees_only_its_experiment():
    shared = MemoryBackend("a")
    shared.create([generate_trial(0, {"x": 1.0}, "a")])
    other = MemoryBackend("b", shared=shared.shared)
    other.create([generate_trial(1, {"x": 1.0}, "b")])
    assert [d["tid"] for d in TrialMirror(shared).source.changes_since(0)[1]] == [0]
    assert other.new_tids(1) == [2]  # one tid counter for the shared documents
