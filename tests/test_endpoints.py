"""Flags and URLs: good specs become typed targets, bad ones a one-line fix."""

from __future__ import annotations

import pytest

from yuqing.core.endpoints import (
    DemoInput,
    FileInput,
    FileOutput,
    KafkaTopic,
    StdinInput,
    parse_input,
    parse_output,
    parse_store,
)
from yuqing.errors import UserError


def test_inputs_are_recognised(tmp_path):
    f = tmp_path / "m.jsonl"
    f.write_text("")
    assert parse_input("demo") == DemoInput()
    assert parse_input("-") == StdinInput()
    assert parse_input(str(f)) == FileInput(f)
    assert parse_input("kafka://127.0.0.1:9092,h2:9093/mentions?until=end") == KafkaTopic(
        ("127.0.0.1:9092", "h2:9093"), "mentions", stop_at_end=True)


@pytest.mark.parametrize("spec", ["missing.jsonl", "kafka://host/topic", "kafka://h:1/",
                                  "kafka://h:1/t?From=x", "ftp://x/y"])
def test_bad_inputs_say_what_works(spec):
    with pytest.raises(UserError, match="--input"):
        parse_input(spec)


def test_outputs_are_files_or_topics(tmp_path):
    assert parse_output(str(tmp_path / "a.jsonl"), "--alerts") == FileOutput(tmp_path / "a.jsonl")
    assert parse_output("kafka://h:1/alerts", "--alerts").topic == "alerts"
    with pytest.raises(UserError, match="directory"):
        parse_output(str(tmp_path), "--dlq")
    with pytest.raises(UserError, match="only for --input"):
        parse_output("kafka://h:1/alerts?until=end", "--alerts")


def test_stores_are_chdb_directories_or_servers(tmp_path):
    s = parse_store(f"chdb://{tmp_path}/db?database=t1")
    assert (s.kind, s.path, s.database) == ("chdb", tmp_path / "db", "t1")
    assert parse_store("chdb://./var/ch").path.is_absolute()
    server = parse_store("clickhouse://bob:s%40cret@ch.local:9000/radar")
    assert (server.host, server.port, server.username, server.password, server.database) == (
        "ch.local", 9000, "bob", "s@cret", "radar")
    assert parse_store("clickhouses://ch.local").port == 8443
    for bad in ("chdb://", "mysql://x", "chdb:///x?database=a-b", "clickhouse://"):
        with pytest.raises(UserError, match="--store"):
            parse_store(bad)
