"""In-process counters of what a run did, for the summary `yuqing run` prints.

They count writes as they happen in this process (after a recovery replay a
count can include rewritten rows); the store holds the authoritative totals.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable


class Tally:
    """Thread-safe named counters (Bytewax worker threads share one process).

    Besides plain counts it keeps distinct keys (incident ids, activation
    keys): a replayed or rewritten row is then not counted twice.
    """

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._seen: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def add(self, name: str, n: int) -> None:
        with self._lock:
            self._counts[name] += n

    def add_distinct(self, name: str, key: str) -> None:
        with self._lock:
            self._seen.setdefault(name, set()).add(key)

    def distinct(self, name: str) -> int:
        with self._lock:
            return len(self._seen.get(name, ()))

    def counter(self, name: str) -> Callable[[int], None]:
        return lambda n: self.add(name, n)

    def get(self, name: str) -> int:
        return self._counts[name]

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
