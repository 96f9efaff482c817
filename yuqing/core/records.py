"""Records that cross the flow's edges: raw input and dead letters.

Each has a versioned JSON form, because other teams read the dead-letter
and alert streams without our code.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

DEAD_LETTER_SCHEMA = "yuqing.deadletter/v1"


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


def to_json_bytes(obj: dict) -> bytes:
    """Compact UTF-8 JSON, Chinese kept readable."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
