"""Scoring incidents and health alerts against a crisis stream's truth file.

The truth file has the format of ``ced_dev/stream.truth.json``: the stream's
``period`` and ``brands``, and ``crises`` with ``brand``, ``onset``, ``t50``
and ``t200``; streams built by `yuqing.evaluation.ced` may add ``outages``
(a source of a brand, or of every brand ``*``, stopped from ``start`` to
``end``). The rules are the ones the held-out streams are scored by:

- a *rise event* is a change that puts an incident at a higher tier than it
  had (opened, escalated);
- a rise event of brand B at t belongs to crisis C of brand B when
  ``onset − 10 min ≤ t ≤ onset + 12 h`` (when two crises of a brand overlap,
  the one with the latest onset ≤ t + 10 min);
- per crisis and tier k: the first rise event to a tier ≥ k that belongs to
  it gives the delay from the onset and from t50; none is a miss at tier k;
- false incidents at tier k: incidents whose first rise to a tier ≥ k
  belongs to no crisis, in total and per brand-day;
- fragmentation: how many distinct incidents rise inside one crisis;
- health alerts: an opened alert matching an outage (its brand and source,
  from its start to 20 min after its end) is a detection, any other is false.

Examples
--------
>>> from datetime import datetime, timedelta
>>> from yuqing.warning.incidents import Incident
>>> truth = CrisisTruth.from_dict({
...     "period": ["2026-11-16T00:00:00+08:00", "2026-11-17T00:00:00+08:00"], "brands": ["甲"],
...     "crises": [{"brand": "甲", "onset": "2026-11-16T10:00:00+08:00",
...                 "t50": "2026-11-16T10:06:00+08:00", "t200": None}]})
>>> t0 = truth.crises[0].onset
>>> inc = Incident.open("甲", "*", t0 + timedelta(minutes=2), tier=1, score=35.0)
>>> updates = [inc.opened({}), inc.change(t0 + timedelta(minutes=7), tier=2, score=55.0)]
>>> report = score(updates, [], truth)
>>> report["tiers"]["2"]["reached"], report["tiers"]["2"]["median_delay_t50_s"]
(1, 60.0)
>>> report["tiers"]["3"]["missed"], report["tiers"]["1"]["false_per_brand_day"]
(1, 0.0)
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from yuqing.errors import UserError
from yuqing.warning.incidents import IncidentUpdate
from yuqing.warning.silence import HealthAlert

BEFORE = timedelta(minutes=10)
AFTER = timedelta(hours=12)
OUTAGE_GRACE = timedelta(minutes=20)


@dataclass(frozen=True, slots=True)
class Crisis:
    brand: str
    onset: datetime
    t50: datetime | None
    t200: datetime | None
    event: str = ""


@dataclass(frozen=True, slots=True)
class Outage:
    source: str
    brand: str  # "*": every brand
    start: datetime
    end: datetime


@dataclass(frozen=True)
class CrisisTruth:
    start: datetime
    end: datetime
    brands: tuple[str, ...]
    crises: tuple[Crisis, ...]
    outages: tuple[Outage, ...] = ()

    @property
    def brand_days(self) -> float:
        return len(self.brands) * (self.end - self.start).total_seconds() / 86400

    @classmethod
    def load(cls, path: Path) -> CrisisTruth:
        try:
            obj = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as err:
            raise UserError(f"{path}: cannot read ({err.strerror}); check --truth") from None
        except json.JSONDecodeError as err:
            raise UserError(f"{path}: not JSON ({err}); give a truth file like "
                            "ced_dev/stream.truth.json") from None
        try:
            return cls.from_dict(obj)
        except (KeyError, TypeError, ValueError) as err:
            raise UserError(f"{path}: not a truth file ({type(err).__name__}: {err}); it needs "
                            "period, brands and crises with brand, onset, t50") from None

    @classmethod
    def from_dict(cls, obj: dict) -> CrisisTruth:
        def at(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        start, end = (datetime.fromisoformat(v) for v in obj["period"])
        crises = tuple(sorted((Crisis(c["brand"], at(c["onset"]), at(c.get("t50")),
                                      at(c.get("t200")), c.get("event", ""))
                               for c in obj["crises"]), key=lambda c: c.onset))
        outages = tuple(Outage(o["source"], o.get("brand", "*"), at(o["start"]), at(o["end"]))
                        for o in obj.get("outages", ()))
        return cls(start, end, tuple(obj["brands"]), crises, outages)

    def crisis_of(self, brand: str, at: datetime) -> Crisis | None:
        """The crisis a rise event of ``brand`` at ``at`` belongs to, if any."""
        mine = [c for c in self.crises if c.brand == brand and c.onset - BEFORE <= at <= c.onset + AFTER]
        return max(mine, key=lambda c: c.onset) if mine else None


def _rises(updates: list[IncidentUpdate]) -> list[IncidentUpdate]:
    return sorted((u for u in updates if u.tier > u.previous_tier), key=lambda u: u.at)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def score(updates: list[IncidentUpdate], health: list[HealthAlert], truth: CrisisTruth) -> dict:
    """Per tier: reached, missed, delays, false incidents; fragmentation; health alerts."""
    rises = _rises(updates)
    report: dict = {"crises": len(truth.crises), "brand_days": round(truth.brand_days, 2),
                    "tiers": {}, "per_crisis": []}
    first_at: dict[tuple[Crisis, int], IncidentUpdate] = {}
    for u in rises:
        crisis = truth.crisis_of(u.brand, u.at)
        if crisis is None:
            continue
        for k in range(1, u.tier + 1):
            first_at.setdefault((crisis, k), u)
    for k in (1, 2, 3):
        onset_delays, t50_delays = [], []
        for c in truth.crises:
            u = first_at.get((c, k))
            if u is None:
                continue
            onset_delays.append((u.at - c.onset).total_seconds())
            if c.t50 is not None:
                t50_delays.append((u.at - c.t50).total_seconds())
        first_rise: dict[str, IncidentUpdate] = {}
        for u in rises:
            if u.tier >= k:
                first_rise.setdefault(u.incident_id, u)
        false = [u for u in first_rise.values() if truth.crisis_of(u.brand, u.at) is None]
        report["tiers"][str(k)] = {
            "reached": len(onset_delays), "missed": len(truth.crises) - len(onset_delays),
            "median_delay_onset_s": _median(onset_delays),
            "median_delay_t50_s": _median(t50_delays),
            "max_delay_t50_s": round(max(t50_delays), 1) if t50_delays else None,
            "false_incidents": len(false),
            "false_per_brand_day": round(len(false) / truth.brand_days, 3),
            "false_detail": [(u.brand, u.category, u.at.isoformat()) for u in false],
        }
    incidents_of: dict[Crisis, set[str]] = defaultdict(set)
    for u in rises:
        crisis = truth.crisis_of(u.brand, u.at)
        if crisis is not None:
            incidents_of[crisis].add(u.incident_id)
    for c in truth.crises:
        row = {"brand": c.brand, "event": c.event, "onset": c.onset.isoformat(),
               "incidents": len(incidents_of.get(c, ()))}
        for k in (1, 2, 3):
            u = first_at.get((c, k))
            row[f"tier{k}_onset_s"] = (u.at - c.onset).total_seconds() if u else None
            row[f"tier{k}_t50_s"] = ((u.at - c.t50).total_seconds()
                                     if u and c.t50 is not None else None)
        report["per_crisis"].append(row)
    counts = [len(incidents_of.get(c, ())) for c in truth.crises if incidents_of.get(c)]
    report["fragmentation"] = {"mean": round(statistics.mean(counts), 2) if counts else None,
                               "max": max(counts, default=0)}
    report["health"] = _health(health, truth)
    return report


def _health(health: list[HealthAlert], truth: CrisisTruth) -> dict:
    opened = [a for a in health if a.state == "open"]
    matched: set[str] = set()
    delays = []
    for o in truth.outages:
        hits = [a for a in opened if a.stream == o.source and o.brand in ("*", a.brand)
                and o.start <= a.at <= o.end + OUTAGE_GRACE]
        matched.update(a.alert_id for a in hits)
        if hits:
            delays.append((min(a.at for a in hits) - o.start).total_seconds())
    false = [a for a in opened if a.alert_id not in matched]
    return {"alerts": len(opened), "outages": len(truth.outages), "outages_detected": len(delays),
            "median_detection_s": _median(delays),
            "max_detection_s": round(max(delays), 1) if delays else None,
            "false_alerts": len(false),
            "false_detail": [(a.brand, a.stream, a.kind, a.at.isoformat()) for a in false]}
