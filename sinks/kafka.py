"""Kafka topic output for the alert and dead-letter streams.

A thin wrapper over confluent-kafka with idempotent production turned on and
every batch flushed before Bytewax moves on, so a crash never drops what an
epoch already wrote. Consumers deduplicate on the record key.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from confluent_kafka import KafkaException, Producer

from yuqing.core.endpoints import KafkaTopic


class RepeatFilter(logging.Filter):
    """Let a message through once per `every` seconds; say how often it came meanwhile.

    An unreachable broker makes librdkafka repeat the same line many times a
    second; operators need it once, with a count.
    """

    def __init__(self, every: float = 60.0) -> None:
        super().__init__()
        self.every = every
        self._seen: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        key = text.split("|", 3)[-1] if text.startswith("%") else text  # drop the rdkafka prefix
        now = time.monotonic()
        with self._lock:
            last, hidden = self._seen.get(key, (float("-inf"), 0))
            if now - last < self.every:
                self._seen[key] = (last, hidden + 1)
                return False
            self._seen[key] = (now, 0)
            if len(self._seen) > 1000:
                self._seen.clear()
        if hidden:
            record.msg, record.args = f"{text} (and {hidden} times more in {self.every:.0f} s)", ()
        return True


def kafka_logger() -> logging.Logger:
    """The logger librdkafka writes to (the `logger` client setting), repeats held back."""
    logger = logging.getLogger("yuqing.kafka")
    if not any(isinstance(f, RepeatFilter) for f in logger.filters):
        logger.addFilter(RepeatFilter())
    return logger


class _TopicPartition(StatelessSinkPartition[tuple[bytes, bytes]]):
    def __init__(self, target: KafkaTopic, on_write: Callable[[int], None] | None) -> None:
        self._target = target
        self._producer = Producer(
            {
                "enable.idempotence": True,
                "linger.ms": 5,
                "compression.type": "lz4",
                **target.client_config(logger=kafka_logger()),
            }
        )
        self._on_write = on_write
        self._errors: list[str] = []

    def _report(self, err, _msg) -> None:
        if err is not None:
            self._errors.append(str(err))

    def write_batch(self, items: list[tuple[bytes, bytes]]) -> None:
        for key, value in items:
            while True:
                try:
                    self._producer.produce(self._target.topic, value=value, key=key,
                                           on_delivery=self._report)
                    break
                except BufferError:
                    self._producer.poll(0.1)
        remaining = self._producer.flush(30)
        if remaining or self._errors:
            errors, self._errors = self._errors, []
            raise KafkaException(f"{self._target}: {remaining} undelivered; {errors[:3]}")
        if self._on_write:
            self._on_write(len(items))

    def close(self) -> None:
        self._producer.flush(30)


class KafkaTopicSink(DynamicSink[tuple[bytes, bytes]]):
    """Writes (key, value) byte pairs to one Kafka topic."""

    def __init__(self, target: KafkaTopic, on_write: Callable[[int], None] | None = None) -> None:
        self.target = target
        self.on_write = on_write

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _TopicPartition:
        return _TopicPartition(self.target, self.on_write)
