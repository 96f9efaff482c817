"""In-process counters of what a run did, for the summary `yuqing run` prints.

They count writes as they happen in this process (after a recovery replay a
count can include rewritten rows); the store holds the authoritative totals.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

log = logging.getLogger("yuqing.progress")


class Tally:
    """Thread-safe named counters (Bytewax worker threads share one process).

    Every `progress_every` seconds the counts are logged as one `progress:`
    line, a heartbeat that says the flow is alive and moving.
    """

    def __init__(self, progress_every: float = 10.0) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.progress_every = progress_every
        self._last_log = time.monotonic()

    def add(self, name: str, n: int) -> None:
        with self._lock:
            self._counts[name] += n
            now = time.monotonic()
            if now - self._last_log < self.progress_every:
                return
            self._last_log = now
            counts = " ".join(f"{k}={v}" for k, v in sorted(self._counts.items()))
        log.info("progress: %s", counts)

    def counter(self, name: str) -> Callable[[int], None]:
        return lambda n: self.add(name, n)

    def get(self, name: str) -> int:
        return self._counts[name]

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def __getstate__(self) -> dict:
        return {"counts": self.as_dict(), "progress_every": self.progress_every}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state.get("progress_every", 10.0))
        self._counts.update(state["counts"])
