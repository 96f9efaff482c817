"""Burst detector for a count series: seasonal expectation, robust deviation, novelty.

Each count ``x`` is put on a variance-stabilised scale (Anscombe,
``y = 2 * sqrt(x + 3/8)``, where Poisson noise has unit variance), compared
with a :class:`~yuqing.seasonal.SeasonalBaseline` that knows the hour of day,
and divided by a robust scale (an exponentially weighted mean absolute
deviation of winsorised residuals, never below ``floor``):

    z = (y - expected(t)) / max(scale, floor)

``z`` is then judged against what this series has shown recently: a tracked
upper quantile ``q`` of ``z`` (the series' own tail, so a noisy series needs
a larger deviation than a quiet one) and ``m``, a decaying maximum of recent
``z`` (so a burst is news when it starts, and its continuation is not):

    e = max(z, 0) / max(q, m)            score = e / (1 + e)   in [0, 1)

A score of 0.5 means "as far out as this series' usual tail"; on NAB's
Twitter volumes the swept threshold is about 0.64 (``e`` about 1.75).
Residuals are winsorised at ``clip`` scales before they teach the baseline
and the scale, so a burst does not become the new normal. The detector is
strictly online, O(1) per observation, and plain Python state (picklable).

Parameters
----------
baseline
    The seasonal expectation; defaults to ``SeasonalBaseline(slots=24)``.
scale_alpha
    Weight of a new absolute residual in the scale (``1 / 288``: a day of
    5-minute rows).
clip
    Residuals are winsorised at ``clip * scale`` when learning.
floor
    Smallest scale; 1.0 is the Poisson noise on the Anscombe scale, so
    sparse series (a few mentions per interval) are not over-sensitive.
tail
    Target exceedance rate of the tracked quantile ``q`` (0.005: the
    99.5th percentile of ``z``).
quantile_rate
    Multiplicative step of the quantile tracker:
    ``q *= exp(quantile_rate * (1[z > q] - tail))``.
memory
    Decay per observation of the recent maximum ``m`` (``1 / 72``: a burst
    mutes similar deviations for a few hours of 5-minute rows).

Examples
--------
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
(0.44, 0.94, 0.0)
"""

from __future__ import annotations

import math
from datetime import datetime

from yuqing.seasonal import SeasonalBaseline


class BurstDetector:
    """Online burst score in [0, 1) for counts with a daily rhythm."""

    def __init__(self, baseline: SeasonalBaseline | None = None, scale_alpha: float = 1 / 288,
                 clip: float = 2.0, floor: float = 1.0, tail: float = 0.005,
                 quantile_rate: float = 0.05, memory: float = 1 / 72):
        self.baseline = baseline if baseline is not None else SeasonalBaseline()
        self.scale_alpha = scale_alpha
        self.clip = clip
        self.floor = floor
        self.tail = tail
        self.quantile_rate = quantile_rate
        self.memory = memory
        self.scale = floor
        self.q = 3.0
        self.m = 0.0
        self._started = False

    @staticmethod
    def transform(x: float) -> float:
        """Anscombe's variance-stabilising transform of a count."""
        return 2.0 * math.sqrt(max(x, 0.0) + 0.375)

    def deviation(self, t: datetime, x: float) -> float:
        """Robust deviation ``z`` of ``x`` from the expectation at ``t``."""
        if not self._started:
            return 0.0
        residual = self.transform(x) - self.baseline.predict_one(t)
        return residual / max(self.scale, self.floor)

    def score_one(self, t: datetime, x: float) -> float:
        """Burst score of ``x`` at ``t``, without learning from it."""
        z = max(self.deviation(t, x), 0.0)
        e = z / max(self.q, self.m)
        return e / (1.0 + e)

    def learn_one(self, t: datetime, x: float) -> None:
        y = self.transform(x)
        if not self._started:
            self.baseline.learn_one(t, y)
            self._started = True
            return
        scale = max(self.scale, self.floor)
        residual = y - self.baseline.predict_one(t)
        z = max(residual / scale, 0.0)
        self.q *= math.exp(self.quantile_rate * ((1.0 if z > self.q else 0.0) - self.tail))
        self.m = max(z, self.m * (1.0 - self.memory))
        bound = self.clip * scale
        clipped = max(-bound, min(bound, residual))
        self.baseline.learn_one(t, self.baseline.predict_one(t) + clipped)
        self.scale += self.scale_alpha * (1.25 * abs(clipped) - self.scale)

    def update(self, t: datetime, x: float) -> float:
        """Score ``x``, then learn from it: the one call per observation in a stream."""
        score = self.score_one(t, x)
        self.learn_one(t, x)
        return score
