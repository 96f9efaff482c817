"""The `yuqing` command as an operator meets it: help, environment variables, log format."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from yuqing.cli import build_parser, main


def _subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                for inner, deeper in _subparsers(sub):
                    yield f"{name} {inner}", deeper


def test_every_subcommand_has_a_description_and_no_none_defaults_in_its_help():
    for name, sub in _subparsers(build_parser()):
        assert sub.description, f"yuqing {name} has no description"
        assert "(default: None)" not in sub.format_help(), f"yuqing {name} --help"


def test_every_run_flag_names_its_environment_variable():
    run = dict(_subparsers(build_parser()))["run"]
    flags = [a for a in run._actions if a.option_strings and a.dest != "help"]
    named = ("env YUQING_", "env BYTEWAX_")  # a cluster's addressing keeps Bytewax's own names
    assert all(any(n in (a.help or "") for n in named) for a in flags), [
        a.option_strings[0] for a in flags if not any(n in (a.help or "") for n in named)]


def test_environment_variables_set_run_flags(monkeypatch, tmp_path):
    monkeypatch.setenv("YUQING_LATENESS", "5")
    monkeypatch.setenv("YUQING_TOKENS", str(tmp_path / "t.yaml"))
    monkeypatch.setenv("YUQING_PLAYBOOKS", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    args = build_parser().parse_args(["run"])
    assert args.lateness == 5 and args.tokens == tmp_path / "t.yaml"
    assert args.playbooks == [tmp_path / "a", tmp_path / "b"]


def test_a_bad_environment_value_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setenv("YUQING_WINDOW", "sixty")
    with pytest.raises(SystemExit) as exit_:
        main(["run"])
    assert exit_.value.code == 2 and "--window" in capsys.readouterr().err


@pytest.mark.slow
def test_json_logs_are_one_object_per_line(tmp_path):
    from mentions_factory import encode, make_mentions

    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(encode(m) for m in make_mentions(20, minutes=2, seed=42)) + b"\n")
    done = subprocess.run([sys.executable, "-m", "yuqing.cli", "--log-format", "json", "run",
                           "--input", str(path), "--store", f"chdb://{tmp_path}/s", "--bus", "off",
                           "--outbox", str(tmp_path / "o.sqlite3"),
                           "--alerts", str(tmp_path / "a.jsonl"), "--dlq", str(tmp_path / "d.jsonl")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert records and {"ts", "level", "logger", "message"} <= set(records[0])
    assert any(r["message"].startswith("running:") for r in records)
