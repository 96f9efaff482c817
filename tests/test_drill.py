"""`yuqing drill` replays history against the strategy library and touches nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from yuqing.evaluation.demo import DemoGenerator

pytestmark = pytest.mark.slow


def test_a_drill_reports_which_playbooks_would_fire_with_their_tasks_and_leaves_no_trace(tmp_path):
    history = tmp_path / "history.jsonl"
    history.write_bytes(b"\n".join(DemoGenerator()) + b"\n")
    done = subprocess.run([sys.executable, "-m", "yuqing.cli", "drill", "--input", str(history),
                           "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    fired = [json.loads(line) for line in done.stdout.splitlines()]
    outage = [a for a in fired if a["brand"] == "星汇支付" and a["category"] == "outage"]
    assert outage and outage[0]["playbook_id"].startswith("outage.")
    assert outage[0]["at"].startswith("2026-11-20T02:3"), "fires within minutes of the 02:30 onset"
    assert {t["department"] for a in outage for t in a["tasks"]} >= {"tech", "pr"}
    assert all(t["due_at"] for a in fired for t in a["tasks"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.jsonl"], "no side effects"

    readable = subprocess.run([sys.executable, "-m", "yuqing.cli", "drill", "--input",
                               str(history)], cwd=tmp_path, capture_output=True, text=True,
                              timeout=300, check=False)
    assert "星汇支付 outage" in readable.stdout and "[tech]" in readable.stdout


def test_a_drill_of_a_missing_file_is_a_one_line_error(tmp_path):
    done = subprocess.run([sys.executable, "-m", "yuqing.cli", "drill", "--input", "nope.jsonl"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "yuqing drill: error: --input nope.jsonl: no such file; give a JSONL file of mentions"]


def test_a_drill_where_nothing_fires_says_so(tmp_path):
    from mentions_factory import encode, make_mentions

    quiet = tmp_path / "quiet.jsonl"
    quiet.write_bytes(b"\n".join(encode(m) for m in make_mentions(50, minutes=10, seed=41)) + b"\n")
    done = subprocess.run([sys.executable, "-m", "yuqing.cli", "drill", "--input", str(quiet)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "0 incidents, 0 activations" in done.stdout and "Traceback" not in done.stderr
