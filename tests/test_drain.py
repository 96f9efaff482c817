"""SIGTERM and Ctrl-C drain a run: summary, exit 143/130, no traceback, and a restart loses nothing."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from process_lines import wait_for_line, wait_for_match
from replay_runs import COMPARED, history, produce_demo_by_brand, run_args, tables
from store_fixtures import sql_in_subprocess

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _assert_clean(stderr: str) -> None:
    assert "Traceback" not in stderr and "panicked" not in stderr, stderr[-3000:]


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_drains_a_replay_and_the_restart_equals_an_uninterrupted_run(
        kafka_broker, kafka_topic_factory, tmp_path, sig, code):
    topic = kafka_topic_factory(partitions=3)
    produce_demo_by_brand(kafka_broker, topic)
    replay = f"kafka://{kafka_broker.bootstrap}/{topic}?until=end"
    run = tmp_path / "run"
    run.mkdir()
    store = f"chdb://{run}/store?database=radar"
    args = run_args(replay, store, run)

    first = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        wait_for_line(first, "progress: ", timeout=60)
        wait_for_match(first, r"progress: .*\b[1-9][\d,]* mentions at", timeout=60)  # writing
        first.send_signal(sig)
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == code, err[-3000:]
    _assert_clean(err)
    assert f"stopped by {sig.name} (drained)" in out and "mentions written" in out
    assert f"{sig.name}: draining" in err
    drained = sql_in_subprocess(store, "SELECT count() AS n FROM mentions FINAL")[0]["n"]

    resumed = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from recovery store" in resumed.stderr

    ref = tmp_path / "ref"
    ref.mkdir()
    reference = subprocess.run(run_args(replay, f"chdb://{ref}/store?database=radar", ref),
                               capture_output=True, text=True, timeout=300, check=False)
    assert reference.returncode == 0, reference.stderr[-3000:]
    total = sql_in_subprocess(f"chdb://{ref}/store?database=radar",
                              "SELECT count() AS n FROM mentions FINAL")[0]["n"]
    assert 0 < drained < total, "the signal must land mid-replay"

    after, uninterrupted = tables(store), tables(f"chdb://{ref}/store?database=radar")
    for name in COMPARED:
        assert after[name] == uninterrupted[name], f"table {name} differs after a drain"
    alerts = (run / "alerts.jsonl").read_bytes().splitlines()
    assert len(alerts) == len(set(alerts))
    assert sorted(alerts) == sorted((ref / "alerts.jsonl").read_bytes().splitlines())
    assert history(run / "outbox.sqlite3") == history(ref / "outbox.sqlite3")


def test_a_live_run_commits_offsets_to_its_group_and_resumes_from_them(
        kafka_broker, kafka_topic_factory, tmp_path):
    """Without --recovery, a restart starts at the group's committed offsets, not the beginning."""
    from mentions_factory import encode, make_mentions

    topic = kafka_topic_factory(partitions=2)
    mentions = make_mentions(600, minutes=10, seed=77)
    kafka_broker.produce(topic, [encode(m) for m in mentions[:400]])
    live = f"kafka://{kafka_broker.bootstrap}/{topic}"
    store = f"chdb://{tmp_path}/store?database=radar"
    args = run_args(live, store, tmp_path)
    args.remove("--recovery")
    args.remove(str(tmp_path / "recovery"))

    first = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        wait_for_line(first, "running:", timeout=60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _committed(kafka_broker, topic, f"g-{tmp_path.name}",
                                                          2) < 400:
            time.sleep(0.3)
        first.send_signal(signal.SIGTERM)
        _out, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 143, err[-3000:]
    _assert_clean(err)
    assert _committed(kafka_broker, topic, f"g-{tmp_path.name}", 2) == 400, "lag tools see it"

    kafka_broker.produce(topic, [encode(m) for m in mentions[400:]])
    second = subprocess.run([*args[:5], live + "?until=end", *args[6:]], capture_output=True,
                            text=True, timeout=120, check=False)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "from its committed offset" in second.stderr
    written = sql_in_subprocess(store, "SELECT count() AS n, uniqExact(id) AS u FROM mentions FINAL")
    assert written == [{"n": 600, "u": 600}]
    summary = second.stdout
    assert "mentions written" in summary
    taken = int(summary.split("mentions written")[1].split()[0].replace(",", ""))
    assert taken == 200, "the restart read only what came after the committed offsets"


def _committed(broker, topic: str, group: str, partitions: int) -> int:
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)],
                                   timeout=10)
    finally:
        consumer.close()
    return sum(max(0, tp.offset) for tp in found)
