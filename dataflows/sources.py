"""Bytewax inputs: JSONL file, stdin, the demo generator and Kafka, all as `RawRecord`s.

Replayable inputs (file, demo, Kafka) snapshot their position, so `--recovery`
resumes exactly where the last snapshot was taken. Stdin cannot be replayed.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bytewax import operators as op
from bytewax.connectors.kafka import KafkaSource, KafkaSourceMessage
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import (
    DynamicSource,
    FixedPartitionedSource,
    StatefulSourcePartition,
    StatelessSourcePartition,
)
from confluent_kafka import OFFSET_BEGINNING

from yuqing.bus.outbox import Outbox
from yuqing.core.endpoints import DemoInput, FileInput, InputSpec, KafkaTopic, StdinInput
from yuqing.core.records import DeadLetter, RawRecord
from yuqing.evaluation.demo import DemoConfig, DemoGenerator

BATCH_LINES = 2000


class _FilePartition(StatefulSourcePartition[RawRecord, int]):
    def __init__(self, path: Path, resume_at: int | None) -> None:
        self._path = path
        self._file = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._file.seek(resume_at or 0)
        self._name = path.name

    def next_batch(self) -> list[RawRecord]:
        batch = []
        for _ in range(BATCH_LINES):
            offset = self._file.tell()
            line = self._file.readline()
            if not line:
                if not batch:
                    raise StopIteration
                break
            line = line.rstrip(b"\r\n")
            if line.strip():
                batch.append(RawRecord(f"{self._name}@{offset}", line))
        return batch

    def snapshot(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()


class JsonlFileSource(FixedPartitionedSource[RawRecord, int]):
    """One JSONL file; origin of each record is `name@byte_offset`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def list_parts(self) -> list[str]:
        return [str(self.path)]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _FilePartition:
        return _FilePartition(self.path, resume_state)


class _DemoPartition(StatefulSourcePartition[RawRecord, int]):
    def __init__(self, config: DemoConfig, resume_at: int | None) -> None:
        self._position = resume_at or 0
        self._lines = itertools.islice(iter(DemoGenerator(config)), self._position, None)

    def next_batch(self) -> list[RawRecord]:
        batch = [
            RawRecord(f"demo#{self._position + i}", line)
            for i, line in enumerate(itertools.islice(self._lines, 500))
        ]
        if not batch:
            raise StopIteration
        self._position += len(batch)
        return batch

    def snapshot(self) -> int:
        return self._position


class DemoSource(FixedPartitionedSource[RawRecord, int]):
    """The deterministic demo stream; its snapshot is the number of records emitted."""

    def __init__(self, config: DemoConfig | None = None) -> None:
        self.config = config or DemoConfig()

    def list_parts(self) -> list[str]:
        return ["demo"]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _DemoPartition:
        return _DemoPartition(self.config, resume_state)


class _StdinPartition(StatelessSourcePartition[RawRecord]):
    def __init__(self) -> None:
        self._stream = sys.stdin.buffer
        self._count = 0
        self._run = f"stdin:{int(time.time())}:{os.getpid()}"

    def next_batch(self) -> list[RawRecord]:
        batch: list[RawRecord] = []
        while len(batch) < BATCH_LINES:
            if batch and not select.select([self._stream], [], [], 0)[0]:
                break  # hand over what we have instead of waiting for more
            line = self._stream.readline()
            if not line:
                if not batch:
                    raise StopIteration
                break
            self._count += 1
            line = line.rstrip(b"\r\n")
            if line.strip():
                batch.append(RawRecord(f"{self._run}#{self._count}", line))
        return batch


class StdinSource(DynamicSource[RawRecord]):
    """JSONL on standard input, read by worker 0 only."""

    def build(self, step_id: str, worker_index: int, worker_count: int) -> StatelessSourcePartition:
        return _StdinPartition() if worker_index == 0 else _NothingPartition()


class _NothingPartition(StatelessSourcePartition[RawRecord]):
    def next_batch(self) -> list[RawRecord]:
        raise StopIteration


class _OutboxFeedbackPartition(StatefulSourcePartition[RawRecord, int]):
    def __init__(self, outbox: Outbox, resume_at: int | None) -> None:
        self._outbox = outbox
        self._cursor = resume_at or 0

    def next_batch(self) -> list[RawRecord]:
        rows = self._outbox.feedback_after(self._cursor, limit=500)
        if rows:
            self._cursor = rows[-1][0]
        return [
            RawRecord(f"bus-feedback#{pos}", json.dumps(record, ensure_ascii=False).encode())
            for pos, record in rows
        ]

    def next_awake(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=1)  # poll the outbox once a second

    def snapshot(self) -> int:
        return self._cursor


class OutboxFeedbackSource(FixedPartitionedSource[RawRecord, int]):
    """Analysts' feedback sent through the gRPC bus (SubmitFeedback), read from the outbox.

    Its position is snapshotted, so a label is learned once even across restarts.
    It never ends: use it only with live inputs.
    """

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def list_parts(self) -> list[str]:
        return ["bus-feedback"]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None):
        return _OutboxFeedbackPartition(self.outbox, resume_state)


def kafka_record(msg: KafkaSourceMessage | object) -> RawRecord | DeadLetter:
    """A Kafka message as a RawRecord, or a DeadLetter for consumer errors and empty values."""
    if isinstance(msg, KafkaSourceMessage):
        origin = f"kafka:{msg.topic}/{msg.partition}@{msg.offset}"
        if msg.value is None:
            return DeadLetter(origin, "empty Kafka message (tombstone)", b"")
        return RawRecord(origin, msg.value)
    error = getattr(msg, "err", None)
    inner = getattr(msg, "msg", None)
    origin = f"kafka:{getattr(inner, 'topic', '?')}/{getattr(inner, 'partition', '?')}@{getattr(inner, 'offset', '?')}"
    data = getattr(inner, "value", None) or b""
    return DeadLetter(origin, f"Kafka consumer error: {error}", data)


def read_input(
    flow: Dataflow,
    spec: InputSpec,
    demo: DemoConfig | None = None,
    name: str = "read",
    on_message: Callable[[str, int, int], None] | None = None,
) -> tuple[Stream, Stream | None]:
    """Add the input step(s) named `name`; returns RawRecords and, for Kafka, its DeadLetters.

    ``on_message(topic, partition, offset)`` sees every Kafka message taken (for the lag).
    """
    if isinstance(spec, KafkaTopic):
        source = KafkaSource(
            [spec.bootstrap],
            [spec.topic],
            tail=not spec.stop_at_end,
            starting_offset=OFFSET_BEGINNING,
            raise_on_errors=False,
            batch_size=2000,
        )
        messages = op.input(f"{name}_kafka", flow, source)
        if on_message is not None:
            op.inspect(
                f"{name}_kafka_position",
                messages,
                lambda _s, m: (
                    on_message(m.topic, m.partition, m.offset)
                    if isinstance(m, KafkaSourceMessage)
                    else None
                ),
            )
        records = op.map(f"{name}_kafka_record", messages, kafka_record)
        split = op.branch(f"{name}_kafka_ok", records, lambda r: isinstance(r, RawRecord))
        return split.trues, split.falses
    if isinstance(spec, DemoInput):
        source = DemoSource(demo)
    elif isinstance(spec, StdinInput):
        source = StdinSource()
    elif isinstance(spec, FileInput):
        source = JsonlFileSource(spec.path)
    else:  # pragma: no cover - exhaustive over InputSpec
        raise TypeError(spec)
    return op.input(name, flow, source), None
