"""The windows' event-time clock, without the time a restarted run was down.

Bytewax's `EventClock` lets the watermark run on with the system clock after
the newest event (so quiet windows close in a live stream), and it snapshots
the system time of that event. After a restart the downtime counts as if it
had passed in the stream: the watermark jumps ahead by it and mentions that
arrive after the restart land behind it, late, and are dropped from their
windows. `ResumingEventClock` resumes each key's clock where its snapshot left
it: from then on its system time is the wall clock less the downtime.

It builds on `bytewax.operators.windowing._EventClockLogic` (Bytewax 0.21.1
is pinned and no longer released, see design.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bytewax.operators.windowing import EventClock, _EventClockLogic


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ResumingEventClock(EventClock):
    """An `EventClock` whose resumed keys do not count the downtime."""

    def build(self, resume_state):
        if resume_state is None:
            return super().build(None)
        down = _utc_now() - resume_state.system_time_of_max_event
        if down <= timedelta(0):
            return super().build(resume_state)
        return _EventClockLogic(
            lambda: _utc_now() - down,  # the clock goes on from the snapshot, not from now
            self.ts_getter,
            lambda t: self.to_system_utc(t) + down,  # when to wake for a close, on the wall clock
            self.wait_for_system_duration,
            resume_state,
        )
