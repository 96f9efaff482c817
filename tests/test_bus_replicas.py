"""The action bus on a Kafka log: replicas agree, and a runner loses nothing when one is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from yuqing.bus.client import Outcome, RunnerClient
from yuqing.bus.outbox import DONE, Entry, Outbox, Task
from yuqing.bus.replicated import ReplicatedOutbox, open_shared
from yuqing.core.endpoints import parse_kafka
from yuqing.errors import UserError
from yuqing.proto import activation_pb2

from process_lines import wait_for_match

pytestmark = [pytest.mark.kafka]


def _entry(i: int) -> Entry:
    activation = activation_pb2.Activation(idempotency_key=f"inc-{i}/outage.generic/2")
    return Entry(activation.idempotency_key, "activation", activation.SerializeToString(),
                 brand="星汇支付", category="outage", tier=2, departments=("it_ops",),
                 priority=float(i % 3), incident_id=f"inc-{i}",
                 tasks=(Task(f"t{i}", "it_ops", 1_800_000_000.0),))


def _log(broker, name: str = "bus") -> str:
    return f"kafka://{broker.bootstrap}/{name}-{uuid.uuid4().hex[:8]}"


def test_two_replicas_hold_the_same_events_deliveries_and_cursors(kafka_broker):
    spec = _log(kafka_broker)
    a = open_shared(spec)
    b = open_shared(spec)
    try:
        seqs = a.append_many([_entry(i) for i in range(5)])
        assert seqs == [1, 2, 3, 4, 5]
        assert b.append(_entry(2)) == 3, "a key already on the log keeps its seq on every replica"
        assert b.mark_delivered("ops", [1, 2]) == {1: 1, 2: 1}
        assert b.ack("ops", 1, DONE, "handled").committed == 1
        a.sync()
        assert a.committed("ops") == 1 and [e.seq for e in a.open_deliveries("ops")] == [2]
        with pytest.raises(KeyError):
            a.ack("ops", 4, DONE)  # never delivered to ops: refused, as by the SQLite outbox
        assert a.update_task("inc-1/outage.generic/2", "t1", 3, assignee="li")[1]
        a.record_incident({"incident_id": "inc-1", "tier": 2, "brand": "星汇支付"})
        a.add_feedback({"mention_id": "weibo:1", "label": 1})
        c = ReplicatedOutbox(parse_kafka(spec, "--outbox", allow_until=False))  # a late replica
        try:
            for replica in (b, c):
                replica.sync()
                assert [e.key for e in replica.after(0)] == [e.key for e in a.after(0)]
                assert replica.delivery_states(1) == a.delivery_states(1)
                assert replica.task("inc-1/outage.generic/2", "t1") == a.task(
                    "inc-1/outage.generic/2", "t1")
                assert replica.incident("inc-1") == a.incident("inc-1")
                assert replica.feedback_after(0) == a.feedback_after(0)
        finally:
            c.close()
    finally:
        a.close()
        b.close()


def test_a_file_outbox_stays_sqlite_and_a_bad_log_topic_is_one_line(kafka_broker, tmp_path):
    assert open_shared(tmp_path / "outbox.sqlite3") is None
    assert isinstance(Outbox(tmp_path / "outbox.sqlite3"), Outbox)
    with pytest.raises(UserError, match="name one topic"):
        open_shared(f"kafka://{kafka_broker.bootstrap}/")
    topic = f"wide-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topics([topic], partitions=2)
    with pytest.raises(UserError, match="one partition"):
        open_shared(f"kafka://{kafka_broker.bootstrap}/{topic}")


def _serve(spec: str) -> tuple[subprocess.Popen, str]:
    """`yuqing bus serve` on the log, as its own process; returns it and its address."""
    server = subprocess.Popen(
        [sys.executable, "-m", "yuqing.cli", "bus", "serve", "--outbox", spec, "--port", "0",
         "--ack-timeout", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    found = wait_for_match(server, r"action bus serving .* on (\S+)", timeout=60)
    return server, found.group(1)


def test_a_runner_of_two_bus_replicas_loses_nothing_when_one_is_killed(kafka_broker):
    spec = _log(kafka_broker)
    flow = open_shared(spec)  # the flow's side: appends only
    first, first_address = _serve(spec)
    second, second_address = _serve(spec)
    try:
        flow.append_many([_entry(i) for i in range(40)])
        handled: list[str] = []
        killed = threading.Event()

        def handler(delivery) -> Outcome:
            handled.append(delivery.activation.idempotency_key)
            if len(handled) == 15 and not killed.is_set():
                os.kill(first.pid, signal.SIGKILL)  # the replica serving this runner dies
                killed.set()
            if delivery.activation.idempotency_key.startswith("inc-7/") and delivery.attempt == 1:
                return Outcome.failed("webhook answered HTTP 503", retry=True)
            return Outcome.done("ok")

        target = f"ipv4:{first_address},{second_address}"  # the runner knows both replicas
        runner = RunnerClient(target, "ops-console", backoff=(0.1, 0.5), ack_timeout=5)
        worker = threading.Thread(target=runner.run, args=(handler,), daemon=True)
        worker.start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            flow.sync()
            if flow.committed("ops-console") == 40 and not flow.open_deliveries("ops-console"):
                break
            time.sleep(0.2)
        runner.close()
        worker.join(10)
        assert killed.is_set(), "the first replica must have served the runner"
        keys = {e.key for e in flow.after(0, limit=100)}
        assert set(handled) == keys, "every event reaches the runner, across the kill"
        assert flow.committed("ops-console") == 40
        states = {s.key: s for e in flow.after(0, limit=100) for s in flow.delivery_states(e.seq)}
        assert all(s.status == DONE for s in states.values())
        assert states["inc-7/outage.generic/2"].attempts >= 2, "a failure with retry comes back"
        assert len(handled) - len(keys) <= 3 + 1, "at least once: only unacknowledged ones twice"
    finally:
        for server in (first, second):
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
                server.wait(20)
        flow.close()


def test_a_batch_larger_than_a_kafka_message_is_appended_whole(kafka_broker):
    spec = _log(kafka_broker)
    a, b = open_shared(spec), open_shared(spec)
    try:
        big = [Entry(f"inc-{i}/leak/3", "activation", os.urandom(1500), brand="星汇支付")
               for i in range(2000)]  # ~4 MB of payloads: more than Kafka's 1 MB message
        assert a.append_many(big) == list(range(1, 2001))
        b.sync()
        assert [e.payload for e in b.after(0, limit=5000)] == [e.payload for e in big]
    finally:
        a.close()
        b.close()
