"""Incidents: one open per dedup key (brand + category), their lifecycle and evidence.

An incident opens when its key enters a tier, and moves
open → escalated → de-escalated → resolved (escalated and de-escalated may
repeat). Every change is an `IncidentUpdate`: one row of the ClickHouse
``incidents`` table (``ORDER BY (incident_id, seq)``) and one message on the
alert stream (JSON, schema ``yuqing.incident/v1``, docs/early_warning.md).
The id is a hash of brand, category and opening time, so a replay of the
same mentions yields the same ids, rows and messages.

The evidence explains the change and lets anyone re-derive it from the stored
mentions: metric deltas against the expectation, score points per signal,
top keywords, top stories with counts, the most influential mentions,
sources, where it began, the ids of the window's mentions and the versions
of the detector and models.

Examples
--------
>>> from datetime import UTC, datetime, timedelta
>>> t0 = datetime(2026, 11, 20, 2, 30, tzinfo=UTC)
>>> inc = Incident.open("星汇支付", "outage", t0, tier=2, score=61.0)
>>> inc.incident_id
'inc-e1d29cb2d145cb76'
>>> up = inc.change(t0 + timedelta(minutes=3), tier=3, score=88.0)
>>> up.change, up.state, up.previous_tier, up.seq, up.peak_score
('escalated', 'escalated', 2, 1, 88.0)
>>> inc.change(t0 + timedelta(minutes=40), tier=0, score=5.0).to_json()["state"]
'resolved'
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from yuqing.warning.signals import Brief
from yuqing.warning.tiers import TIER_LEVELS, TIER_NAMES

INCIDENT_SCHEMA = "yuqing.incident/v1"


@dataclass(frozen=True, slots=True)
class IncidentUpdate:
    """One state change of an incident: a table row and an alert-stream message."""

    incident_id: str
    seq: int
    change: str  # opened | escalated | de-escalated | resolved | false_alarm
    at: datetime
    brand: str
    category: str
    state: str  # open | escalated | de-escalated | resolved
    tier: int
    previous_tier: int
    score: float
    peak_tier: int
    peak_score: float
    peak_at: datetime
    opened_at: datetime
    resolved_at: datetime | None
    false_alarm: bool
    evidence: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Idempotency key of this change (consumers dedup on it)."""
        return f"{self.incident_id}:{self.seq}"

    def to_json(self) -> dict:
        return {
            "schema": INCIDENT_SCHEMA,
            "key": self.key,
            "incident_id": self.incident_id,
            "seq": self.seq,
            "change": self.change,
            "at": self.at.isoformat(),
            "brand": self.brand,
            "category": self.category,
            "state": self.state,
            "tier": self.tier,
            "tier_name": TIER_NAMES[self.tier],
            "level": TIER_LEVELS[self.tier],
            "previous_tier": self.previous_tier,
            "risk_score": self.score,
            "peak": {"tier": self.peak_tier, "risk_score": self.peak_score,
                     "at": self.peak_at.isoformat()},
            "opened_at": self.opened_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "false_alarm": self.false_alarm,
            "evidence": self.evidence,
        }

    def to_row(self) -> tuple:
        """A row of `sinks.tables.INCIDENTS`, in its column order."""
        return (
            self.incident_id, self.seq, self.change, self.at, self.brand, self.category,
            self.state, self.tier, self.previous_tier, self.score, self.peak_tier,
            self.peak_score, self.opened_at, self.resolved_at, int(self.false_alarm),
            json.dumps(self.evidence, ensure_ascii=False, separators=(",", ":")),
        )


