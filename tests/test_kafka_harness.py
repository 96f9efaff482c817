"""The test Kafka broker is real and keeps every message: proof for the harness."""

from __future__ import annotations

import os
from collections import Counter

import pytest
from confluent_kafka import Consumer, TopicPartition

from kafka_broker.harness import KafkaBroker

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_a_thousand_messages_over_three_partitions_come_back_exactly(
    kafka_broker: KafkaBroker, kafka_topic_factory
) -> None:
    topic = kafka_topic_factory(partitions=3)
    keys = [f"brand-{k}".encode() for k in range(10)]
    sent = {key: [f"{key.decode()}:{i}".encode() for i in range(100)] for key in keys}
    for key, values in sent.items():
        kafka_broker.produce(topic, values, key=key)

    received = kafka_broker.consume_all(topic, timeout=30)

    assert len(received) == 1000
    assert Counter(received) == Counter(v for values in sent.values() for v in values)
    for key, values in sent.items():  # one key, one partition: order is kept
        prefix = key + b":"
        assert [v for v in received if v.startswith(prefix)] == values
    per_partition = _record_counts(kafka_broker, topic)
    assert sorted(per_partition) == [0, 1, 2]
    assert sum(per_partition.values()) == 1000
    assert sum(1 for n in per_partition.values() if n) > 1


def test_topics_from_the_factory_are_isolated(
    kafka_broker: KafkaBroker, kafka_topic_factory
) -> None:
    first, second = kafka_topic_factory(), kafka_topic_factory()
    assert first != second

    kafka_broker.produce(first, [b"only-in-first"])

    assert kafka_broker.consume_all(first) == [b"only-in-first"]
    assert kafka_broker.consume_all(second) == []


def test_a_consumer_group_subscribes_and_commits_on_a_single_node(
    kafka_broker: KafkaBroker, kafka_topic_factory
) -> None:
    # Needs __consumer_offsets, which a single node can only hold with replication factor 1.
    topic = kafka_topic_factory(partitions=2)
    kafka_broker.produce(topic, [f"m{i}".encode() for i in range(20)])
    group = {"group.id": f"{topic}-group", "auto.offset.reset": "earliest"}
    consumer = Consumer(kafka_broker.client_config(**group, **{"enable.auto.commit": False}))
    try:
        consumer.subscribe([topic])
        seen: list[bytes] = []
        for _ in range(60):
            seen += [m.value() for m in consumer.consume(20, timeout=0.5) if m.error() is None]
            if len(seen) >= 20:
                break
        consumer.commit(asynchronous=False)
        committed = consumer.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=10)
    finally:
        consumer.close()

    assert sorted(seen) == sorted(f"m{i}".encode() for i in range(20))
    # a partition the producer happened to leave empty has no committed offset (-1001)
    assert sum(max(tp.offset, 0) for tp in committed) == 20


def test_stopping_a_broker_kills_the_jvm_and_removes_its_data(kafka_broker: KafkaBroker) -> None:
    with KafkaBroker(kafka_broker.lib_dir) as broker:
        pid, workdir = broker.pid, broker.workdir
        assert workdir.is_dir()
        assert broker.bootstrap != kafka_broker.bootstrap

    assert not workdir.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def _record_counts(broker: KafkaBroker, topic: str) -> dict[int, int]:
    consumer = Consumer(broker.client_config(**{"group.id": "watermarks"}))
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        counts = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            counts[p] = high - low
        return counts
    finally:
        consumer.close()
