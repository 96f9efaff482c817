"""Exact-duplicate suppression by mention id, with memory bounded by event time.

Collectors re-send, Kafka redelivers, users replay files: the same id must be
counted once. Remembering every id forever would grow without bound, so ids are
forgotten once the stream's event time has moved `horizon` past them.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta


class RecentIds:
    """Remembers ids seen within `horizon` of the newest event time.

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> seen = RecentIds(horizon=timedelta(hours=1))
    >>> t0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    >>> seen.first_time("weibo:1", t0), seen.first_time("weibo:1", t0)
    (True, False)
    >>> seen.first_time("weibo:2", t0 + timedelta(hours=2))  # weibo:1 is now forgotten
    True
    >>> len(seen)
    1
    """

    def __init__(self, horizon: timedelta = timedelta(hours=48)) -> None:
        self.horizon = horizon
        self._ids: set[str] = set()
        self._order: deque[tuple[datetime, str]] = deque()
        self._newest: datetime | None = None

    def __len__(self) -> int:
        return len(self._ids)

    def first_time(self, mention_id: str, event_time: datetime) -> bool:
        """True the first time an id is seen (within the horizon), False for repeats."""
        if self._newest is None or event_time > self._newest:
            self._newest = event_time
            self._forget_before(event_time - self.horizon)
        if mention_id in self._ids:
            return False
        self._ids.add(mention_id)
        self._order.append((event_time, mention_id))
        return True

    def _forget_before(self, cutoff: datetime) -> None:
        while self._order and self._order[0][0] < cutoff:
            _, old = self._order.popleft()
            self._ids.discard(old)
