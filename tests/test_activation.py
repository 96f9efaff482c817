"""Activation events from incidents and playbooks, and complaint tickets from mentions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from yuqing.core.enriched import EnrichedMention
from yuqing.core.mention import Author, Engagement, Mention
from yuqing.playbooks.activation import (
    activation_row,
    activations_for,
    build_activation,
    snapshot_from_incident_json,
)
from yuqing.playbooks.tickets import CustomerMap, complaint_ticket
from yuqing.proto import activation_pb2
from yuqing.warning.incidents import Incident, build_evidence
from yuqing.warning.signals import Brief

from bus_factory import LIBRARY, T0, incident

pb = activation_pb2


def test_every_matching_playbook_becomes_an_activation_most_specific_first():
    created = T0 + timedelta(minutes=21)
    acts = activations_for(LIBRARY, incident(tier=2), created_at=created)
    assert [a.playbook_id for a in acts] == ["outage.xinghui_pay", "outage.withdrawal_fintech",
                                             "outage.generic"]
    assert [a.match_rank for a in acts] == [0, 1, 2]
    first = acts[0]
    assert first.idempotency_key == "inc-1/outage.xinghui_pay/2"
    assert first.playbook_version == LIBRARY.get("outage.xinghui_pay").version
    assert first.tier == pb.TIER_MEDIUM and first.created_at.ToDatetime(UTC) == created
    assert first.incident.evidence[0].text == "星汇支付提现失败，钱取不出来了！"
    assert first.incident.evidence[0].author.followers == 52_000
    tier_since = T0 + timedelta(minutes=20)
    for task in first.tasks:
        assert task.due_at.ToDatetime(UTC) == tier_since + task.due.ToTimedelta()
    assert [t.due_at.ToDatetime(UTC) for t in first.tasks] == sorted(t.due_at.ToDatetime(UTC) for t in first.tasks)
    assert {t.department for t in first.tasks} >= {pb.DEPARTMENT_TECH, pb.DEPARTMENT_PR}
    assert any("星汇支付" in s.text for s in first.statements)


def test_the_key_changes_with_the_tier_and_not_with_the_time_of_making():
    one = build_activation(incident(tier=2), LIBRARY.get("outage.generic"), 2, created_at=T0)
    two = build_activation(incident(tier=2), LIBRARY.get("outage.generic"), 2, created_at=T0 + timedelta(hours=1))
    three = build_activation(incident(tier=3), LIBRARY.get("outage.generic"), 3, created_at=T0)
    assert one.idempotency_key == two.idempotency_key != three.idempotency_key


def test_a_resolved_incident_activates_nothing():
    assert activations_for(LIBRARY, incident(tier=0)) == []


def test_an_activation_row_is_flat_for_clickhouse_and_the_alert_stream():
    act = activations_for(LIBRARY, incident(), created_at=T0)[0]
    row = activation_row(act)
    assert row["key"] == act.idempotency_key and row["brand"] == "星汇支付" and row["tier"] == 2
    assert row["created_at"] == T0 and "tech" in row["departments"]
    assert '"idempotency_key": "inc-1/outage.xinghui_pay/2"' in row["payload"]


def test_an_incident_update_from_the_detector_maps_to_a_snapshot_with_evidence():
    briefs = [Brief(f"weibo:{i}", T0 + timedelta(seconds=i), "weibo", f"u{i}", followers=10 ** i,
                    negative=True, keywords=("提现失败",)) for i in range(1, 4)]
    evidence = build_evidence(
        briefs, {"mentions": {"observed": 30, "expected": 4.0, "z": 6.1},
                 "negative": {"observed": 24}, "negative_share": {"observed": 0.8},
                 "negative_reach": {"observed": 1110}, "distinct_authors": {"observed": 3}},
        {}, (T0, T0 + timedelta(minutes=5)), {}, {"source": "weibo", "at": T0.isoformat()})
    update = Incident.open("星汇支付", "outage", T0, tier=2, score=61.0).opened(evidence).to_json()
    texts = {"weibo:3": {"id": "weibo:3", "source": "weibo", "text": "提现失败三小时了",
                         "url": "https://weibo.com/3", "author": {"id": "u3", "name": "大V", "followers": 1000}}}
    snap = snapshot_from_incident_json(update, sector="fintech", mentions=texts.get)
    assert snap["risk_score"] == 0.61 and snap["tier"] == 2 and snap["state"] == "open"
    assert snap["metrics"]["mention_count"] == 30 and snap["metrics"]["negative_ratio"] == 0.8
    assert snap["evidence"][0]["id"] == "weibo:3" and snap["evidence"][0]["text"] == "提现失败三小时了"
    assert snap["top_keywords"] == ["提现失败"] and snap["sources"] == ["weibo"]
    acts = activations_for(LIBRARY, snap, created_at=T0)
    assert acts and acts[0].incident.incident_id == update["incident_id"]
    assert acts[0].incident.state == pb.INCIDENT_STATE_OPEN
    assert acts[0].incident.evidence[0].url == "https://weibo.com/3"


def enriched(mention_id="weibo:1", category="complaint_fees", label="negative", followers=100,
             verified=False, likes=0, author_id="u1"):
    mention = Mention(id=mention_id, source="weibo", published_at=T0, text="乱收费，服务费从来没说过",
                      url=f"https://weibo.com/{mention_id}",
                      author=Author(id=author_id, name="n", followers=followers, verified=verified),
                      engagement=Engagement(likes=likes))
    return EnrichedMention(mention, brand="星汇支付", sentiment=-0.8 if label == "negative" else 0.1,
                           sentiment_label=label, category=category)


def test_a_complaint_becomes_a_customer_service_ticket_keyed_by_mention():
    ticket = complaint_ticket(enriched(), created_at=datetime(2025, 3, 5, tzinfo=UTC))
    assert ticket.ticket_key == "ticket/weibo:1" and ticket.mention_id == "weibo:1"
    assert ticket.department == pb.DEPARTMENT_CUSTOMER_SERVICE
    assert ticket.text.startswith("乱收费") and ticket.url == "https://weibo.com/weibo:1"
    assert ticket.author.followers == 100 and ticket.category == "complaint_fees"


def test_a_negative_mention_by_a_known_customer_is_a_complaint_and_names_the_customer():
    customers = CustomerMap({"weibo:u7": "C-0007"})
    assert complaint_ticket(enriched(category="outage", author_id="u7"), customers).customer_id == "C-0007"
    assert complaint_ticket(enriched(category="outage", author_id="u8"), customers) is None
    assert complaint_ticket(enriched(category="outage", label="neutral", author_id="u7"), customers) is None


def test_influential_authors_get_higher_priority():
    small = complaint_ticket(enriched(followers=20))
    verified = complaint_ticket(enriched(followers=20, verified=True))
    big = complaint_ticket(enriched(followers=3_000_000, likes=5_000))
    assert 0 <= small.priority < verified.priority < big.priority <= 1


def test_the_customer_map_reads_flat_and_per_source_yaml(tmp_path):
    path = tmp_path / "customers.yaml"
    path.write_text('"weibo:u1": C-1\ndouyin:\n  d9: C-9\n', encoding="utf-8")
    customers = CustomerMap.load(path)
    assert customers.customer_of("weibo", "u1") == "C-1" and customers.customer_of("douyin", "d9") == "C-9"


def test_each_incident_change_has_its_own_key_so_a_de_escalation_is_delivered():
    from yuqing.bus.outbox import Outbox
    from yuqing.bus.server import publish

    playbook = LIBRARY.get("outage.generic")
    up = build_activation(incident(tier=2, change_seq=0), playbook, 2, created_at=T0)
    again = build_activation(incident(tier=2, change_seq=0), playbook, 2, created_at=T0)
    down = build_activation(incident(tier=2, change_seq=2), playbook, 2, created_at=T0)
    assert up.idempotency_key == again.idempotency_key != down.idempotency_key
    box = Outbox(":memory:")
    seqs = [publish(box, a) for a in (up, again, down)]
    assert seqs[0] == seqs[1] != seqs[2]  # a replay is one event, the de-escalation another
