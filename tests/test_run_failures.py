"""Each way a run can fail at its start gives one line on stderr and exit code 2, within seconds."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

FAST = ["--demo-hours", "0.05", "--bus", "off"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when we return: nothing listens there


def _run(*args: str, cwd, timeout: float = 60) -> tuple[int, str, float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "yuqing.cli", "run", *FAST, *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)
    return done.returncode, done.stderr, time.monotonic() - started


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr and "panicked" not in stderr, stderr[-2000:]
    assert "%3|" not in stderr, "librdkafka's own lines must go through logging, deduplicated"
    errors = [line for line in stderr.splitlines() if line.startswith("yuqing run: error:")]
    assert len(errors) == 1, stderr[-2000:]
    return errors[0]


@pytest.mark.parametrize("flag", ["--input", "--alerts", "--dlq", "--feedback"])
def test_an_unreachable_broker_is_named_within_ten_seconds(tmp_path, flag):
    url = f"kafka://127.0.0.1:{_closed_port()}/mentions"
    code, stderr, seconds = _run(flag, url, cwd=tmp_path)
    line = _one_line(stderr)
    assert code == 2 and seconds < 10, (code, seconds)
    assert flag in line and "no answer from the Kafka broker" in line
    assert len(stderr.splitlines()) <= 5


@pytest.mark.parametrize(("host", "says"), [("127.0.0.1:{port}", "connection refused"),
                                             ("no-such-host.invalid:8123", "unknown host")])
def test_an_unreachable_clickhouse_server_is_named_within_ten_seconds(tmp_path, host, says):
    url = f"clickhouse://radar:secret@{host.format(port=_closed_port())}/yuqing"
    code, stderr, seconds = _run("--store", url, cwd=tmp_path)
    line = _one_line(stderr)
    assert code == 2 and seconds < 10, (code, seconds)
    assert "--store" in line and says in line and "secret" not in stderr
    assert len(stderr.splitlines()) == 1, stderr


@pytest.mark.kafka
def test_a_missing_topic_says_how_to_create_it(kafka_broker, tmp_path):
    code, stderr, _ = _run("--input", f"kafka://{kafka_broker.bootstrap}/no-such-topic",
                           cwd=tmp_path)
    assert code == 2
    assert "kafka-topics.sh" in _one_line(stderr) and "no-such-topic" in stderr


@pytest.mark.parametrize(("flag", "bad", "says"), [
    ("--alerts", "{file}/alerts.jsonl", "is a file, not a folder"),
    ("--dlq", "{file}/dlq.jsonl", "is a file, not a folder"),
    ("--outbox", "{file}/outbox.sqlite3", "is a file, not a folder"),
    ("--outbox", "{dir}", "is a directory"),
    ("--outbox", "{notdb}", "cannot open it as an outbox"),
    ("--recovery", "{file}/recovery", "is a file, not a folder"),
    ("--recovery", "{file}", "not a directory"),
    ("--input", "kafka://127.0.0.1:1/t?no.such.setting=1", "No such configuration property"),
    ("--kafka-config", "{badconfig}", "expected key=value"),
    ("--kafka-config", "{dir}/missing.properties", "cannot read"),
    ("--kafka-gather", "-0.1", "zero or more"),
])
def test_an_unusable_destination_is_one_line_before_anything_runs(tmp_path, flag, bad, says):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    notdb = tmp_path / "not-a-db.sqlite3"
    notdb.write_bytes(b"this is not sqlite, " * 100)
    badconfig = tmp_path / "client.properties"
    badconfig.write_text("# comment\nsecurity.protocol=SASL_SSL\nthis line is wrong\n")
    value = bad.format(file=blocker, dir=tmp_path, notdb=notdb, badconfig=badconfig)
    code, stderr, seconds = _run(flag, value, cwd=tmp_path)
    line = _one_line(stderr)
    assert code == 2 and flag in line and says in line, line
    assert seconds < 10


def test_the_kafka_config_file_and_environment_reach_every_endpoint(tmp_path):
    from yuqing.core.endpoints import kafka_settings, parse_kafka

    config = tmp_path / "client.properties"
    config.write_text("security.protocol = SASL_SSL\n! comment\nclient.id=from-file\n")
    env = {"YUQING_KAFKA_SASL_PASSWORD": "s3cret", "YUQING_KAFKA_CLIENT_ID": "from-env",
           "YUQING_KAFKA_GROUP": "not-a-setting", "YUQING_KAFKA_START": "latest"}
    settings = kafka_settings(config, env)
    assert settings == {"security.protocol": "SASL_SSL", "client.id": "from-env",
                        "sasl.password": "s3cret"}
    topic = parse_kafka("kafka://h:1/t?client.id=from-url", "--alerts", allow_until=False)
    merged = topic.with_settings(settings).client_config()
    assert merged["client.id"] == "from-url" and merged["sasl.password"] == "s3cret"
    assert merged["bootstrap.servers"] == "h:1"
