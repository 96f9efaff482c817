"""Activation events: the matching playbooks rendered for an incident, as `yuqing.v1.Activation`.

When an incident opens or changes tier, `activations_for` asks the strategy
library for the playbooks that match (most specific first; several may
match) and renders each one with `yuqing.playbooks.render.render` into an
Activation: idempotency key `incident_id/playbook_id/tier`, the incident
snapshot with its evidence, the playbook id and version, the tasks per
department with absolute due times, the statements, and the creation time.

The incident snapshot is the plain mapping of `yuqing.playbooks.render`;
`snapshot_from_incident_json` makes one from `IncidentUpdate.to_json()`.
`activation_row` is the activation as a flat record for ClickHouse
(`activations`) and the alert stream.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import duration_pb2, json_format, timestamp_pb2

from yuqing.playbooks.library import PlaybookLibrary
from yuqing.playbooks.render import render
from yuqing.playbooks.schema import Playbook
from yuqing.proto import ACTIVATION_SCHEMA_VERSION, activation_pb2

pb = activation_pb2
ACTIVATION_RECORD_SCHEMA = "yuqing.activation/v1"
_STATES = {"open": pb.INCIDENT_STATE_OPEN, "opened": pb.INCIDENT_STATE_OPEN,
           "escalated": pb.INCIDENT_STATE_ESCALATED, "de-escalated": pb.INCIDENT_STATE_DE_ESCALATED,
           "de_escalated": pb.INCIDENT_STATE_DE_ESCALATED, "resolved": pb.INCIDENT_STATE_RESOLVED}


def idempotency_key(incident_id: str, playbook_id: str, tier: int, change: int | None = None) -> str:
    """The key runners deduplicate on: one activation per incident change and playbook.

    ``change`` is the incident's change number (its update ``seq``): an
    incident that returns to a tier (de-escalated from 三级 to 二级) activates
    again under a key of its own, while a replay of the same change gives the
    same key. Without it (a drill, a hand-made incident) the key is per tier.

    >>> idempotency_key("inc-42", "outage.generic", 2, change=3)
    'inc-42/outage.generic/2/3'
    >>> idempotency_key("inc-42", "outage.generic", 2)
    'inc-42/outage.generic/2'
    """
    base = f"{incident_id}/{playbook_id}/{tier}"
    return base if change is None else f"{base}/{change}"


def department(name: str) -> int:
    """A playbook department id as the proto enum: `pr` -> DEPARTMENT_PR (1)."""
    return pb.Department.Value(f"DEPARTMENT_{name.upper()}")


def department_name(value: int) -> str:
    """The enum back to the playbook id: 4 -> `customer_service`."""
    return pb.Department.Name(value).removeprefix("DEPARTMENT_").lower()


def build_activation(
    incident: Mapping[str, Any],
    playbook: Playbook,
    tier: int,
    *,
    rank: int = 0,
    created_at: datetime | None = None,
) -> activation_pb2.Activation:
    """One playbook rendered for `incident` at `tier`; deadlines count from the incident's tier_since."""
    created = created_at or datetime.now(UTC)
    done = render(playbook, incident, tier)
    step = done["escalation"]
    escalation = pb.Escalation(
        owner=department(step["owner"]) if step["owner"] else 0,
        notify=[department(d) for d in step["notify"]], note=step["note"])
    if step["update_every"] is not None:
        escalation.update_every.CopyFrom(_duration(step["update_every"]))
    return pb.Activation(
        schema_version=ACTIVATION_SCHEMA_VERSION,
        idempotency_key=idempotency_key(str(incident.get("incident_id", "")), playbook.id, tier,
                                        _int(incident["change_seq"]) if "change_seq" in incident
                                        else None),
        incident=snapshot_proto(incident),
        playbook_id=playbook.id,
        playbook_version=playbook.version,
        playbook_name=playbook.name,
        tier=tier,
        tasks=[pb.RenderedTask(task_id=t["task_id"], department=department(t["department"]),
                               action=t["action"], due=_duration(t["due"]), due_at=_timestamp(t["due_at"]))
               for t in done["tasks"]],
        statements=[pb.RenderedStatement(
            statement_id=s["statement_id"], kind=s["kind"], title=s["title"], text=s["text"],
            channels=s["channels"], approval=[department(d) for d in s["approval"]],
            unfilled=s["unfilled"]) for s in done["statements"]],
        channels=done["channels"],
        escalation=escalation,
        match_rank=rank,
        created_at=_timestamp(created),
    )


