"""The durable outbox: idempotent appends, per-runner delivery state, committed cursors, wake-ups."""

from __future__ import annotations

import threading
import time

from yuqing.bus.outbox import ACCEPTED, DONE, FAILED, Entry, Outbox, Task


def entry(key: str, **kw) -> Entry:
    return Entry(key, kw.pop("kind", "activation"), f"payload of {key}".encode(), **kw)


def test_the_same_key_appended_twice_is_one_event_with_one_seq(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    first = box.append(entry("inc-1/outage.generic/2", brand="星汇支付", tier=2, departments=("pr", "tech")))
    again = box.append(entry("inc-1/outage.generic/2", brand="other"))
    assert first == again == 1
    (event,) = box.after(0)
    assert (event.key, event.brand, event.tier, event.departments) == (
        "inc-1/outage.generic/2", "星汇支付", 2, ("pr", "tech"))
    assert box.append_many([entry("a"), entry("inc-1/outage.generic/2"), entry("b")]) == [2, 1, 3]


def test_events_deliveries_and_cursors_survive_reopening_the_file(tmp_path):
    path = tmp_path / "o.sqlite3"
    box = Outbox(path)
    for key in "abc":
        box.append(entry(key))
    box.mark_delivered("bot", [1, 2])
    box.ack("bot", 1, DONE)
    box.close()
    box = Outbox(path)
    assert [e.key for e in box.after(0)] == ["a", "b", "c"]
    assert box.last_seq() == 3
    assert box.committed("bot") == 1
    assert [e.seq for e in box.open_deliveries("bot")] == [2]
    assert box.committed("stranger") is None


def test_the_committed_cursor_stops_below_the_oldest_unacknowledged_delivery(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    for key in "abcde":
        box.append(entry(key))
    box.mark_delivered("bot", [1, 2, 4])  # 3 and 5 were not for this runner
    box.set_scanned("bot", 5)
    assert box.ack("bot", 2, DONE).committed == 0
    assert box.ack("bot", 1, ACCEPTED).committed == 3
    result = box.ack("bot", 4, FAILED, "webhook 400")  # a failure without retry is settled
    assert result.committed == 5
    assert box.ack("bot", 4, FAILED, "webhook 400").duplicate


def test_unacknowledged_deliveries_fall_due_after_the_timeout_and_failures_after_their_backoff(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    for key in "ab":
        box.append(entry(key))
    box.mark_delivered("bot", [1, 2])
    now = time.time()
    assert box.due_redeliveries("bot", ack_timeout=30, now=now) == []
    assert [e.seq for e in box.due_redeliveries("bot", ack_timeout=30, now=now + 31)] == [1, 2]
    box.ack("bot", 2, FAILED, "HTTP 503", retry=True, retry_base=60)
    assert [e.seq for e in box.due_redeliveries("bot", ack_timeout=30, now=now + 31)] == [1]
    assert [e.seq for e in box.due_redeliveries("bot", ack_timeout=30, now=now + 61)] == [1, 2]
    assert box.committed("bot") == 0
    assert box.mark_delivered("bot", [2]) == {2: 2}  # the redelivery is attempt 2


def test_an_append_wakes_a_waiting_subscriber_at_once(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    woke = []

    def waiter():
        t0 = time.monotonic()
        woke.append((box.wait(0, timeout=10), time.monotonic() - t0))

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.05)
    box.append(entry("a"))
    thread.join(5)
    assert woke and woke[0][0] is True and woke[0][1] < 2.0
    assert box.wait(1, timeout=0.01) is False


def test_an_append_by_another_process_is_seen_by_polling_the_file(tmp_path):
    path = tmp_path / "o.sqlite3"
    box = Outbox(path, poll_interval=0.05)
    other = Outbox(path)  # another connection: no shared condition variable
    other.append(entry("a"))
    assert box.wait(0, timeout=5) is True
    assert [e.key for e in box.after(0)] == ["a"]


def test_incidents_keep_their_tier_history_tasks_and_activation_keys(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    snapshot = {"incident_id": "inc-1", "brand": "星汇支付", "category": "outage", "tier": 1,
                "state": "open", "risk_score": 0.35}
    box.record_incident(snapshot, at=100.0)
    box.record_incident({**snapshot, "risk_score": 0.4}, at=110.0)  # same tier: no history row
    box.record_incident({**snapshot, "tier": 2, "state": "escalated", "risk_score": 0.6}, at=120.0)
    box.record_incident({"incident_id": "inc-2", "brand": "安达", "category": "outage", "tier": 3,
                         "state": "open"}, at=130.0)
    box.append(entry("inc-1/outage.generic/2", incident_id="inc-1", brand="星汇支付",
                     tasks=(Task("tech-triage", "tech", 500.0), Task("pr-holding", "pr", 400.0))))
    record = box.incident("inc-1")
    assert record.snapshot["tier"] == 2 and record.updated_at == 120.0
    assert [(f, t) for f, t, _, _ in record.tier_history] == [(0, 1), (1, 2)]
    assert record.activation_keys == ("inc-1/outage.generic/2",)
    assert [t.task_id for t in record.tasks] == ["pr-holding", "tech-triage"]
    assert [r.incident_id for r in box.incidents()] == ["inc-2", "inc-1"]
    assert [r.incident_id for r in box.incidents(brands=["星汇支付"], min_tier=2)] == ["inc-1"]
    assert box.incidents(states=["resolved"]) == []

    state, applied = box.update_task("inc-1/outage.generic/2", "pr-holding", 3, assignee="e1",
                                     updated_at=200.0)
    assert applied and state.status == 3 and state.assignee == "e1"
    state, applied = box.update_task("inc-1/outage.generic/2", "pr-holding", 2, updated_at=150.0)
    assert not applied and state.status == 3  # an older update loses
    assert box.update_task("inc-1/outage.generic/2", "nope", 3) is None


def test_feedback_is_read_back_in_order_after_a_cursor(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    first = box.add_feedback({"mention_id": "weibo:1", "label": "negative"})
    box.add_feedback({"text": "挺好用的", "label": "positive"})
    assert [f["label"] for _, f in box.feedback_after(0)] == ["negative", "positive"]
    assert [f["label"] for _, f in box.feedback_after(first)] == ["positive"]


def test_a_replayed_incident_change_is_in_its_tier_history_once(tmp_path):
    from bus_factory import incident

    box = Outbox(tmp_path / "o.sqlite3")
    changes = [incident(tier=1, change_seq=0, change_previous_tier=0, state="open"),
               incident(tier=3, change_seq=1, change_previous_tier=1),
               incident(tier=2, change_seq=2, change_previous_tier=3),
               incident(tier=0, change_seq=3, change_previous_tier=2, state="resolved")]
    for _ in range(3):  # the first run, then two restarts replaying the same changes
        for snapshot in changes:
            box.record_incident(snapshot)
    history = [(f, t) for f, t, _s, _at in box.incident("inc-1").tier_history]
    assert history == [(0, 1), (1, 3), (3, 2), (2, 0)]
    box.close()
    again = Outbox(tmp_path / "o.sqlite3")  # an outbox file made before stays readable
    assert len(again.incident("inc-1").tier_history) == 4
    again.close()


def test_an_outbox_from_before_numbered_changes_gains_the_column(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE tier_changes (incident_id TEXT NOT NULL, from_tier INTEGER NOT NULL,"
               " to_tier INTEGER NOT NULL, risk_score REAL NOT NULL, at REAL NOT NULL)")
    db.execute("INSERT INTO tier_changes VALUES ('inc-1', 0, 2, 0.5, 1.0)")
    db.commit()
    db.close()
    box = Outbox(path)
    assert [r[1] for r in box._query("PRAGMA table_info(tier_changes)")][-1] == "seq"
    box.close()
