"""Scoring the early warning on demo streams with labelled crises, noise and outages.

`evaluate` runs the generator's bytes through the same objects as the flow
(parse → dedup by id → brand → analysis → `BrandMonitor.push`) and scores the
incidents and health alerts against the labels:

- detection delay of a crisis: onset → the first 二级 or higher of an incident
  of its brand whose category is the crisis's or the brand overall (``*``);
- missed: a crisis never at 二级+; under-graded: a 三级 crisis never at 三级;
- false incidents: 二级+ incidents that match no crisis, per brand per day;
- health alerts: delay from a collector outage's start to its alert, and
  alerts that match no outage.

Analysis is the flow's (`yuqing.evaluation.replay.FlowAnalysis`: the
`Analyzer`, rjieba when installed, and a `StoryClusterer` per brand).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from yuqing.evaluation.demo import DemoConfig, DemoGenerator
from yuqing.evaluation.replay import FlowAnalysis, enrich, monitor
from yuqing.warning.config import WarningConfig
from yuqing.warning.incidents import IncidentUpdate
from yuqing.warning.silence import HealthAlert

BEFORE = timedelta(minutes=5)  # a 二级 this long before the labelled onset still counts
AFTER = timedelta(minutes=30)  # ... and this long after the crisis ended


@dataclass
class IncidentTrack:
    """One incident as the evaluation sees it: its brand, key, times and tiers."""

    incident_id: str
    brand: str
    category: str
    opened_at: datetime
    tier2_at: datetime | None = None
    tier3_at: datetime | None = None
    peak_tier: int = 0
    closed_at: datetime | None = None


@dataclass
class EvalResult:
    config: DemoConfig
    analyzer: str
    mentions: int
    push_seconds: float
    updates: list[IncidentUpdate] = field(default_factory=list)
    health: list[HealthAlert] = field(default_factory=list)
    trace: list[tuple] = field(default_factory=list)

    @property
    def days(self) -> float:
        return self.config.hours / 24

    @property
    def us_per_push(self) -> float:
        return 1e6 * self.push_seconds / max(self.mentions, 1)

    def incidents(self) -> list[IncidentTrack]:
        tracks: dict[str, IncidentTrack] = {}
        for u in self.updates:
            t = tracks.get(u.incident_id)
            if t is None:
                t = tracks[u.incident_id] = IncidentTrack(u.incident_id, u.brand, u.category,
                                                          u.opened_at)
            if u.tier >= 2 and t.tier2_at is None:
                t.tier2_at = u.at
            if u.tier >= 3 and t.tier3_at is None:
                t.tier3_at = u.at
            t.peak_tier = max(t.peak_tier, u.tier)
            t.closed_at = u.at if u.state == "resolved" else None
        return list(tracks.values())

    def crises(self) -> list[dict]:
        """Per crisis: delay to 二级+, the highest tier reached, missed / under-graded."""
        out = []
        for c in self.config.crises:
            end = c.onset + c.duration
            mine = [u for u in self.updates if u.brand == c.brand
                    and u.category in (c.category, "*") and c.onset - BEFORE <= u.at <= end]
            first2 = min((max(u.at, c.onset) for u in mine if u.tier >= 2), default=None)
            first3 = min((max(u.at, c.onset) for u in mine if u.tier >= 3), default=None)
            peak = max((u.tier for u in mine), default=0)
            out.append({
                "brand": c.brand, "category": c.category, "onset": c.onset.isoformat(),
                "tier_expected": c.tier_expected, "peak_tier": peak,
                "delay_s": (first2 - c.onset).total_seconds() if first2 else None,
                "delay_tier3_s": (first3 - c.onset).total_seconds() if first3 else None,
                "missed": first2 is None, "under_graded": peak < c.tier_expected,
            })
        return out

    def false_incidents(self) -> list[IncidentTrack]:
        """Incidents at 二级+ that match no crisis of their brand (any category)."""
        crises = self.config.crises
        return [t for t in self.incidents() if t.tier2_at is not None and not any(
            t.brand == c.brand and c.onset - BEFORE <= t.tier2_at <= c.onset + c.duration + AFTER
            for c in crises)]

    def health_report(self) -> dict:
        opened = [a for a in self.health if a.state == "open"]
        found, delays = set(), []
        for o in self.config.outages:
            hits = [a for a in opened if o.brand in ("*", a.brand)
                    and (a.stream == o.source or (o.source == "*" and a.stream == "*"))
                    and o.start <= a.at <= o.start + o.duration + timedelta(minutes=20)]
            if hits:
                found.update(a.alert_id for a in hits)
                delays.append((min(a.at for a in hits) - o.start).total_seconds())
        unmatched = [a for a in opened if a.alert_id not in found
                     and not any(a.brand == o.brand and o.source == "*"
                                 and o.start <= a.at <= o.start + o.duration + timedelta(minutes=20)
                                 for o in self.config.outages)]
        return {"outages": len(self.config.outages), "detected": len(delays),
                "median_delay_s": statistics.median(delays) if delays else None,
                "false_alerts": len(unmatched),
                "false_alerts_detail": [(a.brand, a.stream, a.at.isoformat()) for a in unmatched]}

    def summary(self) -> dict:
        crises = self.crises()
        delays = [c["delay_s"] for c in crises if c["delay_s"] is not None]
        false = self.false_incidents()
        per_brand: dict[str, int] = defaultdict(int)
        for t in false:
            per_brand[t.brand] += 1
        brands = sorted({c.brand for c in self.config.crises} | set(per_brand)) or ["-"]
        return {
            "days": round(self.days, 2),
            "mentions": self.mentions,
            "crises": len(crises),
            "median_delay_s": statistics.median(delays) if delays else None,
            "max_delay_s": max(delays) if delays else None,
            "missed": sum(c["missed"] for c in crises),
            "missed_tier3": sum(c["missed"] or c["under_graded"] for c in crises
                                if c["tier_expected"] == 3),
            "false_incidents": len(false),
            "false_per_brand_day": {b: round(per_brand[b] / self.days, 2) for b in brands},
            "max_false_per_brand_day": round(max(per_brand.values(), default=0) / self.days, 2),
            "incidents": len(self.incidents()),
            "health": self.health_report(),
            "us_per_push": round(self.us_per_push, 1),
            "analyzer": self.analyzer,
        }


def evaluate(demo: DemoConfig, config: WarningConfig | None = None,
             trace: tuple[str, str] | None = None,
             analysis: FlowAnalysis | None = None) -> EvalResult:
    """Run the demo through `BrandMonitor`s; ``trace=(brand, category)`` records that key."""
    analysis = analysis or FlowAnalysis()
    trace_rows: list[tuple] = []

    def record(item, brand_monitor) -> None:
        key = brand_monitor.keys.get(trace[1])
        if item.brand == trace[0] and key is not None:
            snap = key.signals.snapshot()
            trace_rows.append((item.mention.published_at, snap.negative,
                               key.scorer.negative_model.expected(snap.at), key.score,
                               key.machine.tier))

    run = monitor(enrich(DemoGenerator(demo), analysis), config, record if trace else None)
    return EvalResult(demo, analysis.name, run.mentions, run.push_seconds, run.updates,
                      run.health, trace_rows)
