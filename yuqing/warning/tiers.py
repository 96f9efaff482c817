"""Risk tiers 一级/二级/三级 from a score, with hysteresis, cool-down and a quiet period.

A key climbs to tier ``k`` as soon as its score reaches ``enter[k-1]``; it
holds tier ``k`` while the score stays at or above ``enter[k-1] - hysteresis``.
It steps down only after ``cooldown`` in its current tier (a de-escalation
restarts the clock), never below 一级 while it is open, and it resolves when
the score has stayed below ``enter[0] - hysteresis`` for ``quiet``:

    up:       tier = max k with score >= enter[k-1]                    at once
    down:     tier = max(1, max k with score >= enter[k-1] - hysteresis)  after cooldown
    resolve:  score < enter[0] - hysteresis for quiet, at 一级            -> tier 0

Parameters
----------
thresholds
    `Thresholds`: enter points of 一级, 二级, 三级, the hysteresis band, the
    cool-down and the quiet period.

Examples
--------
>>> from datetime import UTC, datetime, timedelta
>>> t0 = datetime(2026, 11, 20, tzinfo=UTC)
>>> m = TierMachine()
>>> scores = [10, 55, 48, 75, 58, 58, 58, 30] + [10] * 8
>>> changes = [m.step(t0 + timedelta(minutes=5 * i), s) for i, s in enumerate(scores)]
>>> [(5 * i, c) for i, c in enumerate(changes) if c]
[(5, (0, 2)), (15, (2, 3)), (25, (3, 2)), (35, (2, 1)), (70, (1, 0))]
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

TIER_NAMES = {0: "无", 1: "一级", 2: "二级", 3: "三级"}
TIER_LEVELS = {0: "none", 1: "low", 2: "medium", 3: "high"}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Where tiers start (points 0–100), and how sticky they are."""

    enter: tuple[float, float, float] = (30.0, 50.0, 70.0)
    hysteresis: float = 10.0
    cooldown: timedelta = timedelta(minutes=10)
    quiet: timedelta = timedelta(minutes=30)

    def __post_init__(self) -> None:
        low, mid, high = self.enter
        if not 0 < low < mid < high <= 100:
            raise ValueError(f"thresholds {self.enter}: need 0 < 一级 < 二级 < 三级 <= 100")
        if not 0 <= self.hysteresis < low:
            raise ValueError(f"hysteresis {self.hysteresis}: need 0 <= hysteresis < {low}")

    def tier_of(self, score: float) -> int:
        """The tier a key climbs to at ``score`` (0 below 一级)."""
        return sum(score >= e for e in self.enter)

    def raised(self, points: float) -> Thresholds:
        """The same thresholds, every tier ``points`` higher (capped below 100)."""
        enter = tuple(min(e + points, 97.0 + i) for i, e in enumerate(self.enter))
        return replace(self, enter=enter)  # type: ignore[arg-type]


class TierMachine:
    """The tier of one key; `step` per score, returns ``(old, new)`` when it changes."""

    def __init__(self, thresholds: Thresholds | None = None):
        self.thresholds = thresholds if thresholds is not None else Thresholds()
        self.tier = 0
        self.since: datetime | None = None  # when the current tier was entered
        self.quiet_since: datetime | None = None

    def step(self, at: datetime, score: float,
             thresholds: Thresholds | None = None) -> tuple[int, int] | None:
        th = thresholds or self.thresholds
        enter, h = th.enter, th.hysteresis
        up = 3 if score >= enter[2] else 2 if score >= enter[1] else 1 if score >= enter[0] else 0
        old = self.tier
        if up > old:
            self.tier, self.since, self.quiet_since = up, at, None
            return old, up
        if old == 0:
            return None
        hold = (3 if score >= enter[2] - h else 2 if score >= enter[1] - h
                else 1 if score >= enter[0] - h else 0)
        if hold:
            self.quiet_since = None
        elif self.quiet_since is None:
            self.quiet_since = at
        if hold >= old or self.since is None or at - self.since < th.cooldown:
            return None
        if old > 1:
            self.tier, self.since = max(hold, 1), at
            return old, self.tier
        if self.quiet_since is not None and at - self.quiet_since >= th.quiet:
            self.tier, self.since, self.quiet_since = 0, at, None
            return old, 0
        return None
