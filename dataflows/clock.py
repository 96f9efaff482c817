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

It builds on `bytewax.operators.windowing._EventClockLogic` (Bytewax 0.21.1
is pinned and no longer released, see design.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bytewax.operators.windowing import EventClock, _EventClockLogic


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _DrainableClockLogic(_EventClockLogic):
    keep_open: Callable[[], bool] = field(default=lambda: False)

    def on_eof(self) -> datetime:
        return self.on_notify() if self.keep_open() else super().on_eof()


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
            lambda t: self.to_system_utc(t) + down,  # when to wake for a close, on the wall clock
            self.wait_for_system_duration,
            keep_open=self.keep_open,
            **resumed,
        )
