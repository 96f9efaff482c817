"""Early warning of one brand, evaluated on every mention: signals → risk → tier → incident.

`BrandMonitor` keeps, for its brand, one key per named category seen plus
the brand overall (``"*"``), which sees every mention. Each key holds
`WindowSignals`, a `RiskScorer` (whose expectations learn at minute
boundaries), a `TierMachine` and at most one open `Incident`. `push`
updates the mention's category key (none for ``other``: only the brand-wide
key watches mentions no category names) and the overall key, re-scores every
key with an open incident (so incidents de-escalate and resolve while their
mentions dry up), and returns the `IncidentUpdate`\\ s of whatever changed
plus the `HealthAlert`\\ s of `SilenceWatch` (a source or the brand gone
quiet in event time). `tick(now)` does the same from a timer.

One burst, one incident, as specific as the evidence allows: a named
category with an open incident leads, and takes the brand-wide score when
that is higher (a repost cascade seen only brand-wide escalates it); the
brand-wide key opens an incident of its own only when no category leads, so
a burst the classifier cannot name (or one spread over several categories)
is graded on its volume, growth and spread like any other. A key is created
with its clock at the brand's first mention, so a category first seen in a
crisis compares it with the zeros it had before, not with the crisis itself.

`mark_false_alarm` closes the key's incident as a false alarm and raises the
key's thresholds by ``false_alarm_points`` for ``false_alarm_hold`` (stacking
up to ``false_alarm_max``); it returns a `FalseAlarm` record of the change.

State is plain Python and River statistics: it pickles into Bytewax state, and
its size is bounded by the number of categories (see `yuqing.warning.signals`).

Examples
--------
>>> import random
>>> from datetime import UTC, datetime, timedelta
>>> from yuqing.core.enriched import EnrichedMention
>>> from yuqing.core.mention import Author, Mention
>>> rng = random.Random(3)
>>> def item(i, at, category="other", label="neutral"):
...     author = Author(id=f"u{rng.randrange(10**6)}", followers=rng.randrange(10, 5000))
...     m = Mention(f"weibo:{i}", "weibo", at, "…", author=author)
...     return EnrichedMention(m, "星汇支付", category=category, sentiment_label=label)
>>> monitor = BrandMonitor("星汇支付")
>>> t0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
>>> out = []
>>> for i in range(6 * 60 * 2):                                   # six quiet hours, 2 a minute
...     out += monitor.push(item(i, t0 + timedelta(seconds=30 * i)))
>>> for i in range(200):                                          # then an outage story
...     at = t0 + timedelta(hours=6, seconds=3 * i)
...     out += monitor.push(item(10_000 + i, at, "outage", "negative"))
>>> [(u.change, u.category, u.tier, u.at.strftime("%H:%M:%S")) for u in out]
[('opened', 'outage', 1, '06:00:09'), ('escalated', 'outage', 2, '06:00:12'), ('escalated', 'outage', 3, '06:00:30')]
>>> record = monitor.mark_false_alarm("outage", t0 + timedelta(hours=6, minutes=15))
>>> record.update.change, record.thresholds
('false_alarm', [45.0, 65.0, 85.0])
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from yuqing.core.enriched import EnrichedMention
from yuqing.text.tokenizer import default_stopwords
from yuqing.warning.config import WarningConfig
from yuqing.warning.incidents import (
    Incident,
    IncidentUpdate,
    build_evidence,
    cascade_origin,
    origin_of,
)
from yuqing.warning.risk import RiskScorer
from yuqing.warning.signals import Brief, WindowSignals
from yuqing.warning.silence import HealthAlert, SilenceWatch
from yuqing.warning.tiers import Thresholds, TierMachine

DETECTOR_VERSION = "yuqing.early_warning/2.0"
OVERALL = "*"
UNNAMED = "other"  # mentions no category names: the brand-wide key alone watches them
LEAD_SHARE = 0.5  # a category scoring this share of the brand-wide score leads the burst
CASCADE_MIN = 10  # reposts of one post before the post counts as where a burst began
FALSE_ALARM_SCHEMA = "yuqing.false_alarm/v1"


_STOPWORDS = default_stopwords()


_KEYWORDS: dict[str, bool] = {}  # a cache: the same words come back all day


def is_keyword(token: str) -> bool:
    """A word an analyst would read as a subject: no function word, emoticon or punctuation."""
    known = _KEYWORDS.get(token)
    if known is None:
        known = (len(token) > 1 and token not in _STOPWORDS and token[0] != "["
                 and any(ch.isalnum() for ch in token) and not token.isdigit())
        if len(_KEYWORDS) > 200_000:
            _KEYWORDS.clear()
        _KEYWORDS[token] = known
    return known


def brief_of(item: EnrichedMention, keywords: int = 8) -> Brief:
    """The evidence-sized summary of an enriched mention."""
    m = item.mention
    words = dict.fromkeys(item.category_evidence)  # the evidence first, then keywords in order
    if len(words) < keywords:
        known = _KEYWORDS
        for token in item.tokens:  # a long post: stop at the keywords kept, not at its end
            keep = known.get(token)
            if keep is None:
                keep = is_keyword(token)
            if keep:
                words[token] = None
                if len(words) >= keywords:
                    break
    return Brief(m.id, m.published_at, m.source, m.author.id, m.author.followers,
                 m.author.verified, m.engagement.total, item.is_negative,
                 item.story_id or m.parent_id, tuple(words)[:keywords],
                 positive=item.sentiment_label == "positive", parent=m.parent_id)


@dataclass(frozen=True, slots=True)
class FalseAlarm:
    """An analyst's false-alarm verdict and what the detector changed because of it."""

    brand: str
    category: str
    at: datetime
    incident_id: str
    raise_points: float
    until: datetime
    thresholds: list[float]
    note: str
    update: IncidentUpdate | None

    def to_json(self) -> dict:
        return {"schema": FALSE_ALARM_SCHEMA, "brand": self.brand, "category": self.category,
                "at": self.at.isoformat(), "incident_id": self.incident_id,
                "raise_points": self.raise_points, "until": self.until.isoformat(),
                "thresholds": self.thresholds, "note": self.note,
                "detector_version": DETECTOR_VERSION}


