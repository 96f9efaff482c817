"""Kafka topic output for the alert and dead-letter streams.

A thin wrapper over confluent-kafka with idempotent production turned on and
every batch flushed before Bytewax moves on, so a crash never drops what an
epoch already wrote. Consumers deduplicate on the record key.
"""

from __future__ import annotations

from collections.abc import Callable

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from confluent_kafka import KafkaException, Producer

from yuqing.core.endpoints import KafkaTopic


class _TopicPartition(StatelessSinkPartition[tuple[bytes, bytes]]):
    def __init__(self, target: KafkaTopic, on_write: Callable[[int], None] | None) -> None:
        self._target = target
        self._producer = Producer({
            "bootstrap.servers": target.bootstrap,
            "enable.idempotence": True,
            "linger.ms": 5,
            "compression.type": "lz4",
        })
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
