"""A crisis stream end to end: the flow grades a repost cascade and catches a collector outage,
and `yuqing warn eval --stream --truth` scores a stream by the held-out rules."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta

import pytest

from yuqing.cli import main
from yuqing.dataflows.launcher import RunOptions, launch
from yuqing.evaluation.truth import CrisisTruth, score
from yuqing.warning.incidents import Incident

from crisis_factory import crisis_stream


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    mentions, truth = crisis_stream(brands=4)
    folder = tmp_path_factory.mktemp("crisis")
    with gzip.open(folder / "s.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(m, ensure_ascii=False) + "\n" for m in mentions)
    (folder / "s.jsonl").write_text("".join(json.dumps(m, ensure_ascii=False) + "\n"
                                            for m in mentions), encoding="utf-8")
    (folder / "s.truth.json").write_text(json.dumps(truth, ensure_ascii=False), encoding="utf-8")
    return folder, truth


@pytest.mark.slow
def test_the_flow_grades_the_cascade_activates_the_fallback_and_catches_the_outage(
        stream, tmp_path, store_url, store):
    folder, truth = stream
    alerts = tmp_path / "alerts.jsonl"
    launch(RunOptions(input=str(folder / "s.jsonl"), store=store_url, alerts=str(alerts),
                      dlq=str(tmp_path / "dlq.jsonl")))
    crisis = truth["crises"][0]
    rows = store.query("SELECT category, max(tier) FROM incidents FINAL WHERE brand = "
                       f"'{crisis['brand']}' GROUP BY category")
    assert dict(rows) == {"*": 3}
    playbooks = {r[0] for r in store.query("SELECT playbook_id FROM activations FINAL")}
    assert playbooks == {"any.generic_crisis"}
    records = [json.loads(line) for line in alerts.read_text(encoding="utf-8").splitlines()]
    health = [r for r in records if r["schema"] == "yuqing.health/v1" and r["state"] == "open"]
    outage = truth["outages"][0]
    start = datetime.fromisoformat(outage["start"])
    assert {h["stream"] for h in health} == {"weibo"}  # nothing else is reported stopped
    first = min(health, key=lambda h: h["at"])
    assert first["brand"] == "*"  # the watch of every brand's sources sees it first
    assert datetime.fromisoformat(first["at"]) - start <= timedelta(minutes=10)
    end = datetime.fromisoformat(outage["end"]) + timedelta(minutes=20)  # a brand's next post
    assert all(start <= datetime.fromisoformat(h["at"]) <= end for h in health)


def test_warn_eval_scores_a_stream_against_its_truth(stream, capsys, tmp_path):
    folder, _ = stream
    report_path = tmp_path / "report.json"
    assert main(["warn", "eval", "--stream", str(folder / "s.jsonl.gz"), "--truth",
                 str(folder / "s.truth.json"), "--json", str(report_path)]) == 0
    out = capsys.readouterr().out
    assert "二级" in out and "from t50" in out and "pipeline health" in out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["tiers"]["3"]["reached"] == 1 and summary["tiers"]["2"]["false_incidents"] == 0
    assert summary["health"]["outages_detected"] == 1 and summary["health"]["false_alerts"] == 0
    assert summary["health"]["max_detection_s"] <= 600
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["per_crisis"][0]["incidents"] == 1


@pytest.mark.parametrize(("args", "fragment"), [
    (["--stream", "missing.jsonl", "--truth", "missing.json"], "missing.json: cannot read"),
    (["--truth", "x.json"], "--stream and --truth go together"),
])
def test_warn_eval_stream_errors_are_one_line(args, fragment, capsys):
    assert main(["warn", "eval", *args]) == 2
    assert fragment in capsys.readouterr().err


def _truth(**extra) -> CrisisTruth:
    return CrisisTruth.from_dict({
        "period": ["2026-11-16T00:00:00+08:00", "2026-11-18T00:00:00+08:00"],
        "brands": ["甲", "乙"],
        "crises": [{"brand": "甲", "onset": "2026-11-16T10:00:00+08:00",
                    "t50": "2026-11-16T10:05:00+08:00", "t200": None},
                   {"brand": "甲", "onset": "2026-11-16T16:00:00+08:00",
                    "t50": "2026-11-16T16:04:00+08:00", "t200": None}], **extra})


def test_a_rise_belongs_to_the_latest_crisis_of_its_brand_that_began_before_it():
    truth = _truth()
    late = truth.crises[1].onset + timedelta(minutes=5)  # inside both crises' 12-hour windows
    assert truth.crisis_of("甲", late) is truth.crises[1]
    assert truth.crisis_of("乙", late) is None
    assert truth.crisis_of("甲", truth.crises[0].onset - timedelta(minutes=11)) is None


def test_false_incidents_fragmentation_and_misses_follow_the_held_out_rules():
    truth = _truth()
    first = truth.crises[0]
    a = Incident.open("甲", "*", first.onset + timedelta(minutes=3), tier=2, score=55.0)
    b = Incident.open("甲", "*", first.onset + timedelta(minutes=40), tier=1, score=35.0)
    c = Incident.open("乙", "*", first.onset, tier=2, score=60.0)  # no crisis of 乙: false
    updates = [a.opened(), b.opened(), c.opened(),
               a.change(first.onset + timedelta(minutes=9), tier=3, score=75.0)]
    report = score(updates, [], truth)
    assert report["tiers"]["2"]["reached"] == 1 and report["tiers"]["2"]["missed"] == 1
    assert report["tiers"]["2"]["median_delay_t50_s"] == -120.0
    assert report["tiers"]["3"]["median_delay_onset_s"] == 540.0
    assert report["tiers"]["2"]["false_incidents"] == 1
    assert report["tiers"]["2"]["false_per_brand_day"] == round(1 / 4, 3)
    assert report["per_crisis"][0]["incidents"] == 2 and report["fragmentation"]["max"] == 2
