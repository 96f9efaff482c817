"""The progress line a run logs while it works: rate, share done, ETA, and what needs a look.

An operator watching a replay wants to know how far it got and when it will
end, not raw counters; and when many mentions miss their window, they want to
hear it while the run goes, with the flag that fixes it.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from yuqing.dataflows.tally import Tally

log = logging.getLogger("yuqing.progress")

LATE_WARN_SHARE = 0.03  # warn once this share of mentions missed their window ...
LATE_WARN_MIN = 20  # ... and at least this many did


class InputProgress:
    """How far a finite input got: each partition reports units done out of its total.

    Units are whatever the partition knows cheaply: bytes of a file, minutes of
    the demo, offsets of a Kafka partition read up to its end. A partition
    with no known end does not report, and the line shows no share or ETA.
    """

    def __init__(self) -> None:
        self._parts: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def report(self, part: str, done: float, total: float) -> None:
        with self._lock:
            self._parts[part] = (done, total)

    def fraction(self) -> float | None:
        """Share of the input read, 0..1, or None when no partition knows its end."""
        with self._lock:
            parts = list(self._parts.values())
        total = sum(t for _, t in parts)
        if not parts or total <= 0:
            return None
        return min(1.0, sum(min(d, t) for d, t in parts) / total)


def late_share(counts: dict[str, int]) -> tuple[float, int, int]:
    """(share, late, seen): mentions that arrived after their window closed."""
    late, written = counts.get("late", 0), counts.get("mentions", 0)
    seen = max(written, late)
    return (late / seen if seen else 0.0), late, seen


def late_advice(lateness: timedelta) -> str:
    """The flag to raise, with a value to try (four times the current wait, at least a minute)."""
    now = int(lateness.total_seconds())
    return f"raise --lateness (now {now} s), e.g. --lateness {max(60, 4 * now)}"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class ProgressLog:
    """Logs one `progress:` line every `every` seconds while counts change.

    The line counts what the summary counts: incidents and activations are
    distinct ones (a rewritten row is not a new activation), mentions are
    written rows, and the rate is over the last interval.
    """

    def __init__(
        self,
        tally: Tally,
        position: InputProgress | None = None,
        every: float = 10.0,
        lateness: timedelta = timedelta(seconds=30),
    ) -> None:
        self.tally, self.position, self.every, self.lateness = tally, position, every, lateness
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned_late = False
        self._started = time.monotonic()
        self._last: tuple[float, int] = (self._started, 0)

    def line(self, now: float | None = None) -> str:
        """The progress line for the counts as they are now."""
        now = time.monotonic() if now is None else now
        counts = self.tally.as_dict()
        mentions = counts.get("mentions", 0)
        then, before = self._last
        rate = (mentions - before) / (now - then) if now > then else 0.0
        self._last = (now, mentions)
        parts = []
        fraction = self.position.fraction() if self.position is not None else None
        head = f"{mentions:,} mentions at {rate:,.0f}/s"
        if fraction is not None:
            head = f"{fraction:.0%} of input, " + head
            elapsed = now - self._started
            if 0 < fraction < 1 and elapsed > 0:
                head += f", ETA {_duration(elapsed * (1 - fraction) / fraction)}"
        parts.append(head)
        parts.append(
            f"incidents {self.tally.distinct('incidents'):,}"
            f" ({counts.get('incident_changes', 0):,} changes)"
        )
        parts.append(f"activations {self.tally.distinct('activations'):,}")
        for key, label in (("tickets", "tickets"), ("dead_letters", "dead letters"),
                           ("duplicates", "duplicates")):
            if counts.get(key):
                parts.append(f"{label} {counts[key]:,}")
        learned = [f"{k[9:]} {v:,}" for k, v in sorted(counts.items()) if k.startswith("feedback_")]
        if learned:
            parts.append("feedback " + ", ".join(learned))
        share, late, _ = late_share(counts)
        if late:
            parts.append(f"late {share:.1%}")
        return "progress: " + " · ".join(parts)

    def check_late(self) -> None:
        """Warn once when too many mentions miss their window, naming the flag to raise."""
        share, late, seen = late_share(self.tally.as_dict())
        if self._warned_late or late < LATE_WARN_MIN or share < LATE_WARN_SHARE:
            return
        self._warned_late = True
        log.warning(
            "%.1f%% of mentions (%s of %s) arrived after their window closed and are missing "
            "from window_metrics (incidents still see them); the input is out of order by more "
            "than --lateness: %s",
            100 * share, f"{late:,}", f"{seen:,}", late_advice(self.lateness),
        )

    def start(self) -> ProgressLog:
        """Log in a daemon thread until `stop`."""
        self._stop.clear()
        self._started = time.monotonic()
        self._last = (self._started, 0)
        self._thread = threading.Thread(target=self._beat, name="progress", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the thread; its last line gives the final counts."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _beat(self) -> None:
        last: dict[str, int] = {}

        def log_if_changed() -> None:
            nonlocal last
            counts = self.tally.as_dict()
            if counts != last:
                last = counts
                log.info("%s", self.line())
                self.check_late()

        while not self._stop.wait(self.every):
            log_if_changed()
        log_if_changed()
