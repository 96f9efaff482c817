"""Bytewax inputs: JSONL file, stdin, the demo generator and Kafka, all as `RawRecord`s.

Replayable inputs (file, demo, Kafka) snapshot their position, so `--recovery`
resumes exactly where the last snapshot was taken. Stdin cannot be replayed.
Every input ends at its next batch once the run's `stop` event is set (SIGTERM,
Ctrl-C), so the flow drains: sinks flush and the last snapshot is taken.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from threading import Event

from bytewax import operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import (
    DynamicSource,
    FixedPartitionedSource,
    StatefulSourcePartition,
    StatelessSourcePartition,
)

from yuqing.bus.outbox import Outbox
from yuqing.core.endpoints import DemoInput, FileInput, InputSpec, KafkaTopic, StdinInput
from yuqing.core.records import RawRecord
from yuqing.dataflows.kafka_source import DEFAULT_GROUP, LIVE_GATHER, KafkaInput, StartBook
from yuqing.dataflows.progress import InputProgress
from yuqing.dataflows.thread_state import keep_thread_state
from yuqing.evaluation.demo import DemoConfig, DemoGenerator

# Lines a file or stdin partition hands over at once, at most: a backlog goes in big batches,
# since every batch costs an insert per table (~10-20 ms each in chDB) and a numpy pass per
# step; live input hands over what it has, so it never waits for a batch to fill. 8,000 took
# a replay from ~6,300 to ~7,300 mentions/s per core against 2,000 (docs/cluster.md, "Batch sizes").
BATCH_LINES = 8000


class _FilePartition(StatefulSourcePartition[RawRecord, int]):
    def __init__(
        self, path: Path, resume_at: int | None, stop: Event, progress: InputProgress | None
    ) -> None:
        keep_thread_state()  # built on the worker thread that will read it
        self._path = path
        self._stop = stop
        self._file = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._file.seek(resume_at or 0)
        self._name = path.name
        self._progress = progress
        self._size = _size(path)  # a FIFO or a growing file has no share to show

    def next_batch(self) -> list[RawRecord]:
        if self._stop.is_set():
            raise StopIteration
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
        if self._progress is not None and self._size:
            self._progress.report(str(self._path), self._file.tell(), self._size)
        return batch

    def snapshot(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()


class JsonlFileSource(FixedPartitionedSource[RawRecord, int]):
    """One JSONL file; origin of each record is `name@byte_offset`."""

    def __init__(
        self, path: Path, stop: Event | None = None, progress: InputProgress | None = None
    ) -> None:
        self.path = path
        self.stop = stop if stop is not None else Event()
        self.progress = progress

    def list_parts(self) -> list[str]:
        return [str(self.path)]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _FilePartition:
        return _FilePartition(self.path, resume_state, self.stop, self.progress)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else 0
    except OSError:
        return 0


class _DemoPartition(StatefulSourcePartition[RawRecord, int]):
    def __init__(
        self, config: DemoConfig, resume_at: int | None, stop: Event,
        progress: InputProgress | None,
    ) -> None:
        keep_thread_state()  # built on the worker thread that will read it
        self._stop = stop
        self._position = resume_at or 0
        self._generator = DemoGenerator(config)
        self._lines = itertools.islice(iter(self._generator), self._position, None)
        self._progress = progress
        self._minutes = int(config.hours * 60)

    def next_batch(self) -> list[RawRecord]:
        if self._stop.is_set():
            raise StopIteration
        batch = [
            RawRecord(f"demo#{self._position + i}", line)
            for i, line in enumerate(itertools.islice(self._lines, BATCH_LINES))
        ]
        if not batch:
            raise StopIteration
        self._position += len(batch)
        if self._progress is not None:
            self._progress.report("demo", self._generator.minutes_done, self._minutes)
        return batch

    def snapshot(self) -> int:
        return self._position


class DemoSource(FixedPartitionedSource[RawRecord, int]):
    """The deterministic demo stream; its snapshot is the number of records emitted."""

    def __init__(
        self, config: DemoConfig | None = None, stop: Event | None = None,
        progress: InputProgress | None = None,
    ) -> None:
        self.config = config or DemoConfig()
        self.stop = stop if stop is not None else Event()
        self.progress = progress

    def list_parts(self) -> list[str]:
        return ["demo"]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _DemoPartition:
        return _DemoPartition(self.config, resume_state, self.stop, self.progress)


class _StdinPartition(StatelessSourcePartition[RawRecord]):
    def __init__(self, stop: Event) -> None:
        self._stop = stop
        self._stream = sys.stdin.buffer
        self._count = 0
        self._run = f"stdin:{int(time.time())}:{os.getpid()}"

    def next_batch(self) -> list[RawRecord]:
        if self._stop.is_set():
            raise StopIteration
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

    def __init__(self, stop: Event | None = None) -> None:
        self.stop = stop if stop is not None else Event()

    def build(self, step_id: str, worker_index: int, worker_count: int) -> StatelessSourcePartition:
        return _StdinPartition(self.stop) if worker_index == 0 else _NothingPartition()


class _NothingPartition(StatelessSourcePartition[RawRecord]):
    def next_batch(self) -> list[RawRecord]:
        raise StopIteration


class _OutboxFeedbackPartition(StatefulSourcePartition[RawRecord, int]):
    def __init__(self, outbox: Outbox, resume_at: int | None, stop: Event) -> None:
        self._stop = stop
        self._outbox = outbox
        self._cursor = resume_at or 0

    def next_batch(self) -> list[RawRecord]:
        if self._stop.is_set():
            raise StopIteration
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

    def __init__(self, outbox: Outbox, stop: Event | None = None, owner: bool = True) -> None:
        self.outbox = outbox
        self.stop = stop if stop is not None else Event()
        self.owner = owner  # only the process that serves the bus has the outbox

    def list_parts(self) -> list[str]:
        return ["bus-feedback"] if self.owner else []

    def build_part(self, step_id: str, for_part: str, resume_state: int | None):
        return _OutboxFeedbackPartition(self.outbox, resume_state, self.stop)


@dataclass(frozen=True)
class KafkaOptions:
    """How the Kafka input consumes: its consumer group and where partitions without a snapshot start."""

    group: str = DEFAULT_GROUP
    start: str = "committed"
    recovery: Path | None = None  # with --recovery: where first starts are recorded (StartBook)
    gather: timedelta = LIVE_GATHER  # a partition's wait after a short poll (--kafka-gather)


def read_input(
    flow: Dataflow,
    spec: InputSpec,
    demo: DemoConfig | None = None,
    name: str = "read",
    on_message: Callable[[str, int, int], None] | None = None,
    stop: Event | None = None,
    kafka: KafkaOptions | None = None,
    progress: InputProgress | None = None,
) -> tuple[Stream, Stream | None]:
    """Add the input step(s) named `name`; returns RawRecords and, for Kafka, its DeadLetters.

    ``on_message(topic, partition, offset)`` sees every Kafka message taken (for the lag).
    """
    stop = stop if stop is not None else Event()
    if isinstance(spec, KafkaTopic):
        kafka = kafka or KafkaOptions()
        source = KafkaInput(
            spec, group=kafka.group, start=kafka.start, stop=stop, on_message=on_message,
            progress=progress,
            starts=StartBook(kafka.recovery / name) if kafka.recovery is not None else None,
            gather=kafka.gather,
        )
        records = op.input(f"{name}_kafka", flow, source)
        split = op.branch(f"{name}_kafka_ok", records, lambda r: isinstance(r, RawRecord))
        return split.trues, split.falses
    if isinstance(spec, DemoInput):
        source = DemoSource(demo, stop, progress)
    elif isinstance(spec, StdinInput):
        source = StdinSource(stop)
    elif isinstance(spec, FileInput):
        source = JsonlFileSource(spec.path, stop, progress)
    else:  # pragma: no cover - exhaustive over InputSpec
        raise TypeError(spec)
    return op.input(name, flow, source), None
