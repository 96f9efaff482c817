"""Records that cross the flow's edges: raw input, dead letters and alerts.

Each has a versioned JSON form, because other teams read the dead-letter
and alert streams without our code.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

DEAD_LETTER_SCHEMA = "yuqing.deadletter/v1"
ALERT_SCHEMA = "yuqing.alert/v1"


@dataclass(frozen=True, slots=True)
class RawRecord:
    """Bytes as they arrived, with where they came from (file:line, topic/partition@offset)."""

    origin: str
    data: bytes


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record refused at the edge, kept whole with the reason."""

    origin: str
    reason: str
    data: bytes

    def to_json(self) -> dict:
        try:
            raw = {"raw": self.data.decode("utf-8")}
        except UnicodeDecodeError:
            raw = {"raw_base64": base64.b64encode(self.data).decode("ascii")}
        return {"schema": DEAD_LETTER_SCHEMA, "origin": self.origin, "reason": self.reason, **raw}


@dataclass(frozen=True, slots=True)
class Alert:
    """Something the alert stream announces; `key` is stable so consumers can dedup."""

    kind: str
    brand: str
    at: datetime
    summary: str
    details: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        basis = f"{self.kind}|{self.brand}|{self.at.isoformat()}"
        return hashlib.sha1(basis.encode("utf-8")).hexdigest()[:20]

    def to_json(self) -> dict:
        return {
            "schema": ALERT_SCHEMA,
            "key": self.key,
            "kind": self.kind,
            "brand": self.brand,
            "at": self.at.isoformat(),
            "summary": self.summary,
            "details": self.details,
        }


def to_json_bytes(obj: dict) -> bytes:
    """Compact UTF-8 JSON, Chinese kept readable."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
