"""The Kafka input as operators run it: a consumer group, a start position, any client setting.

Each topic partition is a Bytewax partition whose snapshot is the next offset
to read, so `--recovery` resumes exactly there. Without a snapshot a partition
starts where `start` says: `committed` (the group's committed offset, or the
beginning where the group has none), `earliest` or `latest`. Offsets are
committed to the group one epoch behind the snapshots (what the flow has
taken and snapshotted), so standard lag tools see the consumer group and a
run without `--recovery` restarts near where it stopped. A partition ends at
its end for `?until=end` replays, and at once when the run is asked to stop.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from threading import Event
from urllib.parse import quote

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    OFFSET_STORED,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from yuqing.core.endpoints import KafkaTopic
from yuqing.core.records import DeadLetter, RawRecord
from yuqing.dataflows.progress import InputProgress
from yuqing.dataflows.thread_state import keep_thread_state
from yuqing.errors import UserError
from yuqing.sinks.kafka import kafka_logger

log = logging.getLogger("yuqing.kafka")

START_OFFSETS = {"committed": OFFSET_STORED, "earliest": OFFSET_BEGINNING, "latest": OFFSET_END}
DEFAULT_GROUP = "yuqing-radar"
POLL_PAUSE = timedelta(milliseconds=10)  # rest after an empty poll of a partition
# Rest after a poll that found some messages but no full batch (the default of --kafka-gather):
# a live stream then comes in batches of this much time, not of the few messages each 10 ms
# brings. Every batch pays each step's fixed cost (a numpy call, a Python call per step), so at
# 2,000 mentions/s the flow's CPU per mention was ~3x a replay's; a mention waits at most this
# much longer.
LIVE_GATHER = timedelta(milliseconds=50)
METADATA_TIMEOUT = 5.0  # seconds to wait for the broker's answer before saying it is unreachable

Record = RawRecord | DeadLetter


def topic_partitions(topic: KafkaTopic, flag: str, timeout: float = METADATA_TIMEOUT) -> list[int]:
    """The topic's partition numbers, or a `UserError` that says what is wrong, within `timeout`."""
    try:
        admin = AdminClient(topic.client_config(logger=kafka_logger()))
    except Exception as err:  # KafkaException: an unknown or invalid client setting
        raise UserError(f"{flag} {topic}: {_reason(err)}; see librdkafka's CONFIGURATION.md") from None
    try:
        metadata = admin.list_topics(topic.topic, timeout=timeout)
    except Exception as err:  # KafkaException: transport failure or timeout
        raise UserError(
            f"{flag} {topic}: no answer from the Kafka broker(s) {topic.bootstrap} within "
            f"{timeout:.0f} s ({_reason(err)}); check the address and that Kafka is up"
        ) from None
    found = metadata.topics.get(topic.topic)
    if found is None or found.error is not None or not found.partitions:
        why = found.error.str() if found is not None and found.error is not None else "not found"
        raise UserError(
            f"{flag} {topic}: topic {topic.topic!r} is not on the broker ({why}); create it, "
            f"e.g. kafka-topics.sh --bootstrap-server {topic.brokers[0]} --create "
            f"--topic {topic.topic} --partitions 3"
        )
    return sorted(found.partitions)


STORED_PATIENCE = 30.0  # seconds to keep asking a group coordinator that is not ready yet


