"""The flow through a real Kafka broker: exact windows, same tables as a file, dead letters."""

from __future__ import annotations

import json
import time

import pytest

from yuqing.dataflows.launcher import RunOptions, launch

from mentions_factory import WINDOW_QUERY, encode, expected_windows, make_mentions, rows_to_windows

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

MENTION_COLUMNS = "id, source, brand, published_at, text, followers, author_id"


def test_mentions_from_kafka_give_exactly_the_expected_windows_and_match_a_file_replay(
    kafka_broker, kafka_topic_factory, tmp_path, chdb_dir
):
    mentions = make_mentions(2000, minutes=20, seed=21)
    topic = kafka_topic_factory()
    kafka_broker.produce(topic, [encode(m) for m in mentions])
    from_kafka = f"chdb://{chdb_dir}?database=kafka_run"
    launch(RunOptions(input=f"kafka://{kafka_broker.bootstrap}/{topic}?until=end", store=from_kafka,
                      alerts=str(tmp_path / "a1.jsonl"), dlq=str(tmp_path / "d1.jsonl")))
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(encode(m) for m in mentions))
    from_file = f"chdb://{chdb_dir}?database=file_run"
    launch(RunOptions(input=str(tmp_path / "in.jsonl"), store=from_file,
                      alerts=str(tmp_path / "a2.jsonl"), dlq=str(tmp_path / "d2.jsonl")))

    from yuqing.core.endpoints import parse_store
    from yuqing.sinks.clickhouse import Store

    store = Store(parse_store(from_kafka))
    kafka_windows = store.query(WINDOW_QUERY.replace("FROM ", "FROM kafka_run."))
    file_windows = store.query(WINDOW_QUERY.replace("FROM ", "FROM file_run."))
    assert rows_to_windows(kafka_windows) == expected_windows(mentions)
    assert kafka_windows == file_windows
    order = " FINAL ORDER BY id"
    assert (store.query(f"SELECT {MENTION_COLUMNS} FROM kafka_run.mentions{order}")
            == store.query(f"SELECT {MENTION_COLUMNS} FROM file_run.mentions{order}"))
    store.close()


def test_malformed_kafka_messages_land_in_the_dead_letter_topic_while_good_ones_flow(
    kafka_broker, kafka_topic_factory, tmp_path, store_url, store
):
    mentions = make_mentions(500, minutes=5, seed=22)
    bad = [b"not json at all", b'{"id": "b1"}', "\u7206\u96f7".encode("gbk"),
           encode({"id": "b2", "source": "weibo", "text": "x", "published_at": "2026-13-01T00:00:00Z"})]
    topic, dlq_topic = kafka_topic_factory(), kafka_topic_factory()
    values = [encode(m) for m in mentions[:250]] + bad + [encode(m) for m in mentions[250:]]
    kafka_broker.produce(topic, values)
    launch(RunOptions(input=f"kafka://{kafka_broker.bootstrap}/{topic}?until=end", store=store_url,
                      alerts=str(tmp_path / "a.jsonl"),
                      dlq=f"kafka://{kafka_broker.bootstrap}/{dlq_topic}"))
    letters = [json.loads(v) for v in kafka_broker.consume_all(dlq_topic, timeout=20)]
    assert len(letters) == 4
    assert [x["origin"].rsplit("@", 1)[1] for x in letters] == ["250", "251", "252", "253"]
    reasons = [x["reason"] for x in letters]
    assert reasons[0].startswith("not JSON") and reasons[1] == "source: required field is missing"
    assert reasons[2].startswith("not UTF-8") and "raw_base64" in letters[2]
    assert reasons[3].startswith("published_at")
    assert store.query("SELECT count() FROM mentions FINAL")[0][0] == 500
    assert rows_to_windows(store.query(WINDOW_QUERY)) == expected_windows(mentions)


