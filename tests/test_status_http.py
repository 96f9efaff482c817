"""The run's state over HTTP: /healthz for probes, /metrics with our counters and the Kafka lag."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from grafana_macros import QueryContext, expand
from mentions_factory import encode, make_mentions
from process_lines import wait_for_line
from store_fixtures import sql_in_subprocess

REPO = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _metric(text: str, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    head = f"{name}{{{want}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(head + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_and_health_of_a_live_kafka_run(kafka_broker, kafka_topic_factory, tmp_path):
    topic = kafka_topic_factory(partitions=2)
    good = [encode(m) for m in make_mentions(300, minutes=5, seed=51)]
    kafka_broker.produce(topic, [*good[:200], b"not json", b'{"id": "x"}'])
    port = _free_port()
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "yuqing.cli",
            "run",
            "--input",
            f"kafka://{kafka_broker.bootstrap}/{topic}",
            "--store",
            f"chdb://{tmp_path}/s",
            "--alerts",
            str(tmp_path / "a.jsonl"),
            "--dlq",
            str(tmp_path / "d.jsonl"),
            "--outbox",
            str(tmp_path / "o.sqlite3"),
            "--bus",
            "127.0.0.1:0",
            "--http",
            f"127.0.0.1:{port}",
            "--progress-every",
            "0.2",
            "--metrics-every",
            "0.2",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_for_line(run, "progress: ", timeout=60)
        code, body = _get(f"http://127.0.0.1:{port}/healthz")
        assert code == 200 and json.loads(body)["state"] == "running"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            code, text = _get(f"http://127.0.0.1:{port}/metrics")
            done = (_metric(text, "yuqing_mentions_total") or 0) >= 200
            refused = _metric(text, "yuqing_dead_letters_by_reason_total", reason="source")
            lags = [_metric(text, "yuqing_kafka_lag", topic=topic, partition=str(p)) for p in (0, 1)]
            if done and refused and all(lag == 0 for lag in lags if lag is not None):
                break  # every message taken: the two bad ones came last
            time.sleep(0.3)
        assert _metric(text, "yuqing_mentions_total") == 200
        assert _metric(text, "yuqing_dead_letters_by_reason_total", reason="not JSON") == 1
        assert _metric(text, "yuqing_dead_letters_by_reason_total", reason="source") == 1
        lags = [_metric(text, "yuqing_kafka_lag", topic=topic, partition=str(p)) for p in (0, 1)]
        assert all(lag == 0 for lag in lags if lag is not None) and any(
            lag is not None for lag in lags
        )
        assert (_metric(text, "yuqing_sink_batch_seconds_count", table="mentions") or 0) >= 1
        assert "yuqing_up 1" in text
    finally:
        run.terminate()
        run.wait(30)
    # the same samples reached the store, where Grafana's backlog panel reads them
    store = f"chdb://{tmp_path}/s"
    rows = sql_in_subprocess(store, _panel_sql("Backlog"))
    assert rows and {r["backlog"] for r in rows} <= {f"kafka {topic}/0", f"kafka {topic}/1"}
    # a panel row is the largest sample of its 15 s bucket; the last sample has caught up
    last = sql_in_subprocess(store, "SELECT labels['partition'] AS p, argMax(value, at) AS lag "
                                    "FROM pipeline_metrics WHERE name = 'yuqing_kafka_lag' GROUP BY p")
    assert last and all(r["lag"] == 0 for r in last), last
    counters = {r["name"]: r["value"] for r in sql_in_subprocess(
        f"chdb://{tmp_path}/s", _panel_sql("Run counters"))}
    assert counters["yuqing_mentions_total"] == 200


def _panel_sql(title: str) -> str:
    """A pipeline dashboard panel's SQL, expanded as Grafana would for the last hour."""
    board = json.loads((REPO / "grafana" / "dashboards" / "pipeline.json").read_text())
    [sql] = [p["targets"][0]["rawSql"] for p in board["panels"] if p["title"].startswith(title)]
    now = datetime.now(UTC)
    return expand(sql, QueryContext(now - timedelta(hours=1), now + timedelta(minutes=1),
                                    timedelta(seconds=15), {}))
