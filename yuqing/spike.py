"""A first, simple spike rule per brand, evaluated on every mention.

It exists so that the path mention -> alert output works end to end; the
River-based early warning of issue 5 replaces it. Rule: the last `span` of
event time holds at least `min_count` mentions and `factor` times the average
`span` of the previous `history`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Spike:
    """A detected spike: when, how many, against which baseline."""

    at: datetime
    count: int
    baseline: float


class SpikeRule:
    """Counts mentions in a sliding event-time span against the recent history.

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> rule = SpikeRule(min_count=5, factor=3.0)
    >>> t0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    >>> quiet = [rule.push(t0 + timedelta(minutes=i)) for i in range(70)]  # 1 per minute
    >>> any(quiet)
    False
    >>> burst = [rule.push(t0 + timedelta(minutes=70, seconds=i)) for i in range(30)]
    >>> next(s for s in burst if s).count
    15
    """

    def __init__(
        self,
        span: timedelta = timedelta(minutes=5),
        history: timedelta = timedelta(hours=1),
        factor: float = 3.0,
        min_count: int = 20,
        cooldown: timedelta = timedelta(minutes=30),
    ) -> None:
        self.span = span
        self.history = history
        self.factor = factor
        self.min_count = min_count
        self.cooldown = cooldown
        self._recent: deque[datetime] = deque()
        self._older: deque[datetime] = deque()
        self._first: datetime | None = None
        self._last_alert: datetime | None = None

    def push(self, at: datetime) -> Spike | None:
        """Add one mention's event time; return a Spike when the rule fires."""
        if self._first is None:
            self._first = at
        self._recent.append(at)
        while self._recent and self._recent[0] <= at - self.span:
            self._older.append(self._recent.popleft())
        while self._older and self._older[0] <= at - self.span - self.history:
            self._older.popleft()
        if at - self._first < self.span + self.history:
            return None  # still learning what normal looks like
        recent = len(self._recent)
        baseline = len(self._older) * (self.span / self.history)
        if recent < self.min_count or recent < self.factor * max(baseline, 1.0):
            return None
        if self._last_alert is not None and at - self._last_alert < self.cooldown:
            return None
        self._last_alert = at
        return Spike(at=at, count=recent, baseline=round(baseline, 2))
