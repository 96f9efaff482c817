"""Incidents: lifecycle, evidence that names its mentions, ClickHouse rows, false alarms, health."""

from __future__ import annotations

import json
import pickle
import random
from datetime import UTC, datetime, timedelta

from yuqing.core.enriched import EnrichedMention
from yuqing.core.mention import Author, Mention
from yuqing.sinks import tables
from yuqing.warning.incidents import INCIDENT_SCHEMA, Incident, IncidentUpdate
from yuqing.warning.monitor import DETECTOR_VERSION, BrandMonitor
from yuqing.warning.silence import HealthAlert

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
RNG = random.Random(5)


def item(i, at, category="other", label="neutral", source="weibo", rng=RNG, story=""):
    author = Author(id=f"u{rng.randrange(10**6)}", followers=rng.randrange(10, 50_000))
    mention = Mention(f"{source}:{i}", source, at, "文本", author=author)
    return EnrichedMention(mention, "星汇支付", ("星汇", "宕机", "无法提现"), -0.6 if label ==
                           "negative" else 0.0, label, category, ("宕机",), story or f"s{i}")


def quiet_then_outage(monitor, outage=200, quiet_hours=6):
    out = []
    for i in range(quiet_hours * 60 * 2):
        out += monitor.push(item(i, T0 + timedelta(seconds=30 * i),
                                 source=("weibo", "news")[i % 2]))
    start = T0 + timedelta(hours=quiet_hours)
    for i in range(outage):
        out += monitor.push(item(10_000 + i, start + timedelta(seconds=3 * i), "outage",
                                 "negative", source=("weibo", "news")[i % 2], story="outage-1"))
    return out


def test_an_incident_moves_open_escalated_de_escalated_resolved_with_one_row_each():
    inc = Incident.open("星汇支付", "outage", T0, tier=1, score=35.0)
    ups = [inc.opened(), inc.change(T0 + timedelta(minutes=1), 3, 80.0),
           inc.change(T0 + timedelta(minutes=20), 2, 55.0),
           inc.change(T0 + timedelta(minutes=60), 0, 3.0)]
    assert [u.state for u in ups] == ["open", "escalated", "de-escalated", "resolved"]
    assert [u.seq for u in ups] == [0, 1, 2, 3]
    assert len({u.key for u in ups}) == 4 and len({u.incident_id for u in ups}) == 1
    assert ups[-1].peak_tier == 3 and ups[-1].peak_score == 80.0
    assert ups[-1].resolved_at == T0 + timedelta(minutes=60)


def test_the_incident_id_depends_only_on_brand_category_and_opening_time():
    a = Incident.make_id("星汇支付", "outage", T0)
    assert a == Incident.make_id("星汇支付", "outage", T0)
    assert a != Incident.make_id("星汇支付", "outage", T0 + timedelta(seconds=1))


def test_a_burst_opens_one_incident_whose_evidence_names_its_mentions_and_versions():
    out = quiet_then_outage(BrandMonitor("星汇支付"))
    updates = [u for u in out if isinstance(u, IncidentUpdate)]
    assert updates and {u.category for u in updates} == {"outage"}
    assert len({u.incident_id for u in updates}) == 1
    opened = updates[0].to_json()
    assert opened["schema"] == INCIDENT_SCHEMA and opened["change"] == "opened"
    ev = opened["evidence"]
    assert ev["versions"]["detector"] == DETECTOR_VERSION and ev["versions"]["config"]
    assert all(m.startswith(("weibo:", "news:")) for m in ev["mention_ids"])
    assert ev["began"]["source"] in ("weibo", "news")
    assert ev["metrics"]["negative"]["observed"] > ev["metrics"]["negative"]["expected"]
    assert ev["top_stories"][0]["story_id"] == "outage-1"
    assert ev["top_keywords"][0][0] == "宕机"
    assert set(ev["score_parts"]) == {"volume", "negative_share", "reach", "kols", "velocity", "spread", "duration"}
    json.dumps(opened, ensure_ascii=False)  # serialisable as is