@dataclass(slots=True)
class Incident:
    """The open incident of one key; `change` moves it and returns the update."""

    incident_id: str
    brand: str
    category: str
    opened_at: datetime
    tier: int
    score: float
    peak_tier: int
    peak_score: float
    peak_at: datetime
    state: str = "open"
    seq: int = 0
    resolved_at: datetime | None = None
    false_alarm: bool = False
    began: dict = field(default_factory=dict)

    @staticmethod
    def make_id(brand: str, category: str, opened_at: datetime) -> str:
        basis = f"{brand}|{category}|{opened_at.isoformat()}"
        return "inc-" + hashlib.sha1(basis.encode("utf-8")).hexdigest()[:16]

    @classmethod
    def open(cls, brand: str, category: str, at: datetime, tier: int, score: float) -> Incident:
        return cls(cls.make_id(brand, category, at), brand, category, at, tier, score,
                   tier, score, at)

    def update(self, change: str, at: datetime, previous: int,
               evidence: dict | None = None) -> IncidentUpdate:
        """The update describing the incident as it is now."""
        return IncidentUpdate(
            self.incident_id, self.seq, change, at, self.brand, self.category, self.state,
            self.tier, previous, self.score, self.peak_tier, self.peak_score, self.peak_at,
            self.opened_at, self.resolved_at, self.false_alarm, evidence or {},
        )

    def opened(self, evidence: dict | None = None) -> IncidentUpdate:
        return self.update("opened", self.opened_at, 0, evidence)

    def change(self, at: datetime, tier: int, score: float, evidence: dict | None = None,
               false_alarm: bool = False) -> IncidentUpdate:
        """Move to ``tier`` (0 resolves); returns the update to store and announce."""
        previous = self.tier
        self.seq += 1
        self.score = score
        if score > self.peak_score:
            self.peak_score = score
        if tier > self.peak_tier:
            self.peak_tier, self.peak_at = tier, at
        if tier == 0 or false_alarm:
            self.state, self.resolved_at, self.false_alarm = "resolved", at, false_alarm
            change = "false_alarm" if false_alarm else "resolved"
            tier = 0
        else:
            self.state = change = "escalated" if tier > previous else "de-escalated"
        self.tier = tier
        return self.update(change, at, previous, evidence)

    def observe(self, at: datetime, score: float) -> None:
        """Track the peak score between changes."""
        self.score = score
        if score > self.peak_score:
            self.peak_score, self.peak_at = score, at


def cascade_origin(root: str, size: int, seen: tuple | None) -> dict:
    """Where a burst began when it is a repost cascade: the post everyone reposted."""
    out: dict = {"mention_id": root, "first_mention_id": root, "kind": "repost_cascade",
                 "cascade_size": size}
    if seen is not None:
        out["at"], out["source"], out["keywords"] = seen[0].isoformat(), seen[1], list(seen[2])
    return out


def origin_of(briefs: Iterable[Brief], first: int = 5) -> dict:
    """Where a burst began: the platform most frequent among its first negative mentions."""
    early = sorted((b for b in briefs if b.negative), key=lambda b: b.at)[:first]
    if not early:
        return {}
    sources = Counter(b.source for b in early)
    source = max(sources, key=lambda s: (sources[s], -next(
        i for i, b in enumerate(early) if b.source == s)))
    head = next(b for b in early if b.source == source)
    return {"source": source, "at": head.at.isoformat(), "mention_id": head.id,
            "first_mention_id": early[0].id}


def build_evidence(briefs: list[Brief], deltas: dict, parts: dict, window: tuple[datetime, datetime],
                   versions: dict, began: dict, top: int = 5, max_ids: int = 200) -> dict:
    """The evidence of one change from the window's mentions (see the module docstring)."""
    negative = [b for b in briefs if b.negative] or briefs
    keywords = Counter(k for b in negative for k in b.keywords)
    stories: dict[str, list] = {}
    for b in negative:
        entry = stories.setdefault(b.story or b.id, [0, b.id])
        entry[0] += 1
    if began.get("kind") == "repost_cascade":
        # a cascade's subject is what its root post says; its reposts mostly say "转发微博"
        root, size = began["mention_id"], began["cascade_size"]
        keywords.update({k: size for k in began.get("keywords", ())})
        stories = {s: e for s, e in stories.items() if s != root}
        stories[root] = [size, root]
    top_stories = sorted(stories.items(), key=lambda kv: -kv[1][0])[:top]
    influential = sorted(negative, key=lambda b: -b.influence)[:top]
    ids = [b.id for b in briefs]
    return {
        "window": {"from": window[0].isoformat(), "to": window[1].isoformat()},
        "metrics": deltas,
        "score_parts": parts,
        "top_keywords": [[k, n] for k, n in keywords.most_common(top * 2)],
        "top_stories": [{"story_id": s, "count": n, "example_mention_id": mid}
                        for s, (n, mid) in top_stories],
        "influential_mentions": [
            {"mention_id": b.id, "source": b.source, "author_id": b.author,
             "followers": b.followers, "verified": b.verified, "engagement": b.engagement}
            for b in influential],
        "sources": dict(Counter(b.source for b in briefs).most_common()),
        "began": began,
        "mention_ids": ids[-max_ids:],
        "mention_ids_total": len(ids),
        "versions": versions,
    }