class _Key:
    __slots__ = ("incident", "machine", "raise_points", "raise_until", "score", "scorer",
                 "signals")

    def __init__(self, signals: WindowSignals, scorer: RiskScorer, machine: TierMachine):
        self.signals = signals
        self.scorer = scorer
        self.machine = machine
        self.incident: Incident | None = None
        self.raise_points = 0.0
        self.raise_until: datetime | None = None
        self.score = 0.0


class BrandMonitor:
    """Every key of one brand; `push` per mention, `tick` per timer, `mark_false_alarm` per verdict."""

    def __init__(self, brand: str, config: WarningConfig | None = None):
        self.brand = brand
        self.config = config if config is not None else WarningConfig()
        self.keys: dict[str, _Key] = {}
        self.started: datetime | None = None
        self.silence = silence_watch(brand, self.config)
        self.versions = {"detector": DETECTOR_VERSION, "expectation": self.config.expectation,
                         "config": self.config.digest(), **self.config.versions}

    def _key(self, category: str, at: datetime | None = None) -> _Key:
        key = self.keys.get(category)
        if key is None:
            cfg = self.config
            scorer = RiskScorer(severity=cfg.severity_of(category), expectation=cfg.expectation,
                                offset_hours=cfg.timezone_offset_hours, **cfg.scorer)
            key = self.keys[category] = _Key(WindowSignals(**cfg.signals), scorer,
                                             TierMachine(cfg.thresholds_for(self.brand, category)))
            start = self.started or at
            if start is not None:
                key.signals.advance(start)
        return key

    def push(self, item: EnrichedMention) -> list[IncidentUpdate | HealthAlert]:
        """One mention in; the incident changes and health alerts it caused out."""
        at = item.mention.published_at
        out: list[IncidentUpdate | HealthAlert] = list(self.silence.observe(
            item.mention.source, at, repost=bool(item.mention.parent_id)))
        if self.started is None:
            self.started = at
        brief = brief_of(item)
        category = item.category or UNNAMED
        names = (OVERALL,) if category == UNNAMED else (category, OVERALL)
        for name in names:
            key = self._key(name, at)
            for row in key.signals.add(brief):
                key.scorer.learn_one(row)
        active = list(names)
        for name, key in self.keys.items():
            if key.incident is not None and name not in names:
                self._advance(key, at)  # its own mentions may have dried up: it must cool down
                active.append(name)
        self._step(active, at, out)
        return out

    def tick(self, now: datetime) -> list[IncidentUpdate | HealthAlert]:
        """A timer: re-score open incidents at ``now`` and check the streams for silence."""
        out: list[IncidentUpdate | HealthAlert] = list(self.check_silence(now))
        names = [n for n, k in self.keys.items() if k.incident is not None]
        for name in names:
            self._advance(self.keys[name], now)
        if names:
            self._step(names, now, out)
        return out

    def check_silence(self, now: datetime) -> list[HealthAlert]:
        """Pipeline-health alerts for streams gone quiet up to ``now`` (wall clock when live)."""
        return self.silence.check(now)

    def mark_false_alarm(self, category: str, at: datetime, note: str = "") -> FalseAlarm:
        """An analyst says the key's incident is a false alarm: close it and raise the bar."""
        key = self._key(category)
        cfg = self.config
        active = key.raise_until is not None and at < key.raise_until
        key.raise_points = min((key.raise_points if active else 0.0) + cfg.false_alarm_points,
                               cfg.false_alarm_max)
        key.raise_until = at + cfg.false_alarm_hold
        update = None
        incident_id = ""
        if key.incident is not None:
            incident_id = key.incident.incident_id
            update = key.incident.change(at, 0, key.score, {"versions": self.versions,
                                                            "note": note}, false_alarm=True)
            key.incident = None
        key.machine.tier, key.machine.since, key.machine.quiet_since = 0, at, None
        th = self._thresholds(category, key, at)
        return FalseAlarm(self.brand, category, at, incident_id, key.raise_points,
                          key.raise_until, list(th.enter), note, update)

    def _thresholds(self, name: str, key: _Key, at: datetime) -> Thresholds:
        th = self.config.thresholds_for(self.brand, name)
        if key.raise_points and key.raise_until is not None and at < key.raise_until:
            return th.raised(key.raise_points)
        return th

    @staticmethod
    def _advance(key: _Key, at: datetime) -> None:
        for row in key.signals.advance(at):
            key.scorer.learn_one(row)

    def _lead(self, star_score: float) -> str | None:
        """The named category that stands for the brand's burst, if any.

        The one with an open incident (the highest tier, then score), else the
        highest-scoring one whose score is at least ``lead_share`` of the
        brand-wide score: it explains a good part of the burst, so the burst
        gets its category (and its playbook) from the start.
        """
        named = [(k.incident is not None, k.machine.tier, k.score, n)
                 for n, k in self.keys.items() if n != OVERALL]
        if not named:
            return None
        has_incident, _, score, name = max(named)
        if has_incident or (score > 0 and score >= LEAD_SHARE * star_score):
            return name
        return None

    def _step(self, names: list[str], at: datetime, out: list) -> None:
        """Score ``names`` and move their tiers: one incident per burst, the most specific.

        A named category with an open incident leads: it takes the brand-wide
        score when that is higher (spread seen only brand-wide escalates it),
        and the brand-wide key opens nothing of its own meanwhile. Without a
        lead the brand-wide key has its own incident, and a category opens
        beside it only at a higher tier.
        """
        star = self.keys.get(OVERALL)
        star_snap = star_risk = None
        if star is not None:
            star_snap = star.signals.snapshot()
            star_risk = star.scorer.score_one(star_snap)
            star.score = star_risk.score
        scored = {}
        for name in names:
            if name != OVERALL:
                key = self.keys[name]
                snap = key.signals.snapshot()
                risk = key.scorer.score_one(snap)
                key.score = risk.score
                scored[name] = (snap, risk)
        lead = self._lead(star.score if star is not None else 0.0)
        for name, (snap, risk) in scored.items():
            key = self.keys[name]
            score = risk.score
            brand_wide = None
            if name == lead and star_risk is not None and star.incident is None \
                    and star_risk.score > score:
                score, brand_wide = star_risk.score, star_risk
            cap = star.machine.tier if star is not None and star.incident is not None else 0
            self._move(name, key, at, score, cap, snap, risk, brand_wide, out)
        if star is not None and OVERALL in names:
            cap = 3 if star.incident is None and self._lead(star.score) is not None else 0
            self._move(OVERALL, star, at, star_risk.score, cap, star_snap, star_risk, None, out)

    def _move(self, name: str, key: _Key, at: datetime, score: float, cap: int, snap, risk,
              brand_wide, out: list) -> None:
        """Step the key's tiers at ``score``; a key without an incident opens above ``cap`` only."""
        thresholds = self._thresholds(name, key, at)
        if key.incident is None and cap and thresholds.tier_of(score) <= cap:
            score = min(score, thresholds.enter[0] - thresholds.hysteresis - 0.1)
        change = key.machine.step(at, score, thresholds)
        if change is None:
            if key.incident is not None:
                key.incident.observe(at, score)
            return
        old, new = change
        if old == 0:
            key.incident = Incident.open(self.brand, name, at, new, score)
            key.incident.began = self._began(key, snap, risk)
        elif new > old and key.incident is not None \
                and key.incident.began.get("kind") != "repost_cascade":
            began = self._began(key, snap, risk)  # a cascade that grew into the burst
            if began.get("kind") == "repost_cascade":
                key.incident.began = began
        evidence = self._evidence(key, snap, risk)
        if brand_wide is not None:
            evidence["brand_wide"] = {"risk_score": brand_wide.score,
                                      "score_parts": brand_wide.parts()}
        if old == 0:
            out.append(key.incident.opened(evidence))
        elif key.incident is not None:
            out.append(key.incident.change(at, new, score, evidence))
            if new == 0:
                key.incident = None

    @staticmethod
    def _began(key: _Key, snap, risk) -> dict:
        """The cascade's root when a cascade drives the burst, else the first negative posts' platform.

        A cascade drives it when spread is the largest part of the score, or
        when the largest cascade of the hour holds half the window or more.
        """
        signals = key.signals
        parts = risk.parts()
        cascade = signals.top_cascade >= CASCADE_MIN and (
            parts.get("spread", 0.0) >= max(parts.values()) or signals.top_cascade >= 0.5 * snap.count)
        if signals.top_root and cascade:
            return cascade_origin(signals.top_root, signals.top_cascade,
                                  signals.origins.get(signals.top_root))
        return origin_of(signals.recent)

    def _evidence(self, key: _Key, snap, risk) -> dict:
        window = (snap.at - timedelta(minutes=key.signals.minutes), snap.at)
        began = key.incident.began if key.incident is not None else {}
        evidence = build_evidence(list(key.signals.recent), key.scorer.deltas(snap), risk.parts(),
                                  window, self.versions, began)
        evidence["factors"] = {"organic": round(risk.organic, 3),
                               "negativity": round(risk.negativity, 3), "severity": risk.severity}
        evidence["campaign_suspected"] = risk.organic < 0.75
        return evidence


def silence_watch(brand: str, config: WarningConfig) -> SilenceWatch:
    """A `SilenceWatch` with the config's settings (``*_minutes`` and ``*_hours`` as durations)."""
    return SilenceWatch(brand, **_silence_kwargs(config.silence))


def _silence_kwargs(settings: dict) -> dict:
    out = {}
    for name, value in settings.items():
        if name.endswith("_minutes"):
            out[name[: -len("_minutes")]] = timedelta(minutes=float(value))
        elif name.endswith("_hours"):
            out[name[: -len("_hours")]] = timedelta(hours=float(value))
        else:
            out[name] = value
    return out
