"""Burst detector for a count series: two calibrated channels, each firing once per event.

Each count ``x`` is put on a variance-stabilised scale (Anscombe,
``y = 2 * sqrt(x + 3/8)``, where Poisson noise has unit variance) and
compared with a :class:`~yuqing.warning.seasonal.SeasonalBaseline` that knows the
hour of day. The deviation is divided by a robust scale (an exponentially
weighted mean absolute deviation of winsorised residuals, never below
``floor``). Two channels look at it:

**Spike channel.** ``z = (y - expected(t)) / scale`` against the fast
profile (each hour's offset follows within the hour). ``z`` is judged by a
tracked upper quantile ``q`` of ``z`` (the series' own tail) and by ``m``, a
decaying maximum of recent ``z`` (a burst is news when it starts, and its
continuation is not):

    e1 = max(z, 0) / max(q, m)

**Sustained channel.** A slow rise over hours never makes one row stand
out, and the fast profile absorbs it. So a second profile learns each
hour's offset once per visit (``per_visit=True``), ``z2`` is measured
against it, and ``s`` is an exponentially weighted mean of ``z2`` clipped at
``sustained_clip`` (a ``river.stats.EWMean`` with weight ``sustained``). ``s``
is judged by its own tracked quantile ``q2`` (same ``tail``; steps scaled by
``sustained`` because neighbouring values of ``s`` are not independent).
A slowly rising ``s`` would drag a decaying maximum along with it, so the
channel's memory ``M2`` only learns from rows where ``s / q2`` reached
``alert``; it mutes the rest of that event:

    e2 = (max(s, 0) / q2) / max(1, M2)

The score is ``e / (1 + e)`` with ``e = max(e1, e2)``: 0.5 means "as far
out as this series' usual tail". On NAB's Twitter volumes the swept
threshold is about 0.63 (``e`` about 1.7). Residuals are winsorised at
``clip`` scales before they teach the baselines and the scales, so a burst
does not become the new normal. The detector is strictly online, O(1) per
observation, and picklable.

Parameters
----------
baseline
    The spike channel's expectation; defaults to ``SeasonalBaseline(slots=24)``.
sustained_baseline
    The sustained channel's expectation; defaults to
    ``SeasonalBaseline(slots=24, season_alpha=0.2, per_visit=True)`` (an
    hour's offset learns once a day, about five days of memory).
scale_alpha
    Weight of a new absolute residual in each scale (``1 / 288``: a day of
    5-minute rows).
clip
    Residuals are winsorised at ``clip * scale`` when learning.
floor
    Smallest scale; 1.0 is the Poisson noise on the Anscombe scale, so
    sparse series (a few mentions per interval) are not over-sensitive.
tail
    Target exceedance rate of the tracked quantiles ``q`` and ``q2``
    (0.005: the 99.5th percentile).
quantile_rate
    Multiplicative step of the quantile tracker:
    ``q *= exp(quantile_rate * (1[z > q] - tail))``.
memory
    Decay per observation of the memories ``m`` and ``M2`` (``1 / 288``: an
    alert mutes similar deviations for about a day of 5-minute rows).
sustained
    Weight of a new ``z2`` in ``s`` (``1 / 24``: about two hours of
    5-minute rows). ``0`` turns the sustained channel off.
sustained_clip
    ``z2`` is clipped at this many scales before it enters ``s``, so one
    spike cannot pass for a sustained rise.
alert
    ``s / q2`` at which the sustained channel counts as having fired.

Examples
--------
A one-row spike scores high on its row, and much lower on the next:

>>> import random
>>> from datetime import datetime, timedelta
>>> rng = random.Random(7)
>>> detector = BurstDetector()
>>> t0 = datetime(2015, 3, 2)
>>> scores = []
>>> for i in range(2000):
...     t = t0 + timedelta(minutes=5 * i)
...     x = rng.randint(15, 25) + (400 if i == 1900 else 0)
...     scores.append(detector.update(t, x))
>>> round(max(scores[300:1900]), 2), round(scores[1900], 2), round(scores[1901], 2)
(0.44, 0.94, 0.25)

A rise to about twice the usual volume over five hours, where no single row
is extreme, is flagged by the sustained channel about four hours in, on a
few rows:

>>> detector, scores = BurstDetector(), []
>>> for i in range(3000):
...     t = t0 + timedelta(minutes=5 * i)
...     mean = 20 + (min(i - 2700, 60) / 3 if i >= 2700 else 0)
...     scores.append(detector.update(t, rng.randint(int(mean) - 5, int(mean) + 5)))
>>> first = next(i for i in range(2700, 3000) if scores[i] > 0.63)
>>> first - 2700, round(scores[first], 2), sum(s > 0.63 for s in scores[2700:])
(51, 0.64, 8)
"""

from __future__ import annotations

import math
from datetime import datetime

from river import stats

from yuqing.warning.seasonal import SeasonalBaseline


