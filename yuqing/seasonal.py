"""Online seasonal expectation of a series: a level plus an hour-of-day profile.

The expectation at time ``t`` is ``level + offset[slot(t)]``, where the slot is
the position of ``t`` in the day (``slots`` equal slices) or, with
``weekly=True``, in the week (``7 * slots`` slices). Both parts are
exponentially weighted means of the residual, so the profile follows slow
changes in the daily rhythm:

    level     += level_alpha  * (y - expectation)
    offset[s] += season_alpha * (y - expectation)

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
"""

from __future__ import annotations

from datetime import datetime


class SeasonalBaseline:
    """Level plus hour-of-day (optionally day-of-week) offsets, learnt online."""

    def __init__(self, slots: int = 24, level_alpha: float = 1 / 288,
                 season_alpha: float = 0.1, weekly: bool = False):
        self.slots = slots
        self.level_alpha = level_alpha
        self.season_alpha = season_alpha
        self.weekly = weekly
        self.level: float | None = None
        self.offsets = [0.0] * (slots * (7 if weekly else 1))

    def slot(self, t: datetime) -> int:
        s = (t.hour * 60 + t.minute) * self.slots // 1440
        return s + self.slots * t.weekday() if self.weekly else s

    def predict_one(self, t: datetime) -> float:
        """The expected value at ``t`` (0 before anything was learnt)."""
        return (self.level or 0.0) + self.offsets[self.slot(t)]

    def learn_one(self, t: datetime, y: float) -> None:
        if self.level is None:
            self.level = y
            return
        residual = y - self.predict_one(t)
        self.level += self.level_alpha * residual
        self.offsets[self.slot(t)] += self.season_alpha * residual