def test_updates_are_rows_of_the_incidents_table(store):
    updates = [u for u in quiet_then_outage(BrandMonitor("星汇支付"))
               if isinstance(u, IncidentUpdate)]
    rows = [u.to_row() for u in updates]
    assert all(len(r) == len(tables.INCIDENTS.columns) for r in rows)
    store.insert(tables.INCIDENTS, rows)
    store.insert(tables.INCIDENTS, rows)  # at-least-once: a retry collapses
    got = store.query("SELECT incident_id, seq, state, tier FROM incidents FINAL ORDER BY seq")
    assert [(r[1], r[2], r[3]) for r in got] == [(u.seq, u.state, u.tier) for u in updates]


def test_a_false_alarm_closes_the_incident_and_raises_the_bar_for_that_key():
    monitor = BrandMonitor("星汇支付")
    quiet_then_outage(monitor)
    at = T0 + timedelta(hours=6, minutes=12)
    record = monitor.mark_false_alarm("outage", at, note="planned maintenance")
    assert record.update is not None and record.update.change == "false_alarm"
    assert record.update.false_alarm and record.update.state == "resolved"
    assert record.thresholds == [45.0, 65.0, 85.0]
    assert record.until == at + timedelta(hours=24)
    again = monitor.mark_false_alarm("outage", at + timedelta(minutes=1))
    assert again.raise_points == 30.0 and again.update is None
    assert record.to_json()["schema"] == "yuqing.false_alarm/v1"
    assert monitor.mark_false_alarm("data_breach", at).thresholds == [45.0, 65.0, 85.0]


def test_a_monitor_pickled_mid_stream_continues_exactly_like_the_original():
    a = BrandMonitor("星汇支付")
    quiet_then_outage(a, outage=20)
    b = pickle.loads(pickle.dumps(a))
    later = T0 + timedelta(hours=6, minutes=2)
    tail = [item(20_000 + i, later + timedelta(seconds=2 * i), "outage", "negative",
                 rng=random.Random(i)) for i in range(100)]
    out_a = [u.to_json() for x in tail for u in a.push(x)]
    out_b = [u.to_json() for x in tail for u in b.push(x)]
    assert out_a == out_b and out_a


def test_a_source_that_stops_raises_a_health_alert_in_event_time_then_recovers():
    monitor = BrandMonitor("星汇支付")
    alerts = []
    for i in range(8 * 60 * 4):  # 4 a minute, weibo and news alternating; weibo gone 05:00-06:00
        at = T0 + timedelta(seconds=15 * i)
        source = ("weibo", "news")[i % 2]
        if source == "weibo" and T0 + timedelta(hours=5) <= at < T0 + timedelta(hours=6):
            continue
        alerts += [a for a in monitor.push(item(i, at, source=source))
                   if isinstance(a, HealthAlert)]
    assert [(a.stream, a.state) for a in alerts] == [("weibo", "open"), ("weibo", "recovered")]
    opened = alerts[0]
    assert T0 + timedelta(hours=5) < opened.at < T0 + timedelta(hours=5, minutes=15)
    assert opened.to_json()["schema"] == "yuqing.health/v1"
    assert len(opened.to_row()) == len(tables.ALERTS.columns)


def test_a_whole_brand_gone_quiet_is_seen_by_the_wall_clock_check():
    monitor = BrandMonitor("星汇支付")
    for i in range(3 * 60 * 4):
        monitor.push(item(i, T0 + timedelta(seconds=15 * i)))
    alerts = monitor.check_silence(T0 + timedelta(hours=3, minutes=20))
    assert [(a.stream, a.state, a.kind) for a in alerts] == [("*", "open", "stopped")]


def test_a_category_incident_cools_down_and_resolves_while_the_brand_goes_on_talking():
    monitor = BrandMonitor("星汇支付")
    out = quiet_then_outage(monitor)
    after = T0 + timedelta(hours=6, minutes=10)
    for i in range(2 * 60 * 2):  # two more ordinary hours: the outage key gets nothing new
        out += monitor.push(item(20_000 + i, after + timedelta(seconds=30 * i),
                                 source=("weibo", "news")[i % 2]))
    changes = [u.change for u in out if isinstance(u, IncidentUpdate) and u.category == "outage"]
    assert changes[0] == "opened" and "de-escalated" in changes and changes[-1] == "resolved"
    assert monitor.keys["outage"].incident is None
