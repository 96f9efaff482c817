"""`yuqing warn`: the demo's crises are found in time, noise is not an incident, commands work."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from yuqing.cli import main
from yuqing.core.mention import InvalidMention, parse_mention
from yuqing.evaluation.demo import BRANDS, DemoConfig, DemoGenerator, scenario
from yuqing.evaluation.early_warning import evaluate


@pytest.fixture(scope="module")
def demo_run():
    return evaluate(DemoConfig())


def test_the_demo_crises_reach_tier_two_within_three_minutes(demo_run):
    crises = demo_run.crises()
    assert [c["brand"] for c in crises] == ["星汇支付", "锐芯电子", "安达消费金融"]
    assert not any(c["missed"] for c in crises)
    assert all(c["delay_s"] < 180 for c in crises[:2])  # the fast-spreading ones
    assert sorted(c["delay_s"] for c in crises)[1] < 180  # the median (the target)
    assert crises[2]["delay_s"] < 600  # slow-building complaints, 6 a minute at their peak
    assert crises[0]["peak_tier"] == 3  # the payment outage is a 三级 crisis


def test_the_demo_raises_no_false_incident(demo_run):
    assert demo_run.false_incidents() == []


def test_the_evaluation_is_deterministic(demo_run):
    again = evaluate(DemoConfig())
    assert [u.to_json() for u in again.updates] == [u.to_json() for u in demo_run.updates]


def test_the_scenario_labels_crises_noise_and_outages_and_keeps_the_default_demo():
    cfg = scenario(days=2)
    assert len(cfg.crises) == 6 and len(cfg.noise) == 6 and len(cfg.outages) == 3
    assert all(c.onset >= cfg.start + timedelta(hours=6) for c in cfg.crises)
    assert DemoConfig().noise == () and DemoConfig().outages == () and not DemoConfig().weekly


def test_a_collector_outage_removes_that_source_s_mentions_of_that_brand():
    cfg = scenario(days=1)
    outage = cfg.outages[0]
    aliases = BRANDS[outage.brand]["aliases"]
    inside = outside = 0
    for raw in DemoGenerator(cfg):
        try:
            m = parse_mention(raw)
        except InvalidMention:
            continue
        if m.source != outage.source or not any(a in m.text for a in aliases):
            continue
        if outage.start <= m.published_at < outage.start + outage.duration:
            inside += 1
        else:
            outside += 1
    assert inside == 0 and outside > 100


def test_warn_eval_prints_a_table_and_a_json_summary(capsys):
    assert main(["warn", "eval", "--hours", "16", "--seed", "7"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["crises"] == 2 and summary["missed"] == 0 and summary["missed_tier3"] == 0
    assert summary["median_delay_s"] < 180
    assert summary["max_false_per_brand_day"] <= 1
    assert "delay 二级" in lines[0]


def test_warn_plot_writes_a_png(tmp_path, capsys):
    out = tmp_path / "plot.png"
    assert main(["warn", "plot", "--out", str(out), "--hours", "3"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_warn_false_alarm_appends_a_feedback_verdict(tmp_path, capsys):
    out = tmp_path / "feedback.jsonl"
    args = ["warn", "false-alarm", "--incident-id", "inc-1", "--brand", "星汇支付",
            "--category", "outage", "--at", "2026-11-20T10:45:00+08:00", "--out", str(out)]
    assert main(args) == 0
    record = json.loads(out.read_text(encoding="utf-8"))
    assert record["verdict"] == "false_alarm" and record["at"] == "2026-11-20T02:45:00+00:00"
    from yuqing.core.feedback import parse_feedback

    assert parse_feedback(out.read_text(encoding="utf-8")).verdict == "false_alarm"


@pytest.mark.parametrize("args, fragment", [
    (["warn", "eval", "--hours", "0"], "--hours 0"),
    (["warn", "false-alarm", "--incident-id", "i", "--brand", "b", "--category", "c",
      "--at", "yesterday"], "--at 'yesterday'"),
])
def test_warn_user_errors_are_one_line_with_exit_code_2(args, fragment, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1
