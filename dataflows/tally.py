"""In-process counters of what a run did, for the summary `yuqing run` prints.

They count writes as they happen in this process (after a recovery replay a
count can include rewritten rows); the store holds the authoritative totals.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable

log = logging.getLogger("yuqing.progress")


class Tally:
    """Thread-safe named counters (Bytewax worker threads share one process).

    While `heartbeat` runs, the counts are logged every `progress_every`
    seconds as one `progress:` line whenever they changed: it says the flow is
    alive and how far it got, also when no new item arrives.
    """

    def __init__(self, progress_every: float = 10.0) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.progress_every = progress_every
        self._stop = threading.Event()

    def add(self, name: str, n: int) -> None:
        with self._lock:
            self._counts[name] += n

    def heartbeat(self) -> threading.Event:
        """Start logging progress in a daemon thread; set the returned event to stop it."""

        def beat() -> None:
            last: dict[str, int] = {}
            while not self._stop.wait(self.progress_every):
                counts = self.as_dict()
                if counts != last:
                    last = counts
                    log.info(
                        "progress: %s",
                        " ".join(f"{k}={v}" for k, v in sorted(counts.items()) if ":" not in k),
                    )

        self._stop.clear()
        threading.Thread(target=beat, name="progress", daemon=True).start()
        return self._stop

    def counter(self, name: str) -> Callable[[int], None]:
        return lambda n: self.add(name, n)

    def get(self, name: str) -> int:
        return self._counts[name]

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