def stored_offset(consumer: Consumer, tp: TopicPartition, patience: float = STORED_PATIENCE) -> int:
    """The group's committed offset of ``tp`` (the beginning when it has none), asked before
    the partition is assigned.

    Assigned at `OFFSET_STORED`, librdkafka asks the group coordinator itself,
    and when that first request failed (a broker seconds old answered "Not
    coordinator") the partition never started reading. Here the question is
    asked again until ``patience`` runs out; then librdkafka gets its turn.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            [done] = consumer.committed([tp], timeout=METADATA_TIMEOUT)
            if done.error is None:
                return done.offset if done.offset >= 0 else OFFSET_BEGINNING
            why = done.error.str()
        except KafkaException as err:
            why = _reason(err)
        if time.monotonic() >= deadline:
            log.warning("Kafka %s/%d: the committed offset is unknown after %.0f s (%s); "
                        "leaving it to the consumer", tp.topic, tp.partition, patience, why)
            return OFFSET_STORED
        time.sleep(0.5)


def _committed_offset(topic: KafkaTopic, group: str, partition: int) -> int:
    """`stored_offset` asked through a consumer of its own, closed before reading starts.

    A consumer that asked its group coordinator and was then assigned the
    partition delivered its first message 1.0-1.5 s later in most tries
    (measured on the test broker); a fresh consumer assigned the same offset
    delivers it within ~10 ms. So the question and the reading use two.
    """
    asker = _asking_consumer(topic, group)
    try:
        return stored_offset(asker, TopicPartition(topic.topic, partition))
    finally:
        asker.close()


def _asking_consumer(topic: KafkaTopic, group: str) -> Consumer:
    """A consumer of the group that only asks about offsets and never reads."""
    return Consumer(topic.client_config(
        **{"group.id": group, "enable.auto.commit": False, "logger": kafka_logger()}))


def _reason(err: Exception) -> str:
    arg = err.args[0] if err.args else err
    return arg.str() if isinstance(arg, KafkaError) else str(arg)


class _KafkaPartition(StatefulSourcePartition[Record, int]):
    def __init__(
        self,
        topic: KafkaTopic,
        partition: int,
        start: int,
        group: str,
        stop: Event,
        on_message: Callable[[str, int, int], None] | None,
        batch_size: int,
        progress: InputProgress | None = None,
        gather: timedelta = LIVE_GATHER,
    ) -> None:
        keep_thread_state()  # built on the worker thread that will read it
        if start == OFFSET_STORED:
            start = _committed_offset(topic, group, partition)
        self._consumer = Consumer(
            topic.client_config(
                **{
                    "group.id": group,
                    "enable.auto.commit": False,
                    "enable.partition.eof": topic.stop_at_end,
                    "auto.offset.reset": "earliest",  # a group with no commit starts at the beginning
                    "logger": kafka_logger(),
                }
            )
        )
        self._consumer.assign([TopicPartition(topic.topic, partition, start)])
        self._topic, self._partition = topic.topic, partition
        self._start = start
        self._next: int | None = start if start >= 0 else None  # None until the first message
        self._committable: int | None = None
        self._stop, self._on_message, self._batch_size = stop, on_message, batch_size
        self._gather = gather
        self._ended = False
        self._progress = progress if topic.stop_at_end else None  # a live topic has no end
        self._polled = self._batch_size  # messages the last poll found: none yet, so ask at once
        self._first: int | None = None  # first offset this run read
        self._span: tuple[int, int] | None = None  # (first offset this run, end offset)

    def next_batch(self) -> list[Record]:
        if self._ended or self._stop.is_set():
            raise StopIteration
        batch: list[Record] = []
        # What librdkafka has already fetched, without waiting: a worker polls all its
        # partitions in turn, and a wait on each one adds up to the mention's latency.
        messages = self._consumer.consume(self._batch_size, 0)
        self._polled = len(messages)
        for msg in messages:
            error = msg.error()
            if error is not None and error.code() == KafkaError._PARTITION_EOF:
                self._ended = True  # hand over this batch; end at the next call
                if self._progress is not None:
                    self._progress.report(f"{self._topic}/{self._partition}", 1, 1)
                break
            origin = f"kafka:{self._topic}/{self._partition}@{msg.offset()}"
            if error is not None:
                if msg.offset() is None or msg.offset() < 0:  # about the client, not a message
                    log.warning("Kafka %s/%d: %s", self._topic, self._partition, error.str())
                else:
                    batch.append(DeadLetter(origin, f"Kafka consumer error: {error.str()}", b""))
                continue
            value = msg.value()
            if value is None:
                batch.append(DeadLetter(origin, "empty Kafka message (tombstone)", b""))
            else:
                batch.append(RawRecord(origin, value))
            if self._first is None:
                self._first = msg.offset()
            self._next = msg.offset() + 1
            if self._on_message is not None:
                self._on_message(self._topic, self._partition, msg.offset())
        if self._progress is not None and self._next is not None and not self._ended:
            self._report_progress()
        return batch

    def next_awake(self) -> datetime | None:
        """Ask again at once while full batches come (a backlog), after a short one in
        the gather time (LIVE_GATHER unless set), after an empty poll in POLL_PAUSE."""
        if self._polled >= self._batch_size:
            return None
        return datetime.now(UTC) + (self._gather if self._polled else POLL_PAUSE)

    def _report_progress(self) -> None:
        """Offsets read of those that were in the partition when this run first read it."""
        if self._span is None:
            # The end as the last fetch response gave it, never asked of the broker here:
            # asked on the worker thread at the first batch, it held the flow for about a
            # second before any mention went on.
            try:
                _, end = self._consumer.get_watermark_offsets(
                    TopicPartition(self._topic, self._partition), cached=True
                )
            except Exception:  # no share shown for this partition; reading goes on
                self._progress = None
                return
            if end < 0:  # not known yet: the next batch asks again
                return
            self._span = (self._first if self._first is not None else self._next, end)
        first, end = self._span
        self._progress.report(f"{self._topic}/{self._partition}", self._next - first, end - first)

    def snapshot(self) -> int:
        if self._committable is not None:  # what the previous epoch took, now snapshotted
            self._commit(self._committable)
        self._committable = self._next
        return self._next if self._next is not None else self._position()

    def _position(self) -> int:
        """Where the consumer stands before its first message (resolving earliest/committed)."""
        try:
            [tp] = self._consumer.position([TopicPartition(self._topic, self._partition)])
            return tp.offset if tp.offset >= 0 else self._start
        except Exception:
            return self._start

    def _commit(self, offset: int) -> None:
        try:
            self._consumer.commit(
                offsets=[TopicPartition(self._topic, self._partition, offset)], asynchronous=True
            )
        except Exception as err:  # lag tools lose sight for a while; the flow goes on
            log.warning("could not commit offset %d of %s/%d: %s", offset, self._topic,
                        self._partition, _reason(err))

    def close(self) -> None:
        if self._next is not None:
            self._commit(self._next)
        self._consumer.close()


class StartBook:
    """Where each partition began when the recovery store did (DIR/kafka-starts/TOPIC.PARTITION).

    Offsets are committed to the group one epoch behind the snapshots, but in a
    cluster a process can snapshot, and so commit, ahead of the epochs the
    whole cluster made durable. A partition with no durable snapshot must then
    start where this store's first run started it, not at the group's newer
    commit, or what was read but never stored would be skipped.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory) / "kafka-starts"

    def start(self, topic: str, partition: int, resolve: Callable[[], int]) -> int:
        path = self.directory / f"{quote(topic, safe='')}.{partition}"
        try:
            return int(path.read_text())
        except (OSError, ValueError):
            pass
        offset = resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(str(offset))
        partial.replace(path)
        return offset


