"""The windows' event-time clock, without the time a restarted run was down.

Bytewax's `EventClock` lets the watermark run on with the system clock after
the newest event (so quiet windows close in a live stream), and it snapshots
the system time of that event. After a restart the downtime counts as if it
had passed in the stream: the watermark jumps ahead by it and mentions that
arrive after the restart land behind it, late, and are dropped from their
windows. `ResumingEventClock` resumes each key's clock where its snapshot left
it: from then on its system time is the wall clock less the downtime.

A drained run (SIGTERM, Ctrl-C) ends its inputs, and Bytewax closes every
open window at the end of input. With `--recovery` that would write half
windows and forget their contents, so the clock keeps windows open then (its
watermark at the end is the one it had): they are snapshotted and completed
after the restart. A finite input that ends by itself closes them as usual.

It also says when to wake up for a window's close: when the watermark will
reach it if no event comes, ``system time of the newest event + (close −
watermark base)``. Bytewax's `EventClock` takes the close time itself as the
system time (`to_system_utc` defaults to the identity). For a replay of past
events that time has always passed, and for a live stream it comes a
lateness too early; in both cases the runtime asked every key again on each
wake-up while the watermark stayed put: 178,064 such calls in one process of a
6-second 2-process replay, where the right wake-up needs none.

It builds on `bytewax.operators.windowing._EventClockLogic` (Bytewax 0.21.1
is pinned and no longer released, see design.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bytewax.operators.windowing import UTC_MIN, EventClock, _EventClockLogic


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _DrainableClockLogic(_EventClockLogic):
    keep_open: Callable[[], bool] = field(default=lambda: False)
    down: timedelta = timedelta(0)  # the downtime of a resumed key, left out of its clock

    def on_eof(self) -> datetime:
        return self.on_notify() if self.keep_open() else super().on_eof()

    def to_system_utc(self, timestamp: datetime) -> datetime | None:
        """The wall-clock time at which the watermark reaches ``timestamp`` if no event comes."""
        state = self.state
        if state is None or state.watermark_base <= UTC_MIN:
            return None  # no event yet, so no window: new items or the end close them
        try:
            return state.system_time_of_max_event + (timestamp - state.watermark_base) + self.down
        except OverflowError:
            return None


@dataclass
class ResumingEventClock(EventClock):
    """An `EventClock` whose resumed keys do not count the downtime.

    `keep_open()` true at the end of input means the run is draining to
    resume later: windows stay open (and in the snapshot) instead of closing.
    """

    keep_open: Callable[[], bool] = field(default=lambda: False)

    def build(self, resume_state):
        down = timedelta(0)
        if resume_state is not None:
            down = max(timedelta(0), _utc_now() - resume_state.system_time_of_max_event)
            resumed = {"state": resume_state}
        else:
            resumed = {}
        return _DrainableClockLogic(
            lambda: _utc_now() - down,  # the clock goes on from the snapshot, not from now
            self.ts_getter,
            self.to_system_utc,  # unused: the logic knows when its watermark reaches a time
            self.wait_for_system_duration,
            keep_open=self.keep_open,
            down=down,
            **resumed,
        )
