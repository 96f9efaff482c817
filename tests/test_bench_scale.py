"""The scale benchmark's ceiling: the brands split by traffic, each group on its own topic."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from confluent_kafka import Consumer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "loadtest"))

from bench_scale import produce, split_brands


def test_brands_split_into_groups_of_about_equal_traffic():
    counts = {"a": 50, "b": 30, "c": 20, "d": 10, "e": 5}
    groups = split_brands(counts, 2)
    loads = sorted(sum(counts[b] for b in g) for g in groups)
    assert loads == [55, 60]  # a+d against b+c+e: no split of these is closer
    assert set().union(*groups) == set(counts) and not groups[0] & groups[1]


def test_more_groups_than_brands_leaves_groups_empty_and_ties_break_by_name():
    assert split_brands({"x": 1, "y": 1}, 3) == [{"x"}, {"y"}, set()]
    assert split_brands({}, 2) == [set(), set()]


def test_each_brand_goes_whole_to_one_topic(kafka_broker, kafka_topic_factory):
    topics = [kafka_topic_factory(partitions=1), kafka_topic_factory(partitions=1)]
    sent = produce(kafka_broker.bootstrap, topics, hours=0.25, rate=8.0)
    brands_of = []
    for topic in topics:
        consumer = Consumer({"bootstrap.servers": kafka_broker.bootstrap, "group.id": topic,
                             "auto.offset.reset": "earliest"})
        consumer.subscribe([topic])
        keys: list[str] = []
        while len(keys) < sent[topics.index(topic)]:
            message = consumer.poll(10)
            assert message is not None, f"{topic}: {len(keys)} of {sent} messages read"
            keys.append((message.key() or b"").decode())  # no brand: the first topic
            assert json.loads(message.value())["text"]
        consumer.close()
        brands_of.append(set(keys))
    assert all(sent) and sum(sent) > 100
    assert brands_of[0] and brands_of[1] and not brands_of[0] & brands_of[1]
