"""What count a key's window should hold now: interchangeable online expectations.

Each expectation learns from the window counts at minute boundaries
(`learn_one(t, x)`) and reads, at any moment, the robust deviation of a count
from what it expects (`deviation(t, x)`, in noise units on the Anscombe scale
``y = 2 sqrt(x + 3/8)``, where Poisson noise has unit variance) and the
expected count itself (`expected(t)`). The risk scorer takes any of them, so
they can be measured side by side (`yuqing warn eval --expectation NAME`):

- ``seasonal``: a `WeekdayHourBaseline` (hour-of-day profile plus
  day-of-week offset, local time ``offset_hours``) with a robust scale and a
  free-learning warm-up. The default.
- ``burst``: `yuqing.warning.burst.BurstDetector`'s deviation over the same baseline.
- ``ew``: River ``stats.EWMean`` and ``stats.EWVar`` of ``y``: no season.
- ``holtwinters``: River ``time_series.HoltWinters`` with a daily season of
  1,440 minutes; ``ew`` until a day was seen.
- ``adwin``: River ``drift.ADWIN``'s adaptive-window mean of ``y``.

Examples
--------
>>> from datetime import UTC, datetime, timedelta
>>> t0 = datetime(2026, 11, 16, tzinfo=UTC)
>>> e = SeasonalExpectation()
>>> for i in range(3 * 1440):          # three days: busy from 09:00 to 21:00 local time
...     t = t0 + timedelta(minutes=i)
...     e.learn_one(t, 20 if 9 <= (t.hour + 8) % 24 < 21 else 4)
>>> round(e.expected(datetime(2026, 11, 19, 6, tzinfo=UTC)))    # 14:00 local
21
>>> round(e.deviation(datetime(2026, 11, 19, 6, tzinfo=UTC), 60), 1)
6.4
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from river import stats

from yuqing.warning.burst import BurstDetector
from yuqing.warning.seasonal import SeasonalBaseline


def anscombe(x: float) -> float:
    return 2.0 * math.sqrt(max(x, 0.0) + 0.375)


def from_anscombe(y: float) -> float:
    return max((y / 2.0) ** 2 - 0.375, 0.0)


class WeekdayHourBaseline:
    """An hour-of-day profile plus a day-of-week offset (offsets average to zero).

    The level is a running mean until ``1 / level_alpha`` rows were seen.

    The API of `yuqing.warning.seasonal.SeasonalBaseline`, so `BurstDetector` can use it.
    """

    def __init__(self, daily: SeasonalBaseline | None = None, weekday_alpha: float = 0.001):
        self.daily = daily if daily is not None else SeasonalBaseline(
            slots=24, level_alpha=1 / 1440, season_alpha=0.02)
        self.level_alpha = self.daily.level_alpha
        self.weekday_alpha = weekday_alpha
        self.weekday = [0.0] * 7
        self.n = 0

    def predict_one(self, t: datetime) -> float:
        return self.daily.predict_one(t) + self.weekday[t.weekday()]

    def learn_one(self, t: datetime, y: float) -> None:
        day = t.weekday()
        if self.daily.level is not None:
            step = self.weekday_alpha * (y - self.predict_one(t))
            self.weekday[day] += step
            self.weekday = [w - step / 7 for w in self.weekday]
            self.daily.level += step / 7
        # a running mean of the level at first, so a cold start does not anchor it
        self.n += 1
        self.daily.level_alpha = max(1.0 / self.n, self.level_alpha)
        self.daily.learn_one(t, y - self.weekday[day])


class SeasonalExpectation:
    """A weekday × hour baseline of the Anscombe count with a robust scale, in local time.

    ``z = (y − expected) / max(scale, floor)``; the scale is an exponentially
    weighted mean absolute residual (× 1.25). Residuals are winsorised at
    ``clip`` scales when learnt, so a burst does not become the new normal,
    except in the first ``warmup`` rows, where the baseline learns freely
    (a cold start must catch up with the series, whatever its level).
    """

    name = "seasonal"

    def __init__(self, baseline: WeekdayHourBaseline | None = None, scale_alpha: float = 1 / 1440,
                 clip: float = 2.0, floor: float = 1.0, warmup: int = 60,
                 offset_hours: float = 8.0):
        self.baseline = baseline if baseline is not None else WeekdayHourBaseline()
        self.scale_alpha = scale_alpha
        self.clip = clip
        self.floor = floor
        self.warmup = warmup
        self.offset = timedelta(hours=offset_hours)
        self.scale = floor
        self.n = 0

    def expected(self, t: datetime) -> float:
        return from_anscombe(self.baseline.predict_one(t + self.offset))

    def deviation(self, t: datetime, x: float) -> float:
        if not self.n:
            return 0.0
        return (anscombe(x) - self.baseline.predict_one(t + self.offset)) / max(self.scale,
                                                                                self.floor)

    def learn_one(self, t: datetime, x: float) -> None:
        local, y = t + self.offset, anscombe(x)
        self.n += 1
        if self.n == 1:
            self.baseline.learn_one(local, y)
            return
        residual = y - self.baseline.predict_one(local)
        if self.n > self.warmup:
            bound = self.clip * max(self.scale, self.floor)
            residual = max(-bound, min(bound, residual))
        self.baseline.learn_one(local, self.baseline.predict_one(local) + residual)
        weight = max(1.0 / self.n, self.scale_alpha)
        self.scale += weight * (1.25 * min(abs(residual), 4.0 * max(self.scale, self.floor))
                                - self.scale)


class BurstExpectation:
    """`yuqing.warning.burst.BurstDetector`'s deviation (its baseline learns clipped from the start)."""

    name = "burst"

    def __init__(self, detector: BurstDetector | None = None, offset_hours: float = 8.0):
        self.detector = detector if detector is not None else BurstDetector(
            baseline=WeekdayHourBaseline(), scale_alpha=1 / 1440, memory=1 / 360)
        self.offset = timedelta(hours=offset_hours)

    def expected(self, t: datetime) -> float:
        return from_anscombe(self.detector.baseline.predict_one(t + self.offset))

    def deviation(self, t: datetime, x: float) -> float:
        return self.detector.deviation(t + self.offset, x)

    def learn_one(self, t: datetime, x: float) -> None:
        self.detector.learn_one(t + self.offset, x)


