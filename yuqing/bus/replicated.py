"""The outbox as a replica of a Kafka topic, so several bus servers and flow processes share it.

The embedded outbox is one SQLite file on one machine. In a cluster the
durable log must outlive any machine and take appends from every process:
here it is a Kafka topic with one partition (one order for everyone), kept
forever. Every change of the outbox (events appended, deliveries, acks,
scanned cursors, incident snapshots, task updates, feedback) is a record on
that topic. Each replica applies the records in topic order to its own
in-memory outbox, with the time the record carries, so every replica holds
the same events at the same seqs and the same per-runner cursors. A change
made through a replica returns once the replica has applied it (read your
writes); what it returns is computed at that point of the log.

Two bus servers on two replicas can serve the same runners: a runner that
loses one reconnects to the other, which knows every delivery and ack the
first one logged, and redelivers what was not acknowledged (at least once).

A replica rebuilds its state from the start of the topic when it starts.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from yuqing.bus.outbox import AckResult, Entry, Outbox, Task, TaskState, _json_default
from yuqing.core.endpoints import KafkaTopic, parse_kafka
from yuqing.errors import UserError

log = logging.getLogger("yuqing.bus")

FORMAT = 1  # version of the records on the log topic
RECORD_BYTES = 256 * 1024  # events per log record are cut at about this size


class BusLogUnavailable(UserError):
    """The log topic did not take or return a change in time."""


def _entry_record(entry: Entry) -> dict[str, Any]:
    return {
        "key": entry.key, "kind": entry.kind,
        "payload": base64.b64encode(entry.payload).decode("ascii"),
        "brand": entry.brand, "category": entry.category, "tier": entry.tier,
        "departments": list(entry.departments), "priority": entry.priority,
        "incident_id": entry.incident_id,
        "tasks": [[t.task_id, t.department, t.due_at] for t in entry.tasks],
    }


def _entry_of(record: Mapping[str, Any]) -> Entry:
    return Entry(
        record["key"], record["kind"], base64.b64decode(record["payload"]),
        brand=record["brand"], category=record["category"], tier=int(record["tier"]),
        departments=tuple(record["departments"]), priority=float(record["priority"]),
        incident_id=record["incident_id"],
        tasks=tuple(Task(task_id, department, due_at)
                    for task_id, department, due_at in record["tasks"]),
    )


def ensure_log_topic(topic: KafkaTopic, replication: int = 1, timeout: float = 15.0) -> None:
    """Create the log topic (one partition, kept forever) unless it exists; check its partitions."""
    admin = AdminClient(topic.client_config())
    try:
        meta = admin.list_topics(topic.topic, timeout=timeout)
    except Exception as err:  # librdkafka's errors name the cause
        raise BusLogUnavailable(f"--outbox {topic}: cannot reach the brokers ({err})") from None
    found = meta.topics.get(topic.topic)
    if found is not None and found.error is None:
        if len(found.partitions) != 1:
            raise UserError(f"--outbox {topic}: the bus log needs a topic with one partition "
                            f"(one order for every replica); it has {len(found.partitions)}")
        return
    futures = admin.create_topics([NewTopic(
        topic.topic, num_partitions=1, replication_factor=replication,
        config={"retention.ms": "-1", "retention.bytes": "-1"})])
    try:
        futures[topic.topic].result(timeout)
    except Exception as err:
        if "TOPIC_ALREADY_EXISTS" not in str(err):
            raise BusLogUnavailable(f"--outbox {topic}: cannot create the log topic ({err})") from None


class ReplicatedOutbox(Outbox):
    """An outbox whose changes go through a one-partition Kafka topic; reads are local."""

    def __init__(self, topic: KafkaTopic, *, timeout: float = 30.0, replication: int = 1) -> None:
        super().__init__(":memory:", synchronous="OFF")
        self.topic, self.timeout = topic, timeout
        self.path = str(topic)
        ensure_log_topic(topic, replication)
        self._origin = uuid.uuid4().hex
        self._ids = itertools.count(1)
        self._at = 0.0  # the time of the record being applied
        self._results: dict[str, Any] = {}
        self._applied = threading.Condition()
        self._offset = -1  # the last applied offset
        self._stopping = threading.Event()
        self._producer = Producer(topic.client_config(**{
            "enable.idempotence": True, "acks": "all", "linger.ms": 1}))
        self._consumer = Consumer(topic.client_config(**{
            "group.id": f"yuqing-bus-replica-{self._origin}", "enable.auto.commit": False,
            "enable.partition.eof": False, "auto.offset.reset": "earliest"}))
        partition = TopicPartition(topic.topic, 0, OFFSET_BEGINNING)
        _low, high = self._consumer.get_watermark_offsets(partition, timeout=timeout)
        self._consumer.assign([partition])
        self._thread = threading.Thread(target=self._follow, name="bus-log", daemon=True)
        self._thread.start()
        self._await(lambda: self._offset >= high - 1, f"catching up with {high} records")
        log.info("bus log %s: replica ready at offset %d", topic, high)

    # -- the log -----------------------------------------------------------

    def _now(self) -> float:
        return self._at

    def _follow(self) -> None:
        while not self._stopping.is_set():
            message = self._consumer.poll(0.1)
            if message is None:
                continue
            if message.error():
                if message.error().code() != KafkaError._PARTITION_EOF:
                    log.warning("bus log %s: %s", self.topic, message.error())
                continue
            self._apply(message.offset(), json.loads(message.value()))

    def _apply(self, offset: int, record: dict[str, Any]) -> None:
        result: Any = None
        mine = str(record.get("id", "")).startswith(self._origin + ":")  # a change made here
        try:
            if record.get("format") != FORMAT:
                raise ValueError(f"record format {record.get('format')!r}, this replica reads {FORMAT}")
            self._at = float(record["at"])
            result = getattr(self, "_apply_" + record["op"])(**record["args"])
        except Exception as err:  # the change fails for its caller, not the replica
            if not mine:
                log.warning("bus log %s: record %d not applied (%s)", self.topic, offset, err)
            result = err
        with self._applied:
            self._offset = offset
            if mine:
                self._results[record["id"]] = result
            self._applied.notify_all()

    def _await(self, done, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        with self._applied:
            while not done():
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping.is_set():
                    raise BusLogUnavailable(f"bus log {self.topic}: no answer after "
                                            f"{self.timeout:.0f} s ({what})")
                self._applied.wait(min(left, 0.5))

    def _change(self, op: str, **args: Any) -> Any:
        """Put one change on the log and return its outcome once this replica applied it."""
        change_id = f"{self._origin}:{next(self._ids)}"
        record = {"format": FORMAT, "id": change_id, "op": op, "at": time.time(), "args": args}
        failed: list[str] = []
        try:
            self._producer.produce(
                self.topic.topic,
                json.dumps(record, ensure_ascii=False, default=_json_default).encode(),
                partition=0, on_delivery=lambda err, _msg: err and failed.append(str(err)))
        except KafkaException as err:
            raise BusLogUnavailable(f"bus log {self.topic}: change not written ({err})") from None
        if self._producer.flush(self.timeout) or failed:
            raise BusLogUnavailable(f"bus log {self.topic}: change not written "
                                    f"({failed[0] if failed else 'timed out'})")
        self._await(lambda: change_id in self._results, f"applying {op}")
        with self._applied:
            result = self._results.pop(change_id)
        if isinstance(result, Exception):
            raise result
        return result

    def sync(self) -> None:
        """Wait until this replica has applied every record the topic held when called.

        It logs a no-op mark and waits for it: every earlier record comes before
        it on the one partition (asking the broker for the end offset while the
        follower polls the same consumer can stall librdkafka).
        """
        self._change("mark")

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        self._consumer.close()
        self._producer.flush(5)
        super().close()

    # -- changes: through the log ---------------------------------------------

    def append_many(self, entries: Iterable[Entry]) -> list[int]:
        """Append in records of at most ~256 KiB (Kafka refuses messages over 1 MB by default).

        A batch split over several records is not atomic, but appends are
        idempotent by key: a caller that retries after a failure gets the same seqs.
        """
        seqs: list[int] = []
        chunk: list[dict[str, Any]] = []
        size = 0
        for entry in entries:
            record = _entry_record(entry)
            chunk.append(record)
            size += len(record["payload"]) + 512
            if size >= RECORD_BYTES:
                seqs += self._change("append_many", entries=chunk)
                chunk, size = [], 0
        if chunk:
            seqs += self._change("append_many", entries=chunk)
        return seqs

    def set_scanned(self, runner: str, seq: int) -> None:
        self._change("set_scanned", runner=runner, seq=seq)

    def mark_delivered(self, runner: str, seqs: Sequence[int]) -> dict[int, int]:
        return self._change("mark_delivered", runner=runner, seqs=list(seqs)) if seqs else {}

    def ack(self, runner: str, seq: int, status: int, detail: str = "", *, retry: bool = False,
            retry_base: float = 1.0) -> AckResult:
        return self._change("ack", runner=runner, seq=seq, status=status, detail=detail,
                            retry=retry, retry_base=retry_base)

    def record_incident(self, snapshot: Mapping[str, Any], *, at: float | None = None) -> None:
        self._change("record_incident", snapshot=dict(snapshot), at=at)

    def update_task(self, key: str, task_id: str, status: int, *, assignee: str = "",
                    detail: str = "", updated_at: float | None = None) -> tuple[TaskState, bool] | None:
        return self._change("update_task", key=key, task_id=task_id, status=status,
                            assignee=assignee, detail=detail, updated_at=updated_at)

    def add_feedback(self, feedback: Mapping[str, Any]) -> int:
        return self._change("add_feedback", feedback=dict(feedback))

    # -- the same changes, applied in log order ------------------------------

    def _apply_append_many(self, entries: list[dict]) -> list[int]:
        return Outbox.append_many(self, [_entry_of(e) for e in entries])

    def _apply_set_scanned(self, runner: str, seq: int) -> None:
        Outbox.set_scanned(self, runner, seq)

    def _apply_mark_delivered(self, runner: str, seqs: list[int]) -> dict[int, int]:
        return Outbox.mark_delivered(self, runner, seqs)

    def _apply_ack(self, runner: str, seq: int, status: int, detail: str, retry: bool,
                   retry_base: float) -> AckResult:
        return Outbox.ack(self, runner, seq, status, detail, retry=retry, retry_base=retry_base)

    def _apply_record_incident(self, snapshot: dict, at: float | None) -> None:
        Outbox.record_incident(self, snapshot, at=at)

    def _apply_update_task(self, key: str, task_id: str, status: int, assignee: str, detail: str,
                           updated_at: float | None) -> tuple[TaskState, bool] | None:
        return Outbox.update_task(self, key, task_id, status, assignee=assignee, detail=detail,
                                  updated_at=updated_at)

    def _apply_add_feedback(self, feedback: dict) -> int:
        return Outbox.add_feedback(self, feedback)

    def _apply_mark(self) -> None:
        """A mark changes nothing; `sync` waits for it."""


def is_shared(spec: str | object) -> bool:
    """Whether an `--outbox` names a bus log (`kafka://…`) rather than a SQLite file."""
    return str(spec).startswith("kafka:")


def open_shared(spec: str | object, settings: Mapping[str, str] | None = None,
                flag: str = "--outbox") -> ReplicatedOutbox | None:
    """A replica for a `kafka://HOST:PORT/TOPIC` outbox; None for a SQLite file path."""
    if not is_shared(spec):
        return None
    topic = parse_kafka(str(spec), flag, allow_until=False)
    return ReplicatedOutbox(topic.with_settings(dict(settings or {})))