def activations_for(
    library: PlaybookLibrary,
    incident: Mapping[str, Any],
    *,
    sector: str = "",
    created_at: datetime | None = None,
) -> list[activation_pb2.Activation]:
    """The activations of every playbook matching the incident at its tier, most specific first.

    Empty when the incident is resolved (tier 0) or no playbook matches.
    """
    tier = int(incident.get("tier") or 0)
    if tier < 1:
        return []
    metrics = incident.get("metrics") if isinstance(incident.get("metrics"), Mapping) else {}
    evidence = [e for e in incident.get("evidence") or () if isinstance(e, Mapping)]
    texts = [*(k for k in incident.get("top_keywords") or () if isinstance(k, str)),
             *(str(e.get("text") or "") for e in evidence)]
    playbooks = library.match(
        str(incident.get("brand", "")), str(incident.get("category", "")), tier,
        incident.get("sources") or (), texts, sector=sector or str(incident.get("sector") or ""),
        metrics={"mention_count": metrics.get("mention_count"), "risk_score": incident.get("risk_score"),
                 "negative_ratio": metrics.get("negative_ratio")})
    created = created_at or datetime.now(UTC)
    return [build_activation(incident, p, tier, rank=i, created_at=created)
            for i, p in enumerate(playbooks)]


def snapshot_proto(incident: Mapping[str, Any]) -> activation_pb2.IncidentSnapshot:
    """The plain snapshot mapping as `IncidentSnapshot`; unknown or missing values stay unset."""
    metrics = incident.get("metrics") if isinstance(incident.get("metrics"), Mapping) else {}
    snap = pb.IncidentSnapshot(
        incident_id=_str(incident.get("incident_id")), brand=_str(incident.get("brand")),
        sector=_str(incident.get("sector")), category=_str(incident.get("category")),
        tier=_int(incident.get("tier")) if _int(incident.get("tier")) in (1, 2, 3) else 0,
        state=_STATES.get(_str(incident.get("state")), 0),
        risk_score=_float(incident.get("risk_score")),
        metrics=pb.WindowMetrics(
            mention_count=_int(metrics.get("mention_count")),
            negative_count=_int(metrics.get("negative_count")),
            negative_ratio=_float(metrics.get("negative_ratio")),
            unique_authors=_int(metrics.get("unique_authors")), reach=_int(metrics.get("reach")),
            engagement=_int(metrics.get("engagement")), velocity=_float(metrics.get("velocity")),
            baseline=_float(metrics.get("baseline"))),
        top_keywords=[k for k in incident.get("top_keywords") or () if isinstance(k, str)],
        sources=[s for s in incident.get("sources") or () if isinstance(s, str)],
        trigger_mention_id=_str(incident.get("trigger_mention_id")),
    )
    for name in ("first_seen", "last_seen", "opened_at", "tier_since"):
        _set_time(snap, name, incident.get(name))
    for name in ("window_start", "window_end"):
        _set_time(snap.metrics, name, metrics.get(name))
    for e in incident.get("evidence") or ():
        if isinstance(e, Mapping):
            snap.evidence.append(evidence_proto(e))
    return snap


def evidence_proto(e: Mapping[str, Any]) -> activation_pb2.EvidenceMention:
    """One evidence mapping ({id, source, text, url, published_at, author, engagement, …})."""
    author = e.get("author") if isinstance(e.get("author"), Mapping) else {}
    engagement = e.get("engagement")
    mention = pb.EvidenceMention(
        id=_str(e.get("id")), source=_str(e.get("source")), title=_str(e.get("title")),
        text=_str(e.get("text")), url=_str(e.get("url")), sentiment=_float(e.get("sentiment")),
        parent_id=_str(e.get("parent_id")),
        author=pb.Author(id=_str(author.get("id")), name=_str(author.get("name")),
                         followers=_int(author.get("followers")), verified=bool(author.get("verified"))))
    if isinstance(engagement, Mapping):
        mention.engagement.CopyFrom(pb.Engagement(
            reposts=_int(engagement.get("reposts")), comments=_int(engagement.get("comments")),
            likes=_int(engagement.get("likes"))))
    _set_time(mention, "published_at", e.get("published_at"))
    return mention


MentionLookup = Callable[[str], Mapping[str, Any] | None]


