"""Restart safety: SIGKILL mid-stream, restart from the recovery folder, same final tables."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from yuqing.dataflows.launcher import RunOptions, launch

from mentions_factory import WINDOW_QUERY, encode, expected_windows, make_mentions, rows_to_windows
from process_lines import wait_for_line
from replay_runs import COMPARED, history, produce_demo_by_brand, run_args, tables
from store_fixtures import sql_in_subprocess

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.mark.parametrize("down", [0.0, 8.0])  # seconds the run stays down before its restart
def test_a_flow_killed_mid_stream_resumes_with_nothing_lost_and_nothing_counted_twice(
    kafka_broker, kafka_topic_factory, tmp_path, chdb_dir, down
):
    mentions = make_mentions(6000, minutes=30, seed=31)
    values = [encode(m) for m in mentions]
    topic = kafka_topic_factory()
    crash_store = f"chdb://{tmp_path}/crash?database=radar"
    live = f"kafka://{kafka_broker.bootstrap}/{topic}"

    lateness = ["--lateness", "1"] if down else []  # a downtime far longer than the lateness
    first = subprocess.Popen(run_args(live, crash_store, tmp_path) + lateness,
                             stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        wait_for_line(first, "running:", timeout=60)
        half_sent = threading.Event()

        def produce_slowly() -> None:
            for i in range(0, len(values), 100):
                kafka_broker.produce(topic, values[i:i + 100])
                if i >= len(values) // 2:
                    half_sent.set()
                time.sleep(0.1)

        producer = threading.Thread(target=produce_slowly)
        producer.start()
        wait_for_line(first, "progress: ", timeout=60)  # mentions are being written
        assert half_sent.wait(60)
        time.sleep(0.5)  # let it snapshot a few epochs, then pull the plug
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        producer.join(60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == -signal.SIGKILL
    written = sql_in_subprocess(crash_store, "SELECT count() AS n FROM mentions FINAL")[0]["n"]
    assert 0 < written < len(mentions), "the kill must land mid-stream"

    time.sleep(down)  # the downtime must not count as stream time: no mention may turn late
    resumed = subprocess.run(run_args(live + "?until=end", crash_store, tmp_path) + lateness,
                             capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from recovery store" in resumed.stderr

    reference = f"chdb://{chdb_dir}?database=uninterrupted"
    launch(RunOptions(input=live + "?until=end", store=reference,
                      alerts=str(tmp_path / "ref_alerts.jsonl"), dlq=str(tmp_path / "ref_dlq.jsonl")))
    from yuqing.core.endpoints import parse_store
    from yuqing.sinks.clickhouse import Store

    ref = Store(parse_store(reference))
    expected = rows_to_windows(ref.query(WINDOW_QUERY.replace("FROM ", "FROM uninterrupted.")))
    ref.close()
    crashed_rows = sql_in_subprocess(crash_store, WINDOW_QUERY)
    crashed = {
        (r["brand"], r["source"], r["window_start"]): (r["mentions"], r["unique_authors"], r["reach"])
        for r in crashed_rows
    }
    assert {(b, s, str(w)): v for (b, s, w), v in expected.items()} == crashed
    assert expected == expected_windows(mentions)
    total = sql_in_subprocess(crash_store, "SELECT count() AS n, uniqExact(id) AS u FROM mentions FINAL")
    assert total == [{"n": 6000, "u": 6000}]
    alerts = tmp_path / "alerts.jsonl"
    alerts_lines = alerts.read_text().splitlines() if alerts.exists() else []
    assert len(alerts_lines) == len(set(alerts_lines)), "alert lines must not repeat after resume"


@pytest.mark.slow
def test_a_run_killed_before_its_first_snapshot_leaves_no_alert_twice(tmp_path):
    from yuqing.evaluation.demo import DemoConfig, DemoGenerator

    (tmp_path / "in.jsonl").write_bytes(b"\n".join(DemoGenerator(DemoConfig(hours=24))) + b"\n")
    args = run_args(str(tmp_path / "in.jsonl"), f"chdb://{tmp_path}/crash?database=radar", tmp_path)
    args[args.index("--snapshot-interval") + 1] = "600"  # no snapshot before the kill
    alerts = tmp_path / "alerts.jsonl"
    first = subprocess.Popen(args, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (
                not alerts.exists() or alerts.read_bytes().count(b"\n") < 5):
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == -signal.SIGKILL and alerts.read_bytes().count(b"\n") >= 5
    resumed = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    keys = [json.loads(line)["key"] for line in alerts.read_bytes().splitlines()]
    assert len(keys) == len(set(keys)), "a record the killed run wrote came again"
    reference = tmp_path / "ref.jsonl"
    launch(RunOptions(input=str(tmp_path / "in.jsonl"), store=f"chdb://{tmp_path}/ref?database=r",
                      alerts=str(reference), dlq=str(tmp_path / "ref_dlq.jsonl")))
    assert sorted(keys) == sorted(json.loads(x)["key"] for x in reference.read_bytes().splitlines())


def test_ten_random_kills_during_a_replay_give_the_same_tables_alerts_andhistory(
        kafka_broker, kafka_topic_factory, tmp_path):
    import random

    topic = kafka_topic_factory(partitions=3)
    produce_demo_by_brand(kafka_broker, topic)
    replay = f"kafka://{kafka_broker.bootstrap}/{topic}?until=end"

    crash = tmp_path / "crash"
    crash.mkdir()
    args = run_args(replay, f"chdb://{crash}/store?database=radar", crash)
    rng = random.Random(5)
    kills = 0
    for _ in range(30):  # up to 30 tries to land 10 kills mid-replay
        run = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        try:
            wait_for_line(run, "running:", timeout=60)
            time.sleep(rng.uniform(0.2, 2.5))
            if run.poll() is None:
                os.kill(run.pid, signal.SIGKILL)
                kills += 1
            run.wait(30)
        finally:
            if run.poll() is None:
                run.kill()
        if kills == 10:
            break
    assert kills == 10
    final = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert final.returncode == 0, final.stderr[-2000:]

    ref = tmp_path / "ref"
    ref.mkdir()
    reference = subprocess.run(run_args(replay, f"chdb://{ref}/store?database=radar", ref),
                               capture_output=True, text=True, timeout=300, check=False)
    assert reference.returncode == 0, reference.stderr[-2000:]

    crashed, uninterrupted = tables(f"chdb://{crash}/store?database=radar"), tables(
        f"chdb://{ref}/store?database=radar")
    for name in COMPARED:
        assert crashed[name] == uninterrupted[name], f"table {name} differs after {kills} kills"
    assert uninterrupted["incidents"] and uninterrupted["activations"], "the replay has crises"
    crashed_alerts = (crash / "alerts.jsonl").read_bytes().splitlines()
    assert len(crashed_alerts) == len(set(crashed_alerts)), "an alert record came twice"
    assert sorted(crashed_alerts) == sorted((ref / "alerts.jsonl").read_bytes().splitlines())
    assert history(crash / "outbox.sqlite3") == history(ref / "outbox.sqlite3")
