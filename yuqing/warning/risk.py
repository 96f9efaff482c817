"""Risk score 0–100 of one key from its window signals, its expectation and its severity.

The negative count of the window is compared with what the key expects at this
hour and weekday (robust ``z``, see `yuqing.warning.expectation`); reach, opinion
leaders and acceleration amplify a real burst, copies of one story by few
authors damp it, and the category's severity scales it:

    V = max(z, 0) / z_ref · min(1, negative / min_negative)       volume
    S = w_share · max(0, negative_share − usual share)            negative share
    R = w_reach · clip(log10(1 + negative reach) / reach_decades)  reach
    K = w_kol · (1 − exp(−kols / kol_ref))                        opinion leaders
    A = w_velocity · (1 − exp(−max(velocity, 0) / velocity_ref))  acceleration
    O = author factor · copy factor                                organic spread, (0, 1]
    P = 1 − (1 − usual share) · (1 − lift)                        negativity, (0, 1]
    F = severity_floor + (1 − severity_floor) · severity           category severity
    G = clip((V − gate_from) / (1 − gate_from), 0, 1)             gate of the amplifiers
    E = O · P · F · (V · (1 + S) + G · (R + K + A))
    score = 100 · (1 − exp(−E))

``G`` gates the amplifiers: reach, opinion leaders and acceleration count
only once the negative volume itself is clearly out of the ordinary (reach
alone, without more negative mentions than usual, is not a crisis; a few
noisy mentions by one big account are not either). ``P`` damps a burst whose
negative share did not rise (``lift = clip((share − usual) / (½ · (1 −
usual)), 0, 1)``): a harmless viral post brings some negative replies (and
some mislabelled praise) without being a crisis. Where negative is the usual
share (a complaint category), ``P`` stays near 1. The author factor is
``0.25 + 0.75 · min(1, distinct authors per mention / author_ratio_ok)``; the
copy factor is ``1 − copy_penalty · max(0, top story share − 0.5) / 0.5``. The author factor is
``0.5 + 0.5 · min(1, distinct authors per mention / author_ratio_ok)``; the copy
factor is ``1 − copy_penalty · max(0, top story share − 0.5) / 0.5``.
`Risk.parts` splits the score into points per signal, for the evidence.
The defaults were set on the demo scenarios (`yuqing warn eval`, docs/early_warning.md).

Parameters
----------
severity
    The category's severity in [0, 1].
expectation
    Name of the expectation model in `yuqing.warning.expectation.EXPECTATIONS`.
z_ref, min_negative, gate_from, w_share, w_reach, reach_decades, w_kol, kol_ref, w_velocity,
velocity_ref, severity_floor, author_ratio_ok, copy_penalty
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
...     scorer.learn_one(MinuteRow(t0 + timedelta(minutes=i), 3, i % 2, 1))
>>> now = t0 + timedelta(minutes=600)
>>> quiet = Snapshot(now, 3, 1, 200, 0, 4, 0.0, 3, 0.34)
>>> burst = Snapshot(now, 40, 36, 900_000, 3, 300, 3.5, 37, 0.2)
>>> scorer.score_one(quiet).score, scorer.score_one(burst).score
(1.0, 92.4)
>>> scorer.score_one(burst).parts()
{'volume': 49.5, 'negative_share': 20.9, 'reach': 8.6, 'kols': 6.4, 'velocity': 7.0}
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from river import stats

from yuqing.warning.expectation import EXPECTATIONS
from yuqing.warning.signals import MinuteRow, Snapshot

_TERMS = ("volume", "negative_share", "reach", "kols", "velocity")


@dataclass(slots=True, frozen=True)
class Risk:
    """A score with its terms (in ``E`` units) and factors, for explanations."""

    score: float
    z: float
    usual_share: float
    terms: tuple[float, float, float, float, float]  # V, V·S, gated R, K, A
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
                 w_velocity: float = 0.3, velocity_ref: float = 3.0,
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
        self.severity_floor = severity_floor
        self.author_ratio_ok = author_ratio_ok
        self.copy_penalty = copy_penalty
        self.offset_hours = offset_hours
        self.warmup = warmup
        local = {"offset_hours": offset_hours} if expectation in ("seasonal", "burst") else {}
        self.negative_model = EXPECTATIONS[expectation](**local)
        self.count_model = EXPECTATIONS[expectation](**local)
        self.share = stats.EWMean(fading_factor=1 / 1440)
        self.rows = 0

    def learn_one(self, row: MinuteRow) -> None:
        """Learn the window's counts at a minute boundary."""
        self.negative_model.learn_one(row.at, row.negative)
        self.count_model.learn_one(row.at, row.count)
        if row.count:
            self.share.update(row.negative / row.count)
        self.rows += 1

    def score_one(self, s: Snapshot) -> Risk:
        """The risk of the window ``s`` (no learning)."""
        usual = self.share.get() if self.rows else 0.2
        if self.rows < self.warmup:  # minutes seen: too few to know what is usual
            return Risk(0.0, 0.0, usual, (0.0,) * 5, 1.0, 1.0, self.severity)
        z = max(self.negative_model.deviation(s.at, s.negative), 0.0)
        volume = z / self.z_ref * min(1.0, s.negative / self.min_negative)
        if volume <= 0.0:
            return Risk(0.0, z, usual, (0.0,) * 5, 1.0, 1.0, self.severity)
        gate = min(1.0, max(0.0, (volume - self.gate_from) / (1.0 - self.gate_from)))
        share = self.w_share * max(0.0, s.negative_share - usual)
        reach = self.w_reach * min(1.0, math.log10(1 + s.negative_reach) / self.reach_decades)
        kols = self.w_kol * (1.0 - math.exp(-s.kols / self.kol_ref))
        velocity = self.w_velocity * (1.0 - math.exp(-max(s.velocity, 0.0) / self.velocity_ref))
        organic = (0.25 + 0.75 * min(1.0, s.author_ratio / self.author_ratio_ok)) * (
            1.0 - self.copy_penalty * max(0.0, s.top_story_share - 0.5) / 0.5)
        lift = min(1.0, max(0.0, (s.negative_share - usual) / max(0.5 * (1.0 - usual), 1e-9)))
        negativity = 1.0 - (1.0 - usual) * (1.0 - lift)
        factor = organic * negativity * (self.severity_floor + (1 - self.severity_floor) * self.severity)
        terms = (volume, volume * share, gate * reach, gate * kols, gate * velocity)
        energy = factor * sum(terms)
        score = round(100.0 * (1.0 - math.exp(-energy)), 1)
        return Risk(score, z, usual, terms, organic, negativity, self.severity)

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
        }