def snapshot_from_incident_json(
    update: Mapping[str, Any], *, sector: str = "", mentions: MentionLookup | None = None
) -> dict[str, Any]:
    """The snapshot mapping from an `IncidentUpdate.to_json()` (schema yuqing.incident/v1).

    The update scores risk in points 0–100; the snapshot uses [0, 1]. Its
    evidence names the influential mentions by id only; `mentions(id)` (the
    mention's contract JSON, or None) fills in text, link, author and time.
    """
    ev = update.get("evidence") if isinstance(update.get("evidence"), Mapping) else {}
    m = ev.get("metrics") if isinstance(ev.get("metrics"), Mapping) else {}

    def observed(name: str, part: str = "observed") -> Any:
        value = m.get(name)
        return value.get(part) if isinstance(value, Mapping) else None

    evidence = []
    for item in ev.get("influential_mentions") or ():
        if not isinstance(item, Mapping):
            continue
        found = (mentions(str(item.get("mention_id"))) if mentions else None) or {}
        author = found.get("author") if isinstance(found.get("author"), Mapping) else {}
        evidence.append({
            "id": item.get("mention_id"), "source": item.get("source") or found.get("source"),
            "text": found.get("text", ""), "title": found.get("title", ""), "url": found.get("url", ""),
            "published_at": found.get("published_at"), "parent_id": found.get("parent_id", ""),
            "author": {"id": author.get("id") or item.get("author_id"), "name": author.get("name", ""),
                       "followers": author.get("followers", item.get("followers")),
                       "verified": author.get("verified", item.get("verified"))},
            "engagement": found.get("engagement"),
        })
    window = ev.get("window") if isinstance(ev.get("window"), Mapping) else {}
    began = ev.get("began") if isinstance(ev.get("began"), Mapping) else {}
    score = _float(update.get("risk_score"))
    at = update.get("at")
    return {
        "incident_id": update.get("incident_id"), "change_seq": _int(update.get("seq")),
        "change_previous_tier": _int(update.get("previous_tier")),
        "brand": update.get("brand"), "sector": sector,
        "category": update.get("category"), "tier": _int(update.get("tier")),
        "state": update.get("state"), "risk_score": round(score / 100.0 if score > 1 else score, 4),
        "first_seen": began.get("at") or update.get("opened_at"), "last_seen": at,
        "opened_at": update.get("opened_at"),
        "tier_since": at if update.get("change") != "resolved" else None,
        "metrics": {
            "window_start": window.get("from"), "window_end": window.get("to"),
            "mention_count": observed("mentions"), "negative_count": observed("negative"),
            "negative_ratio": observed("negative_share"), "unique_authors": observed("distinct_authors"),
            "reach": observed("negative_reach"), "velocity": observed("velocity"),
            "baseline": observed("mentions", "expected"),
        },
        "evidence": evidence,
        "top_keywords": [k[0] if isinstance(k, list | tuple) else k for k in ev.get("top_keywords") or ()],
        "sources": list(ev.get("sources") or ()),
    }


ACTIVATION_COLUMNS = ("key", "incident_id", "brand", "category", "tier", "playbook_id",
                      "playbook_version", "match_rank", "departments", "created_at", "payload")


def activation_row(activation: activation_pb2.Activation) -> dict[str, Any]:
    """The activation as a flat record (ClickHouse `activations`, alert stream); payload is JSON."""
    departments = sorted({department_name(t.department) for t in activation.tasks})
    return {
        "schema": ACTIVATION_RECORD_SCHEMA,
        "key": activation.idempotency_key,
        "incident_id": activation.incident.incident_id,
        "brand": activation.incident.brand,
        "category": activation.incident.category,
        "tier": activation.tier,
        "playbook_id": activation.playbook_id,
        "playbook_version": activation.playbook_version,
        "match_rank": activation.match_rank,
        "departments": departments,
        "created_at": activation.created_at.ToDatetime(UTC),
        "payload": json_format.MessageToJson(activation, preserving_proto_field_name=True,
                                             ensure_ascii=False, indent=None),
    }


def _timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return stamp


def _duration(delta: timedelta) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromTimedelta(delta)
    return out


def _set_time(message: Any, name: str, value: Any) -> None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return
    if isinstance(value, datetime) and 1900 <= value.year <= 9000:
        getattr(message, name).CopyFrom(_timestamp(value))


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value == value else 0


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
