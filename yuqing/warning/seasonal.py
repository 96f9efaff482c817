"""Online seasonal expectation of a series: a level plus an hour-of-day profile.

The expectation at time ``t`` is ``level + offset[slot(t)]``, where the slot is
the position of ``t`` in the day (``slots`` equal slices) or, with
``weekly=True``, in the week (``7 * slots`` slices). Both parts are
exponentially weighted means of the residual, so the profile follows slow
changes in the daily rhythm:

    level     += level_alpha  * (y - expectation)
    offset[s] += season_alpha * (y - expectation)

With ``per_visit=True`` a slot's offset stays fixed while the stream is in
that slot and learns once, when the stream leaves it, from the mean residual
of the visit (``offset[s] += season_alpha * mean residual``). The expectation
then cannot follow a rise that lasts a few hours within the slot, which is
what a detector of sustained deviations needs.

Parameters
----------
slots
    Slices of the day. 24 gives an hour-of-day profile.
level_alpha
    Weight of a new residual in the level; ``1 / 288`` is about a day of
    5-minute rows.
season_alpha
    Weight of a new residual in its slot's offset; each slot is seen
    ``rows per day / slots`` times a day.
weekly
    Learn one profile per day of the week (7 x ``slots`` offsets). Each
    offset then learns once a week only, so it needs weeks of data.
per_visit
    Learn each offset once per visit of its slot (see above); ``season_alpha``
    is then a weight per day (0.2: about five days of memory).

Examples
--------
>>> from datetime import datetime, timedelta
>>> base = SeasonalBaseline(slots=24)
>>> t0 = datetime(2015, 3, 2)
>>> for i in range(288 * 7):                     # a week of 5-minute rows
...     t = t0 + timedelta(minutes=5 * i)
...     base.learn_one(t, 10.0 if 9 <= t.hour < 18 else 2.0)
>>> round(base.predict_one(datetime(2015, 3, 9, 12)), 1)
10.0
>>> round(base.predict_one(datetime(2015, 3, 9, 3)), 1)
2.0

Learning once per visit, a rise inside the current hour leaves the
expectation where the earlier days put it; the default profile follows it:

>>> def after_rise(base):
...     for i in range(288 * 14 + 6):            # two weeks, then half an hour at 40
...         t = t0 + timedelta(minutes=5 * i)
...         base.learn_one(t, 40.0 if i >= 288 * 14 else (10.0 if 9 <= t.hour < 18 else 2.0))
...     return round(base.predict_one(datetime(2015, 3, 16, 0, 30)), 1)
>>> after_rise(SeasonalBaseline()), after_rise(SeasonalBaseline(season_alpha=0.2, per_visit=True))
(20.3, 2.9)
"""

from __future__ import annotations

from datetime import datetime


class SeasonalBaseline:
    """Level plus hour-of-day (optionally day-of-week) offsets, learnt online."""

    def __init__(self, slots: int = 24, level_alpha: float = 1 / 288,
                 season_alpha: float = 0.1, weekly: bool = False, per_visit: bool = False):
        self.slots = slots
        self.level_alpha = level_alpha
        self.season_alpha = season_alpha
        self.weekly = weekly
        self.per_visit = per_visit
        self.level: float | None = None
        self.offsets = [0.0] * (slots * (7 if weekly else 1))
        self._visit: int | None = None     # slot of the current visit (per_visit only)
        self._visit_sum = 0.0
        self._visit_n = 0

    def slot(self, t: datetime) -> int:
        s = (t.hour * 60 + t.minute) * self.slots // 1440
        return s + self.slots * t.weekday() if self.weekly else s

    def predict_one(self, t: datetime) -> float:
        """The expected value at ``t`` (0 before anything was learnt)."""
        return (self.level or 0.0) + self.offsets[self.slot(t)]

    def learn_one(self, t: datetime, y: float) -> None:
        if self.level is None:
            self.level = y
            self._visit = self.slot(t)
            return
        slot = self.slot(t)
        residual = y - self.predict_one(t)
        self.level += self.level_alpha * residual
        if not self.per_visit:
            self.offsets[slot] += self.season_alpha * residual
            return
        if slot != self._visit:
            if self._visit is not None and self._visit_n:
                self.offsets[self._visit] += self.season_alpha * self._visit_sum / self._visit_n
            self._visit, self._visit_sum, self._visit_n = slot, 0.0, 0
        self._visit_sum += residual
        self._visit_n += 1