class KafkaInput(FixedPartitionedSource[Record, int]):
    """A Kafka topic as RawRecords (and DeadLetters for consumer errors and tombstones)."""

    def __init__(
        self,
        topic: KafkaTopic,
        *,
        group: str = DEFAULT_GROUP,
        start: str = "committed",
        stop: Event | None = None,
        on_message: Callable[[str, int, int], None] | None = None,
        batch_size: int = 8000,  # at most, as BATCH_LINES: a backlog in big batches
        progress: InputProgress | None = None,
        starts: StartBook | None = None,
        gather: timedelta = LIVE_GATHER,
    ) -> None:
        if start not in START_OFFSETS:
            raise UserError(f"--kafka-start {start!r}: use one of {', '.join(START_OFFSETS)}")
        self.topic, self.group, self.start = topic, group, start
        self.stop = stop if stop is not None else Event()
        self.on_message, self.batch_size, self.progress = on_message, batch_size, progress
        self.starts = starts
        self.gather = gather

    def _resolve(self, partition: int) -> int:
        """The offset `start` names for a partition now, as a number.

        It is written down as where the recovery store began, so it must not be
        a guess: the committed offset is asked with `stored_offset`'s patience,
        and if the group coordinator still cannot say, the run stops with the
        reason rather than reading the partition again from its beginning.
        """
        consumer = _asking_consumer(self.topic, self.group)
        tp = TopicPartition(self.topic.topic, partition)
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=METADATA_TIMEOUT)
            if self.start == "latest":
                return high
            if self.start == "committed":
                offset = stored_offset(consumer, tp)
                if offset == OFFSET_STORED:
                    raise UserError(
                        f"--input {self.topic}: group {self.group!r} did not say its committed "
                        f"offset of partition {partition} within {STORED_PATIENCE:.0f} s (its "
                        "coordinator is not ready); start again once the broker is up"
                    )
                if offset >= 0:
                    return offset
            return low
        except KafkaException as err:
            raise UserError(
                f"--input {self.topic}: no offsets of partition {partition} from the broker "
                f"within {METADATA_TIMEOUT:.0f} s ({_reason(err)}); check that Kafka is up"
            ) from None
        finally:
            consumer.close()

    def list_parts(self) -> list[str]:
        return [str(p) for p in topic_partitions(self.topic, "--input")]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _KafkaPartition:
        start = START_OFFSETS[self.start] if resume_state is None else resume_state
        if resume_state is None and self.starts is not None:
            start = self.starts.start(self.topic.topic, int(for_part),
                                      lambda: self._resolve(int(for_part)))
            log.info("reading %s partition %s from offset %d (the %s offset of group %s when "
                     "the recovery store began)", self.topic, for_part, start, self.start,
                     self.group)
        elif resume_state is None:
            log.info("reading %s partition %s from its %s offset (group %s)", self.topic,
                     for_part, self.start, self.group)
        return _KafkaPartition(self.topic, int(for_part), start, self.group, self.stop,
                               self.on_message, self.batch_size, self.progress, self.gather)
