"""Sending trials' tasks (``hqueue.tasks.dispatch`` over a :class:`CelerySender`): a top-up's
tasks reach the broker in one pipeline, and if that write fails each is sent again on its
own. On a real redis-server."""

from __future__ import annotations

import json
import logging

import pytest
import redis
from redis.client import Pipeline

from hqueue.tasks import DEFAULT_QUEUE, TASK_NAME, CelerySender, broker_config, dispatch


class Store:
    exp_key = "send"

    def __init__(self):
        self.marked = []

    def mark_sent(self, tids):
        self.marked += list(tids)


@pytest.fixture
def sender(redis_url):
    from celery import Celery

    app = Celery("test-sender", set_as_current=False)
    app.conf.update(broker_config(redis_url))
    send = CelerySender(app)
    dispatch(Store(), [99], DEFAULT_QUEUE, send)  # connect and declare the queue first
    redis.Redis.from_url(redis_url).delete(DEFAULT_QUEUE)
    yield send
    app.close()


def queued_tasks(url):
    """(task name, args) of the messages on the default queue, oldest first."""
    raw = redis.Redis.from_url(url).lrange(DEFAULT_QUEUE, 0, -1)
    return [(json.loads(m)["headers"]["task"], json.loads(m)["headers"]["argsrepr"])
            for m in reversed(raw)]


@pytest.fixture
def pipelines(monkeypatch):
    """The command names of every pipeline redis-py executes."""
    seen = []
    execute = Pipeline.execute

    def counted(self, *args, **kwargs):
        seen.append([c[0][0] for c in self.command_stack])
        return execute(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "execute", counted)
    return seen


def test_a_top_ups_tasks_go_to_the_broker_in_one_pipeline(sender, redis_url, pipelines):
    store = Store()
    dispatch(store, [3, 4, 5, 6], DEFAULT_QUEUE, sender)
    assert queued_tasks(redis_url) == [(TASK_NAME, f"['send', {t}]") for t in (3, 4, 5, 6)]
    assert pipelines == [["LPUSH"] * 4]
    assert store.marked == [3, 4, 5, 6]


def test_a_batch_whose_write_fails_is_sent_again_task_by_task(sender, redis_url, monkeypatch,
                                                              caplog):
    execute = Pipeline.execute
    failures = []

    def fails_once(self, *args, **kwargs):
        if not failures and [c[0][0] for c in self.command_stack] == ["LPUSH"] * 3:
            failures.append(1)
            self.reset()
            raise redis.exceptions.ConnectionError("connection reset while writing")
        return execute(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "execute", fails_once)
    with caplog.at_level(logging.WARNING, logger="hqueue.tasks"):
        dispatch(Store(), [7, 8, 9], DEFAULT_QUEUE, sender)
    assert failures == [1]
    assert queued_tasks(redis_url) == [(TASK_NAME, f"['send', {t}]") for t in (7, 8, 9)]
    assert "sending them one by one" in caplog.text


def test_an_error_of_the_senders_caller_is_not_swallowed_by_the_batch(sender, redis_url):
    with pytest.raises(KeyError), sender.batch():
        sender("send", 1, DEFAULT_QUEUE)
        raise KeyError("the caller's own error")
    assert queued_tasks(redis_url) == []  # the batch was discarded, not sent
