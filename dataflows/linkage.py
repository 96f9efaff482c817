"""From incident changes to what acts on them: activations, tickets, and alert-stream records.

Plain functions the flow's steps call: an incident change becomes the
activations of every matching playbook (most specific first), a complaint
becomes a ticket, and everything the alert stream carries becomes one
`AlertRecord` (a versioned JSON document with a stable key).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from yuqing.dataflows.warning import IncidentChange
from yuqing.playbooks.activation import activation_row, activations_for, snapshot_from_incident_json
from yuqing.playbooks.library import PlaybookLibrary
from yuqing.proto import activation_pb2
from yuqing.sinks import tables
from yuqing.warning.monitor import FalseAlarm
from yuqing.warning.silence import HealthAlert


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One alert-stream message: stable key, kind, brand, time, one-line summary, JSON payload.

    The body is serialized once, when the record is made; the table row and
    the stream message both carry that same compact JSON text.
    """

    key: str
    kind: str
    brand: str
    at: datetime
    summary: str
    payload: str

    @classmethod
    def of(cls, key: str, kind: str, brand: str, at: datetime, summary: str,
           body: dict) -> AlertRecord:
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)
        return cls(key, kind, brand, at, summary, payload)

    def row(self) -> tuple:
        """A row of the `alerts` table (the alert stream's log in ClickHouse)."""
        return (self.key, self.kind, self.brand, self.at, self.summary, self.payload)

    def message(self) -> tuple[bytes, bytes]:
        """(key, value) for Kafka; the value alone is a JSONL line."""
        return self.key.encode("utf-8"), self.payload.encode("utf-8")


def alert_record(item: IncidentChange | HealthAlert | FalseAlarm | activation_pb2.Activation
                 ) -> AlertRecord:
    """The alert-stream form of anything the linkage produces."""
    if isinstance(item, IncidentChange):
        u = item.update
        summary = (f"{u.brand} {u.category}: {u.change} → tier {u.tier} "
                   f"(risk {u.score:.0f}, peak {u.peak_score:.0f})")
        return AlertRecord.of(u.key, "incident", u.brand, u.at, summary, u.to_json())
    if isinstance(item, HealthAlert):
        return AlertRecord.of(item.key, "pipeline_health", item.brand, item.at, item.summary,
                           item.to_json())
    if isinstance(item, FalseAlarm):
        body = item.to_json()
        key = f"false_alarm:{item.brand}:{item.category}:{item.at.isoformat()}"
        return AlertRecord.of(key, "false_alarm", item.brand, item.at,
                           f"{item.brand} {item.category}: marked false alarm, bar raised "
                           f"{item.raise_points:.0f} points until {item.until:%Y-%m-%d %H:%M}", body)
    if isinstance(item, activation_pb2.Activation):
        row = activation_row(item)
        body = {k: v for k, v in row.items() if k != "payload"}
        body["activation"] = json.loads(row["payload"])
        summary = (f"{row['brand']} {row['category']}: playbook {row['playbook_id']} "
                   f"v{row['playbook_version']} at tier {row['tier']} → {', '.join(row['departments'])}")
        return AlertRecord.of(row["key"], "activation", row["brand"], row["created_at"], summary, body)
    raise TypeError(f"no alert form for {type(item).__name__}")


def incident_snapshot(change: IncidentChange, sector: str) -> dict[str, Any]:
    """The bus's incident snapshot (what playbooks render from and GetIncident returns)."""
    snapshot = snapshot_from_incident_json(change.update.to_json(), sector=sector,
                                           mentions=change.mentions.get)
    snapshot["trigger_mention_id"] = change.trigger
    return snapshot


def activate(change: IncidentChange, library: PlaybookLibrary,
             sector_of: Callable[[str], str]) -> list[activation_pb2.Activation]:
    """Activations for an incident that opened or changed tier; none for a resolution.

    They are stamped with the change's event time, like every record of an
    incident: a replay of a past day gives that day's activations, whatever
    the wall clock says.
    """
    update = change.update
    if update.change not in ("opened", "escalated", "de-escalated") or update.tier < 1:
        return []
    return activations_for(library, incident_snapshot(change, sector_of(update.brand)),
                           sector=sector_of(update.brand), created_at=update.at)


def activation_table_row(activation: activation_pb2.Activation) -> tuple:
    row = activation_row(activation)
    return tuple(row[c] for c in tables.ACTIVATIONS.columns)