def _commit(kafka_broker, topic: str, group: str, offset: int) -> None:
    """The group's committed offset of partition 0, as a consumer that read up to it leaves it."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": kafka_broker.bootstrap, "group.id": group})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
    finally:
        consumer.close()


def test_a_partition_starts_at_the_groups_committed_offset_asked_before_it_is_assigned(
    kafka_broker, kafka_topic_factory
):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    from yuqing.dataflows.kafka_source import stored_offset

    topic = kafka_topic_factory(partitions=1)
    kafka_broker.produce(topic, [b'{"n": %d}' % i for i in range(5)])
    consumer = Consumer({"bootstrap.servers": kafka_broker.bootstrap, "group.id": "starts"})
    try:
        tp = TopicPartition(topic, 0)
        assert stored_offset(consumer, tp) == OFFSET_BEGINNING  # nothing committed yet
        consumer.commit(offsets=[TopicPartition(topic, 0, 3)], asynchronous=False)
        assert stored_offset(consumer, tp) == 3
    finally:
        consumer.close()


def test_the_offset_a_recovery_store_begins_at_is_asked_not_guessed(kafka_broker, kafka_topic_factory):
    """Committed when the group has one, else the beginning; latest is the end."""
    from yuqing.core.endpoints import KafkaTopic
    from yuqing.dataflows.kafka_source import KafkaInput

    topic = kafka_topic_factory(partitions=1)
    kafka_broker.produce(topic, [b'{"n": %d}' % i for i in range(5)])
    spec = KafkaTopic((kafka_broker.bootstrap,), topic)
    assert KafkaInput(spec, group="begins")._resolve(0) == 0
    assert KafkaInput(spec, group="begins", start="latest")._resolve(0) == 5
    _commit(kafka_broker, topic, "begins", 3)
    assert KafkaInput(spec, group="begins")._resolve(0) == 3


def test_an_unreachable_broker_at_the_recovery_start_is_a_user_error():
    from yuqing.core.endpoints import KafkaTopic
    from yuqing.dataflows.kafka_source import KafkaInput
    from yuqing.errors import UserError

    spec = KafkaTopic(("127.0.0.1:1",), "mentions")
    with pytest.raises(UserError, match="no offsets of partition 0 from the broker"):
        KafkaInput(spec, group="nobody")._resolve(0)


def test_a_partition_reads_from_the_committed_offset_and_reports_its_share_of_the_input(
    kafka_broker, kafka_topic_factory
):
    """The share comes from the end offset the fetches carry: nothing is asked on the way."""
    from threading import Event

    from confluent_kafka import OFFSET_STORED

    from yuqing.core.endpoints import KafkaTopic
    from yuqing.dataflows.kafka_source import _KafkaPartition
    from yuqing.dataflows.progress import InputProgress

    topic = kafka_topic_factory(partitions=1)
    kafka_broker.produce(topic, [b'{"n": %d}' % i for i in range(10)])
    _commit(kafka_broker, topic, "shares", 4)
    progress = InputProgress()
    spec = KafkaTopic((kafka_broker.bootstrap,), topic, stop_at_end=True)
    part = _KafkaPartition(spec, 0, OFFSET_STORED, "shares", Event(), None, 2, progress)
    records, shares = [], []
    try:
        for _ in range(2000):  # until the end of the partition
            try:
                batch = part.next_batch()
            except StopIteration:
                break
            records += batch
            shares.append(progress.fraction())
            if not batch:
                time.sleep(0.01)
    finally:
        part.close()
    assert [r.origin.rsplit("@", 1)[1] for r in records] == [str(n) for n in range(4, 10)]
    assert {2 / 6, 4 / 6} & set(shares)  # offsets read of the 6 from the committed one to the end
    assert shares[-1] == 1.0


def test_a_live_partition_gathers_a_short_poll_and_reads_a_backlog_at_once(
    kafka_broker, kafka_topic_factory
):
    """Full batches (a backlog) at once; after a short poll 50 ms of gathering; idle, 10 ms."""
    from datetime import timedelta
    from threading import Event

    from yuqing.core.endpoints import KafkaTopic
    from yuqing.dataflows.kafka_source import LIVE_GATHER, POLL_PAUSE, _KafkaPartition

    topic = kafka_topic_factory(partitions=1)
    kafka_broker.produce(topic, [b'{"n": %d}' % i for i in range(3)])
    part = _KafkaPartition(KafkaTopic((kafka_broker.bootstrap,), topic), 0, 0, "gather", Event(),
                           None, 2, None)
    try:
        counts, waits = _batches_and_waits(part, 3)
        assert part.next_batch() == []
        idle = _wait(part)
    finally:
        part.close()
    assert counts == [2, 1]
    slack = timedelta(seconds=1)
    assert waits[0] is None  # a full batch: more may wait, read at once
    assert LIVE_GATHER <= waits[1] <= LIVE_GATHER + slack  # a short one: gather for a while
    assert POLL_PAUSE <= idle <= POLL_PAUSE + slack


def test_the_gather_time_is_a_setting_that_reaches_each_partition(kafka_broker, kafka_topic_factory):
    """--kafka-gather: RunOptions -> the flow's Kafka options -> the input -> its partitions."""
    from datetime import timedelta
    from threading import Event

    from yuqing.core.endpoints import KafkaTopic
    from yuqing.dataflows.kafka_source import KafkaInput
    from yuqing.dataflows.launcher import RunOptions, make_config

    topic = kafka_topic_factory(partitions=1)
    kafka_broker.produce(topic, [b'{"n": %d}' % i for i in range(3)])
    cfg = make_config(RunOptions(input=f"kafka://{kafka_broker.bootstrap}/{topic}",
                                 kafka_gather=0.3))
    assert cfg.kafka.gather == timedelta(seconds=0.3)
    source = KafkaInput(KafkaTopic((kafka_broker.bootstrap,), topic), group="gather-set",
                        start="earliest", stop=Event(), batch_size=2, gather=cfg.kafka.gather)
    part = source.build_part("read", "0", None)
    try:
        counts, waits = _batches_and_waits(part, 3)
    finally:
        part.close()
    assert counts == [2, 1]
    assert timedelta(seconds=0.3) <= waits[-1] <= timedelta(seconds=1.3)  # after the short one


def _batches_and_waits(part, messages: int) -> tuple[list[int], list]:
    """Poll until ``messages`` came (20 s at most): each batch's size, and the wait the
    partition asked for right after it."""
    counts, waits = [], []
    deadline = time.monotonic() + 20
    while sum(counts) < messages and time.monotonic() < deadline:
        batch = part.next_batch()
        if batch:
            counts.append(len(batch))
            waits.append(_wait(part))
        else:
            time.sleep(0.01)
    return counts, waits


def _wait(part):
    """How long the partition asks Bytewax to wait before its next poll (None: not at all)."""
    from datetime import UTC, datetime

    before = datetime.now(UTC)
    awake = part.next_awake()
    return None if awake is None else awake - before