class EWExpectation:
    """River ``stats.EWMean``/``stats.EWVar`` of the Anscombe count: a level, no season."""

    name = "ew"

    def __init__(self, fading_factor: float = 0.01, floor: float = 1.0, clip: float = 2.0):
        self.mean = stats.EWMean(fading_factor)
        self.var = stats.EWVar(fading_factor)
        self.floor = floor
        self.clip = clip
        self.n = 0

    def _scale(self) -> float:
        return max(math.sqrt(max(self.var.get(), 0.0)), self.floor)

    def expected(self, t: datetime) -> float:
        return from_anscombe(self.mean.get())

    def deviation(self, t: datetime, x: float) -> float:
        return (anscombe(x) - self.mean.get()) / self._scale() if self.n else 0.0

    def learn_one(self, t: datetime, x: float) -> None:
        y = anscombe(x)
        if self.n:  # winsorise so a burst does not become the new normal
            bound = self.clip * self._scale()
            y = self.mean.get() + max(-bound, min(bound, y - self.mean.get()))
        self.mean.update(y)
        self.var.update(y)
        self.n += 1


class HoltWintersExpectation:
    """River ``time_series.HoltWinters`` with a daily season of minutes; EW until it has a day."""

    name = "holtwinters"

    def __init__(self, season: int = 1440, alpha: float = 0.05, gamma: float = 0.05,
                 floor: float = 1.0, clip: float = 2.0):
        from river import time_series  # imported here: it pulls in scipy (~1 s at start-up)

        self.model = time_series.HoltWinters(alpha=alpha, beta=0.001, gamma=gamma,
                                             seasonality=season)
        self.warm = EWExpectation()
        self.season = season
        self.scale = stats.EWMean(1 / 1440)
        self.floor = floor
        self.clip = clip
        self.n = 0
        self._forecast: float | None = None

    def _predict(self) -> float | None:
        if self.n <= self.season:
            return None
        if self._forecast is None:
            self._forecast = self.model.forecast(horizon=1)[0]
        return self._forecast

    def expected(self, t: datetime) -> float:
        y = self._predict()
        return self.warm.expected(t) if y is None else from_anscombe(y)

    def deviation(self, t: datetime, x: float) -> float:
        y = self._predict()
        if y is None:
            return self.warm.deviation(t, x)
        return (anscombe(x) - y) / max(1.25 * self.scale.get(), self.floor)

    def learn_one(self, t: datetime, x: float) -> None:
        y = anscombe(x)
        self.warm.learn_one(t, x)
        forecast = self._predict()
        if forecast is not None:
            bound = self.clip * max(1.25 * self.scale.get(), self.floor)
            residual = max(-bound, min(bound, y - forecast))
            self.scale.update(abs(residual))
            y = forecast + residual
        self.model.learn_one(y)
        self.n += 1
        self._forecast = None


class AdwinExpectation:
    """River ``drift.ADWIN``: the mean of the adaptive window of Anscombe counts."""

    name = "adwin"

    def __init__(self, delta: float = 0.002, floor: float = 1.0):
        from river import drift  # imported here: it pulls in scipy (~1 s at start-up)

        self.adwin = drift.ADWIN(delta=delta)
        self.var = stats.EWVar(0.01)
        self.floor = floor

    def expected(self, t: datetime) -> float:
        return from_anscombe(self.adwin.estimation)

    def deviation(self, t: datetime, x: float) -> float:
        if not self.adwin.width:
            return 0.0
        scale = max(math.sqrt(max(self.var.get(), 0.0)), self.floor)
        return (anscombe(x) - self.adwin.estimation) / scale

    def learn_one(self, t: datetime, x: float) -> None:
        y = anscombe(x)
        self.adwin.update(y)
        self.var.update(y)


EXPECTATIONS = {cls.name: cls for cls in (SeasonalExpectation, BurstExpectation, EWExpectation,
                                          HoltWintersExpectation, AdwinExpectation)}
