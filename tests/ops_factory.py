"""Operations rows for a demo store: incidents, activations, deliveries, tasks, feedback.

While the flow does not write these tables yet, the dashboard and report tests
use this to have realistic rows to read: one incident per spike alert of the
demo (brand × the brand's dominant crisis category), with its lifecycle,
evidence taken from the stored mentions, one playbook activation, deliveries
to two runners and tasks with acknowledgements. Rows use the tables' column
order (`yuqing.sinks.tables`) and `IncidentUpdate.to_row`, and are inserted in
batches.
"""

from __future__ import annotations

import json
from datetime import UTC, timedelta

from yuqing.incidents import Incident
from yuqing.sinks.tables import ACTIVATIONS, DELIVERIES, FEEDBACK_EVENTS, INCIDENTS, TASKS

PLAYBOOKS = {"outage": "outage-withdrawals", "product_defect": "product-defect-battery",
             "data_breach": "data-breach"}


def _utc(t):
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def write_ops_rows(store) -> list[str]:
    """Insert the rows into `store` (an open `Store` on the demo's database); return incident ids."""
    q = store.query
    alerts = q("SELECT brand, at FROM alerts FINAL ORDER BY at")
    incidents, activations, deliveries, tasks, feedback, ids = [], [], [], [], [], []
    for brand, at in alerts:
        at = _utc(at)
        category = q("SELECT category FROM mentions FINAL WHERE brand = {b:String} "
                     "AND category != 'other' GROUP BY category ORDER BY count() DESC LIMIT 1",
                     {"b": brand})
        category = category[0][0] if category else "outage"
        window = q("SELECT id, source, published_at, keywords FROM mentions FINAL "
                   "WHERE brand = {b:String} AND category = {c:String} "
                   "AND published_at BETWEEN {t0:DateTime64(3, 'UTC')} AND {t1:DateTime64(3, 'UTC')} "
                   "ORDER BY published_at",
                   {"b": brand, "c": category, "t0": at - timedelta(minutes=15), "t1": at})
        began = ({"source": window[0][1], "at": _utc(window[0][2]).isoformat(),
                  "mention_id": window[0][0], "first_mention_id": window[0][0]} if window else {})
        evidence = {"window": {"from": (at - timedelta(minutes=15)).isoformat(), "to": at.isoformat()},
                    "top_keywords": [], "began": began,
                    "mention_ids": [row[0] for row in window][-200:],
                    "mention_ids_total": len(window)}
        inc = Incident.open(brand, category, at, tier=2, score=62.0)
        updates = [inc.opened(evidence),
                   inc.change(at + timedelta(minutes=4), 3, 88.5, evidence),
                   inc.change(at + timedelta(minutes=40), 1, 30.0, evidence),
                   inc.change(at + timedelta(minutes=75), 0, 5.0, evidence)]
        incidents += [u.to_row() for u in updates]
        ids.append(inc.incident_id)
        key = f"{inc.incident_id}:act:1"
        created = at + timedelta(seconds=5)
        playbook = PLAYBOOKS.get(category, "negative-media")
        departments = ["pr", "tech", "customer_service"]
        activations.append((key, inc.incident_id, brand, category, 2, playbook, 3, 1, departments,
                            created, json.dumps({"playbook_id": playbook})))
        for runner, status, ack in (("itops", "done", 40), ("crm", "accepted", 95),
                                    ("chatbot", "failed", 12)):
            deliveries.append((runner, len(ids), key, "activation", inc.incident_id, brand, category, 2,
                               departments, 1 if status != "failed" else 3, status,
                               "webhook 502" if status == "failed" else "",
                               created, created + timedelta(seconds=1),
                               created + timedelta(seconds=ack)))
        for n, (dept, status, due_min, done_min) in enumerate(
                [("pr", "done", 30, 25), ("tech", "done", 60, 80), ("customer_service", "todo", 20, 3)]):
            task_id = f"t{n + 1}"
            # Each status change is its own row; FINAL keeps the newest (ReplacingMergeTree(updated_at)).
            tasks.append((key, task_id, inc.incident_id, brand, dept, "todo", "", "",
                          created + timedelta(minutes=due_min), created))
            tasks.append((key, task_id, inc.incident_id, brand, dept, "in_progress", "值班员", "",
                          created + timedelta(minutes=due_min), created + timedelta(minutes=2)))
            if status == "done":
                tasks.append((key, task_id, inc.incident_id, brand, dept, "done", "值班员", "已处理",
                              created + timedelta(minutes=due_min),
                              created + timedelta(minutes=done_min)))
        feedback.append((at + timedelta(minutes=10), "sentiment", "learned", "{}"))
        feedback.append((at + timedelta(minutes=90), "incident_verdict", "confirmed",
                         json.dumps({"incident_id": inc.incident_id})))
    for table, rows in ((INCIDENTS, incidents), (ACTIVATIONS, activations),
                        (DELIVERIES, deliveries), (TASKS, tasks), (FEEDBACK_EVENTS, feedback)):
        store.insert(table, rows)
    return ids
