"""Risk score 0–100 of one key from its window signals, its expectation and its severity.

Three things make a crisis: negative opinion far above what the key usually
sees, for a while, and spread, one post reposted far and wide. The negative count of the
5-minute window is compared with what the key expects at this hour and
weekday (robust ``z``, see `yuqing.expectation`); the largest repost cascade
of the last hour is compared with a floor and with the key's usual largest
cascade. Reach, opinion leaders and acceleration amplify a real burst, copies
of one text by few authors damp it, and the category's severity scales it:

    V = max(z, 0) / z_ref · min(1, negative / min_negative)       negative volume
    S = w_share · max(0, negative_share − usual share)            negative share
    R = w_reach · clip(log10(1 + negative reach) / reach_decades)  reach
    K = w_kol · (1 − exp(−kols / kol_ref))                        opinion leaders
    A = w_velocity · (1 − exp(−max(velocity, 0) / velocity_ref))  acceleration
    H = w_spread · max(0, log2(top cascade / base))                spread,
        base = max(cascade_floor, cascade_mult · usual top cascade)
    D = w_duration · (minutes of the last duration_minutes with       duration
        negative z ≥ z_persist and ≥ min_negative) / duration_minutes
    O = author factor · copy factor                                organic, (0, 1]
    P = clip((ρ − opinion_from) / (opinion_full − opinion_from), 0, 1)   negativity
    F = severity_floor + (1 − severity_floor) · severity           category severity
    G = clip((V − gate_from) / (1 − gate_from), 0, 1)             gate of the amplifiers
    E = F · (O · P · (V · (1 + S) + D) + G · (R + K + A) + H)
    score = 100 · (1 − exp(−E))

``ρ`` is the negative part of the opinionated excess of the last hour:
``ρ = n⁺ / (n⁺ + p⁺)`` with ``n⁺``, ``p⁺`` the negative and positive mentions
above what the hour usually holds (½ when neither rose: a neutral burst). It
does not care how many mentions are neutral, so a flood of plain reposts
("转发微博") neither helps nor hides a negative story, and a burst of praise
(ρ near 0) raises no negative volume however large. Spread counts whatever
its tone: hundreds of reposts within the hour are wide attention, which the
strategy library grades 三级 (a possible trust crisis) in any category.

``G`` gates the amplifiers: reach, opinion leaders and acceleration count
only once the negative volume itself is clearly out of the ordinary. The
author factor is ``0.25 + 0.75 · min(1, distinct authors per excess mention /
author_ratio_ok)``; the copy factor is ``1 − copy_penalty · max(0, largest
story per excess mention − 0.5) / 0.5``, both over the mentions beyond the
expected count (see `RiskScorer.organic`). Stories count posts only: reposts
of one post are spread (``H``), copies of one text by few accounts are a
campaign.
When authors are unknown (no ids, no followers), each mention counts as its
own author and reach and opinion leaders are zero: the score grades on
volume, growth and spread alone.
`Risk.parts` splits the score into points per signal, for the evidence.

Parameters
----------
severity
    The category's severity in [0, 1].
expectation
    Name of the expectation model in `yuqing.expectation.EXPECTATIONS`.
z_ref, min_negative, gate_from, w_share, w_reach, reach_decades, w_kol, kol_ref, w_velocity,
velocity_ref, w_spread, cascade_floor, cascade_mult, w_duration, duration_minutes, z_persist,
opinion_from, opinion_full,
severity_floor, author_ratio_ok, copy_penalty
    The constants of the formula above.
offset_hours
    Local time of the brand's audience against UTC (hour-of-day and weekday profiles).
warmup
    Minutes learnt before any score: a brand new key does not know its normal.

Examples
--------
>>> from datetime import UTC, datetime, timedelta
>>> from yuqing.warning.signals import MinuteRow, Snapshot
>>> t0 = datetime(2026, 11, 16, tzinfo=UTC)
>>> scorer = RiskScorer(severity=0.9)
>>> for i in range(600):                                  # ten quiet hours: ~1 negative / 5 min
...     scorer.learn_one(MinuteRow(t0 + timedelta(minutes=i), 3, i % 2, 1, 1, 1))
>>> now = t0 + timedelta(minutes=600)
>>> quiet = Snapshot(now, 3, 1, 200, 0, 4, 0.0, 3, 0.34, 1, 36, 8, 12, 1)
>>> burst = Snapshot(now, 40, 36, 900_000, 3, 300, 3.5, 37, 0.2, 2, 80, 44, 14, 3)
>>> scorer.score_one(quiet).score, scorer.score_one(burst).score
(0.2, 91.8)
>>> scorer.score_one(burst).parts()
{'volume': 50.7, 'negative_share': 18.6, 'reach': 8.8, 'kols': 6.5, 'velocity': 7.1, 'spread': 0.0, 'duration': 0.0}

A repost cascade of 240 in the hour, with no authors known, few negative:

>>> cascade = Snapshot(now, 30, 6, 0, 0, 0, 1.0, 30, 0.0, 3, 260, 40, 25, 240)
>>> risk = scorer.score_one(cascade)
>>> risk.score, risk.parts()["spread"]
(93.4, 77.4)
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from yuqing.warning.expectation import EXPECTATIONS
from yuqing.warning.signals import MinuteRow, Snapshot

_TERMS = ("volume", "negative_share", "reach", "kols", "velocity", "spread", "duration")


class WarmMean:
    """A mean that starts plain and turns exponentially weighted: weight ``max(1/n, alpha)``.

    River's ``stats.EWMean`` starts from its first value and, with a day-long
    memory, remembers it for most of a day; a plain mean first learns the
    level as fast as the data allow.

    >>> m = WarmMean(alpha=0.01)
    >>> for x in (1.0, 0.0, 0.0, 0.0):
    ...     m.update(x)
    >>> m.get()
    0.25
    """

    __slots__ = ("alpha", "mean", "n")

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self.mean = 0.0
        self.n = 0

    def update(self, x: float) -> None:
        self.n += 1
        self.mean += max(1.0 / self.n, self.alpha) * (x - self.mean)

    def get(self) -> float:
        return self.mean

    def __getstate__(self) -> tuple:
        return self.alpha, self.mean, self.n

    def __setstate__(self, state: tuple) -> None:
        self.alpha, self.mean, self.n = state


@dataclass(slots=True)  # not frozen: made per mention, and frozen fields cost ~1 µs more
class Risk:
    """A score with its terms (in ``E`` units) and factors, for explanations."""

    score: float
    z: float
    usual_share: float
    terms: tuple[float, ...]  # O·P·V, O·P·V·S, gated R, K, A, spread, duration (before F)
    organic: float
    negativity: float
    severity: float

    def parts(self) -> dict[str, float]:
        """Points of the score per signal (they add up to the score, up to rounding)."""
        total = sum(self.terms)
        if not total:
            return dict.fromkeys(_TERMS, 0.0)
        return {name: round(self.score * t / total, 1) for name, t in zip(_TERMS, self.terms,
                                                                          strict=True)}


class RiskScorer:
    """Negative-volume burst against a seasonal expectation, amplified and damped; 0–100."""

    def __init__(self, severity: float = 0.5, expectation: str = "seasonal", z_ref: float = 7.0,
                 min_negative: int = 5, gate_from: float = 0.3, w_share: float = 0.5, w_reach: float = 0.3,
                 reach_decades: float = 7.0, w_kol: float = 0.3, kol_ref: float = 3.0,
                 w_velocity: float = 0.3, velocity_ref: float = 3.0, w_spread: float = 0.8,
                 cascade_floor: float = 30.0, cascade_mult: float = 3.0,
                 w_duration: float = 0.5, duration_minutes: int = 30, z_persist: float = 3.0,
                 opinion_from: float = 0.2, opinion_full: float = 0.5,
                 severity_floor: float = 0.4, author_ratio_ok: float = 0.6,
                 copy_penalty: float = 0.5, offset_hours: float = 8.0, warmup: int = 30):
        self.severity = severity
        self.expectation = expectation
        self.z_ref = z_ref
        self.min_negative = min_negative
        self.gate_from = gate_from
        self.w_share = w_share
        self.w_reach = w_reach
        self.reach_decades = reach_decades
        self.w_kol = w_kol
        self.kol_ref = kol_ref
        self.w_velocity = w_velocity
        self.velocity_ref = velocity_ref
        self.w_spread = w_spread
        self.cascade_floor = cascade_floor
        self.cascade_mult = cascade_mult
        self.w_duration = w_duration
        self.duration_minutes = duration_minutes
        self.z_persist = z_persist
        self.opinion_from = opinion_from
        self.opinion_full = opinion_full
        self.severity_floor = severity_floor
        self.author_ratio_ok = author_ratio_ok
        self.copy_penalty = copy_penalty
        self.offset_hours = offset_hours
        self.warmup = warmup
        local = {"offset_hours": offset_hours} if expectation in ("seasonal", "burst") else {}
        self.negative_model = EXPECTATIONS[expectation](**local)
        self.count_model = EXPECTATIONS[expectation](**local)
        self.share = WarmMean(alpha=1 / 1440)
        self.positive_share = WarmMean(alpha=1 / 1440)
        self.usual_cascade = WarmMean(alpha=1 / 1440)
        self.persisted: deque[bool] = deque(maxlen=duration_minutes)  # minutes with z >= z_persist
        self.rows = 0

    def __setstate__(self, state: dict) -> None:
        """States pickled before spread and opinion existed load with fresh trackers."""
        fresh = RiskScorer(expectation=state.get("expectation", "seasonal")).__dict__
        fresh = {k: v for k, v in fresh.items() if k not in ("negative_model", "count_model")}
        self.__dict__.update({**fresh, **state})

    def learn_one(self, row: MinuteRow) -> None:
        """Learn the window's counts at a minute boundary."""
        if self.rows >= self.warmup:
            z = self.negative_model.deviation(row.at, row.negative)
            self.persisted.append(z >= self.z_persist and row.negative >= self.min_negative)
        self.negative_model.learn_one(row.at, row.negative)
        self.count_model.learn_one(row.at, row.count)
        if row.count:
            self.share.update(row.negative / row.count)
            self.positive_share.update(row.positive / row.count)
        usual = self.usual_cascade.get() if self.rows else float(row.top_cascade)
        # a cascade far above the usual one is an event, not the new normal
        self.usual_cascade.update(min(float(row.top_cascade), 2.0 * usual + 1.0))
        self.rows += 1

    def opinion(self, s: Snapshot) -> float:
        """ρ: the negative part of the hour's opinionated excess (½ when neither rose)."""
        expected = self.count_model.expected(s.at) * 12.0
        negative = max(0.0, s.span_negative - self.share.get() * expected)
        positive = max(0.0, s.span_positive - self.positive_share.get() * expected)
        if negative + positive < 1.0:
            return 0.5
        return negative / (negative + positive)

    def score_one(self, s: Snapshot) -> Risk:
        """The risk of the window ``s`` (no learning)."""
        usual = self.share.get() if self.rows else 0.2
        if self.rows < self.warmup:  # minutes seen: too few to know what is usual
            return Risk(0.0, 0.0, usual, (0.0,) * 7, 1.0, 1.0, self.severity)
        z = max(self.negative_model.deviation(s.at, s.negative), 0.0)
        volume = z / self.z_ref * min(1.0, s.negative / self.min_negative)
        base = max(self.cascade_floor, self.cascade_mult * self.usual_cascade.get())
        spread = self.w_spread * max(0.0, math.log2(max(s.top_cascade, 1) / base))
        if volume <= 0.0 and spread <= 0.0:
            return Risk(0.0, z, usual, (0.0,) * 7, 1.0, 1.0, self.severity)
        rho = self.opinion(s)
        negativity = min(1.0, max(0.0, (rho - self.opinion_from)
                                  / (self.opinion_full - self.opinion_from)))
        gate = min(1.0, max(0.0, (volume - self.gate_from) / (1.0 - self.gate_from)))
        share = self.w_share * max(0.0, s.negative_share - usual)
        reach = self.w_reach * min(1.0, math.log10(1 + s.negative_reach) / self.reach_decades)
        kols = self.w_kol * (1.0 - math.exp(-s.kols / self.kol_ref))
        velocity = self.w_velocity * (1.0 - math.exp(-max(s.velocity, 0.0) / self.velocity_ref))
        organic = self.organic(s)
        factor = self.severity_floor + (1 - self.severity_floor) * self.severity
        core = organic * negativity * volume
        duration = self.w_duration * sum(self.persisted) / self.duration_minutes
        terms = (core, core * share, gate * reach, gate * kols, gate * velocity,
                 spread, negativity * organic * duration)
        energy = factor * sum(terms)
        score = round(100.0 * (1.0 - math.exp(-energy)), 1)
        return Risk(score, z, usual, terms, organic, negativity, self.severity)

    def organic(self, s: Snapshot) -> float:
        """Author factor × copy factor, over the window's excess above its expected count.

        The usual traffic of a brand dilutes a campaign among its own posts, so
        both ratios are taken over what came in beyond the expectation: four
        accounts posting one text thirty times above a quiet background are a
        campaign, whatever else the window holds.
        """
        expected = self.count_model.expected(s.at)
        excess = max(s.count - expected, 1.0)
        authors = min(1.0, max(0.0, s.distinct_authors - expected) / excess)
        copies = min(1.0, s.top_story_share * s.count / excess)
        return (0.25 + 0.75 * min(1.0, authors / self.author_ratio_ok)) * (
            1.0 - self.copy_penalty * max(0.0, copies - 0.5) / 0.5)

    def deltas(self, s: Snapshot) -> dict[str, dict[str, float]]:
        """Observed against expected, per metric: the evidence of a score."""
        return {
            "mentions": {"observed": s.count,
                         "expected": round(self.count_model.expected(s.at), 2),
                         "z": round(self.count_model.deviation(s.at, s.count), 2)},
            "negative": {"observed": s.negative,
                         "expected": round(self.negative_model.expected(s.at), 2),
                         "z": round(self.negative_model.deviation(s.at, s.negative), 2)},
            "negative_share": {"observed": round(s.negative_share, 3),
                               "expected": round(self.share.get() if self.rows else 0.2, 3)},
            "negative_reach": {"observed": s.negative_reach},
            "kols": {"observed": s.kols},
            "velocity": {"observed": round(s.velocity, 2)},
            "distinct_authors": {"observed": s.distinct_authors,
                                 "per_mention": round(s.author_ratio, 3)},
            "top_story_share": {"observed": round(s.top_story_share, 3)},
            "top_cascade": {"observed": s.top_cascade,
                            "usual": round(self.usual_cascade.get(), 2)},
            "hour": {"mentions": s.span_count, "negative": s.span_negative,
                     "positive": s.span_positive, "opinion_negative": round(self.opinion(s), 3)},
        }