class BurstDetector:
    """Online burst score in [0, 1) for counts with a daily rhythm."""

    cut = 0.6276  # the detector alerts where its score reaches this (fixed, see docs/detector.md)

    @classmethod
    def alerts(cls, score: float) -> bool:
        """Whether a score is an alert of this detector."""
        return score >= cls.cut

    def __init__(self, baseline: SeasonalBaseline | None = None,
                 sustained_baseline: SeasonalBaseline | None = None,
                 scale_alpha: float = 1 / 288, clip: float = 2.0, floor: float = 1.0,
                 tail: float = 0.005, quantile_rate: float = 0.05, memory: float = 1 / 288,
                 sustained: float = 1 / 24, sustained_clip: float = 3.0, alert: float = 2.0):
        self.baseline = baseline if baseline is not None else SeasonalBaseline()
        self.sustained_baseline = (sustained_baseline if sustained_baseline is not None
                                   else SeasonalBaseline(season_alpha=0.2, per_visit=True))
        self.scale_alpha = scale_alpha
        self.clip = clip
        self.floor = floor
        self.tail = tail
        self.quantile_rate = quantile_rate
        self.memory = memory
        self.sustained = sustained
        self.sustained_clip = sustained_clip
        self.alert = alert
        self.scale = floor
        self.scale2 = floor
        self.q = 3.0
        self.q2 = 1.0
        self.m = 0.0
        self.m2 = 0.0
        self.s = stats.EWMean(fading_factor=sustained)
        self.s.update(0.0)
        self._started = False

    @staticmethod
    def transform(x: float) -> float:
        """Anscombe's variance-stabilising transform of a count."""
        return 2.0 * math.sqrt(max(x, 0.0) + 0.375)

    def deviation(self, t: datetime, x: float) -> float:
        """Robust deviation ``z`` of ``x`` from the spike channel's expectation at ``t``."""
        if not self._started:
            return 0.0
        residual = self.transform(x) - self.baseline.predict_one(t)
        return residual / max(self.scale, self.floor)

    def _channels(self, t: datetime, y: float) -> tuple[float, float, float]:
        """``z``, the would-be ``s`` after this row, and ``z2`` clipped."""
        z = (y - self.baseline.predict_one(t)) / max(self.scale, self.floor)
        z2 = (y - self.sustained_baseline.predict_one(t)) / max(self.scale2, self.floor)
        z2 = max(-self.sustained_clip, min(self.sustained_clip, z2))
        s = self.s.get() + self.sustained * (z2 - self.s.get())
        return z, s, z2

    def _exceedance(self, z: float, s: float) -> tuple[float, float, float]:
        """``e1``, ``e2`` and ``s / q2`` (the sustained channel before its memory)."""
        e1 = max(z, 0.0) / max(self.q, self.m)
        r2 = max(s, 0.0) / self.q2 if self.sustained > 0 else 0.0
        return e1, r2 / max(1.0, self.m2), r2

    def score_one(self, t: datetime, x: float) -> float:
        """Burst score of ``x`` at ``t``, without learning from it."""
        if not self._started:
            return 0.0
        z, s, _ = self._channels(t, self.transform(x))
        e1, e2, _ = self._exceedance(z, s)
        e = max(e1, e2)
        return e / (1.0 + e)

    def learn_one(self, t: datetime, x: float) -> None:
        y = self.transform(x)
        if not self._started:
            self.baseline.learn_one(t, y)
            self.sustained_baseline.learn_one(t, y)
            self._started = True
            return
        z, s, z2 = self._channels(t, y)
        _, _, r2 = self._exceedance(z, s)
        z = max(z, 0.0)
        self.q *= math.exp(self.quantile_rate * ((1.0 if z > self.q else 0.0) - self.tail))
        self.m = max(z, self.m * (1.0 - self.memory))
        if self.sustained > 0:
            rate = self.quantile_rate * self.sustained
            self.q2 *= math.exp(rate * ((1.0 if max(s, 0.0) > self.q2 else 0.0) - self.tail))
            self.m2 = max(r2 if r2 >= self.alert else 0.0, self.m2 * (1.0 - self.memory))
            self.s.update(z2)
        self.scale = self._learn(self.baseline, self.scale, t, y)
        self.scale2 = self._learn(self.sustained_baseline, self.scale2, t, y)

    def _learn(self, baseline: SeasonalBaseline, scale: float, t: datetime, y: float) -> float:
        """Teach ``baseline`` the winsorised residual; return the updated scale."""
        bound = self.clip * max(scale, self.floor)
        expected = baseline.predict_one(t)
        clipped = max(-bound, min(bound, y - expected))
        baseline.learn_one(t, expected + clipped)
        return scale + self.scale_alpha * (1.25 * abs(clipped) - scale)

    def update(self, t: datetime, x: float) -> float:
        """Score ``x``, then learn from it: the one call per observation in a stream."""
        score = self.score_one(t, x)
        self.learn_one(t, x)
        return score


class CountScale:
    """A burst detector for any series: values put on a count-like scale first.

    `BurstDetector` reads counts (its noise floor is Poisson's). Series that
    are not counts (a CPU share, a price, a temperature, negative values) are
    shifted by the minimum of their first ``first`` rows and scaled so those
    rows spread over ``units`` counts, then clipped at 0; scale and shift stay
    fixed afterwards, so the transform is causal. The first rows score 0.

    >>> from datetime import datetime, timedelta
    >>> d = CountScale()
    >>> t0 = datetime(2015, 3, 2)
    >>> scores = [d.update(t0 + timedelta(minutes=5 * i), 0.5 + 0.01 * (i % 7)) for i in range(600)]
    >>> max(scores[:100]), round(d.update(t0 + timedelta(days=3), 2.5), 2)
    (0.0, 0.88)
    """

    def __init__(self, detector: BurstDetector | None = None, first: int = 100,
                 units: float = 5.0):
        self.detector = detector if detector is not None else BurstDetector()
        self.first = first
        self.units = units
        self.seen: list[float] = []
        self.shift: float | None = None
        self.scale = 1.0

    @property
    def cut(self) -> float:
        return self.detector.cut

    def update(self, t: datetime, x: float) -> float:
        if self.shift is None:
            self.seen.append(x)
            if len(self.seen) >= self.first:
                mean = sum(self.seen) / len(self.seen)
                spread = math.sqrt(sum((v - mean) ** 2 for v in self.seen) / len(self.seen))
                self.shift = min(self.seen)
                self.scale = self.units / (spread or abs(mean) or 1.0)
                self.seen = []
            return 0.0
        return self.detector.update(t, max((x - self.shift) * self.scale, 0.0))
