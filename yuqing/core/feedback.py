"""Analyst feedback: sentiment labels and incident verdicts, parsed at the edge.

Feedback arrives as JSON lines (a file, the Kafka topic `feedback`, or the gRPC
SubmitFeedback call). Two kinds exist:

- sentiment: `{"mention_id": "...", "label": "negative"}` or `{"text": "...", "label": 0}`
- incident verdict: `{"incident_id": "...", "brand": "...", "category": "...",
  "verdict": "false_alarm"}`
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

FEEDBACK_SCHEMA = "yuqing.feedback/v1"
MAX_FEEDBACK_BYTES = 64 * 1024  # a label or a verdict, with a text of at most 20,000 chars
_LABELS = {"negative": -1, "neutral": 0, "positive": 1, "0": -1, "1": 1, "-1": -1}


class InvalidFeedback(ValueError):
    """A feedback record that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class SentimentFeedback:
    """An analyst's sentiment label for a mention (by id) or a text."""

    label: int  # -1 negative, 0 neutral, 1 positive
    mention_id: str = ""
    text: str = ""
    analyst: str = ""
    brand: str = ""  # the mention's brand as the analyst's tenant sees it ("" unscoped)


@dataclass(frozen=True, slots=True)
class IncidentVerdict:
    """An analyst's verdict on an incident, e.g. a false alarm."""

    incident_id: str
    brand: str
    category: str
    verdict: str
    at: datetime | None = None
    analyst: str = ""


Feedback = SentimentFeedback | IncidentVerdict


def parse_label(value: object) -> int:
    """1/"positive" -> 1, 0/"negative" -> -1 (the TSV convention), "neutral" -> 0."""
    if isinstance(value, bool):
        return 1 if value else -1
    key = str(value).strip().lower()
    if key not in _LABELS:
        raise InvalidFeedback(f"label: {value!r} is not one of negative, neutral, positive, 0, 1")
    return _LABELS[key]


def parse_feedback(raw: bytes | str) -> Feedback:
    """One JSON feedback record, or `InvalidFeedback` with the reason."""
    if len(raw) > MAX_FEEDBACK_BYTES:
        raise InvalidFeedback(f"{len(raw):,} bytes, the limit is {MAX_FEEDBACK_BYTES:,}")
    try:
        obj = json.loads(raw)
    except RecursionError:
        raise InvalidFeedback("not JSON we accept: nested too deep") from None
    except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
        raise InvalidFeedback(f"not JSON: {str(err).split(';')[0]}") from None
    if not isinstance(obj, dict):
        raise InvalidFeedback("expected a JSON object")
    analyst = str(obj.get("analyst", ""))
    if "incident_id" in obj:
        verdict = str(obj.get("verdict", ""))
        if verdict not in ("false_alarm", "confirmed"):
            raise InvalidFeedback("verdict: use false_alarm or confirmed")
        for field in ("incident_id", "brand", "category"):
            if not isinstance(obj.get(field), str) or not obj[field]:
                raise InvalidFeedback(f"{field}: required for an incident verdict")
        at = None
        if obj.get("at"):
            try:
                at = datetime.fromisoformat(str(obj["at"])).astimezone(UTC)
            except ValueError:
                raise InvalidFeedback("at: not RFC 3339") from None
        return IncidentVerdict(obj["incident_id"], obj["brand"], obj["category"], verdict, at, analyst)
    mention_id, text = obj.get("mention_id") or "", obj.get("text") or ""
    if not (isinstance(mention_id, str) and isinstance(text, str)) or not (mention_id or text):
        raise InvalidFeedback("give mention_id or text (strings) with the label")
    if "label" not in obj:
        raise InvalidFeedback("label: required")
    brand = obj.get("brand") or ""
    if not isinstance(brand, str):
        raise InvalidFeedback("brand: expected a string")
    return SentimentFeedback(parse_label(obj["label"]), mention_id, text, analyst, brand)
