"""The progress line: share of the input, rate, ETA, counts that match the summary, late mentions."""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from yuqing.dataflows.launcher import RunOptions, launch
from yuqing.dataflows.progress import InputProgress, ProgressLog, late_advice
from yuqing.dataflows.tally import Tally
from yuqing.evaluation.demo import DemoConfig, DemoGenerator


def test_the_share_read_sums_every_partition_and_ignores_unknown_ends():
    position = InputProgress()
    assert position.fraction() is None
    position.report("a", 30, 100)
    position.report("b", 10, 100)
    assert position.fraction() == 0.2
    position.report("a", 100, 100)
    assert position.fraction() == 0.55
    position.report("b", 150, 100)  # a file that grew while read counts as read
    assert position.fraction() == 1.0


def test_the_line_gives_share_rate_and_eta_and_counts_distinct_activations():
    tally, position = Tally(), InputProgress()
    log = ProgressLog(tally, position, every=10)
    start = log._started
    tally.add("mentions", 1000)
    for key in ("inc-1/p/1", "inc-1/p/1", "inc-1/q/1"):  # one activation written twice
        tally.add_distinct("activations", key)
        tally.add("activation_rows", 1)
    tally.add_distinct("incidents", "inc-1")
    tally.add("incident_changes", 2)
    position.report("in.jsonl", 25, 100)
    line = log.line(now=start + 10)
    assert line.startswith("progress: 25% of input, 1,000 mentions at 100/s, ETA 30s")
    assert "incidents 1 (2 changes)" in line
    assert "activations 2" in line
    tally.add("mentions", 500)
    position.report("in.jsonl", 50, 100)
    assert "1,500 mentions at 50/s, ETA 20s" in log.line(now=start + 20)


def test_a_live_input_has_a_rate_but_no_share_or_eta():
    tally = Tally()
    log = ProgressLog(tally, InputProgress())
    tally.add("mentions", 30)
    line = log.line(now=log._started + 3)
    assert line.startswith("progress: 30 mentions at 10/s ·")
    assert "ETA" not in line and "%" not in line


def test_many_late_mentions_are_warned_about_once_with_the_flag_to_raise(caplog):
    tally = Tally()
    log = ProgressLog(tally, lateness=timedelta(seconds=30))
    tally.add("mentions", 1000)
    tally.add("late", 20)  # 2%: below the warning
    with caplog.at_level(logging.WARNING, logger="yuqing.progress"):
        log.check_late()
        assert not caplog.records
        tally.add("late", 30)  # 5%
        log.check_late()
        log.check_late()
    [warning] = caplog.records
    assert "5.0% of mentions (50 of 1,000)" in warning.getMessage()
    assert "--lateness 120" in warning.getMessage()
    assert "late 5.0%" in log.line()


def test_the_advice_never_suggests_less_than_a_minute():
    assert late_advice(timedelta(seconds=5)).endswith("--lateness 60")
    assert late_advice(timedelta(minutes=2)).endswith("--lateness 480")


def _shuffled_demo(path, hours: float = 2.0) -> None:
    """The demo with one line in ten moved 20-60 lines later: 5 to 20 minutes out of order."""
    lines = list(DemoGenerator(DemoConfig(hours=hours)))
    rng = random.Random(3)
    for i in range(len(lines)):
        if rng.random() < 0.1:
            j = min(len(lines) - 1, i + rng.randint(20, 60))
            lines[i], lines[j] = lines[j], lines[i]
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_a_run_on_an_out_of_order_file_reports_late_mentions_and_the_fix(tmp_path, caplog,
                                                                       store_url):
    _shuffled_demo(tmp_path / "in.jsonl")
    options = dict(input=str(tmp_path / "in.jsonl"), alerts=str(tmp_path / "a.jsonl"),
                   dlq=str(tmp_path / "d.jsonl"), bus="off", progress_every=0.05)
    with caplog.at_level(logging.INFO, logger="yuqing.progress"):
        tight = launch(RunOptions(store=store_url + "_tight",
                                  outbox=tmp_path / "o1.sqlite3", **options))
    text = tight.render(1.0)
    assert "note: " in text and "raise --lateness (now 30 s)" in text
    assert any("missing from window_metrics" in r.getMessage() for r in caplog.records)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("progress: ")]
    assert lines and "% of input" in lines[0]
    last = lines[-1]
    # the line counts what the summary counts
    assert f"activations {tight.totals['activations']:,} " in last + " "
    assert f"incidents {tight.totals['incidents']:,} (" in last

    loose = launch(RunOptions(store=store_url + "_loose", outbox=tmp_path / "o2.sqlite3",
                              lateness=timedelta(minutes=30), **options))
    assert loose.counts.get("late", 0) < tight.counts["late"] / 10
    assert "note: " not in loose.render(1.0)
