"""In-process counters of what a run did, for the summary `yuqing run` prints.

They count writes as they happen in this process (after a recovery replay a
count can include rewritten rows); the store holds the authoritative totals.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable


class Tally:
    """Thread-safe named counters (Bytewax worker threads share one process)."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, name: str, n: int) -> None:
        with self._lock:
            self._counts[name] += n

    def counter(self, name: str) -> Callable[[int], None]:
        return lambda n: self.add(name, n)

    def get(self, name: str) -> int:
        return self._counts[name]

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def __getstate__(self) -> dict:
        return {"counts": self.as_dict()}

    def __setstate__(self, state: dict) -> None:
        self.__init__()
        self._counts.update(state["counts"])
