"""Silence is a signal: a brand's or a source's stream far below its expectation, or stopped.

For one brand, `SilenceWatch` counts mentions per event-time minute for the
brand overall (stream ``"*"``) and per source, and at every minute boundary
judges each stream against what it should have held:

- a source: its usual share ``p`` of the brand's mentions (an exponentially
  weighted ratio, ``share_memory`` six hours, taken at its lower bound: the
  source's count less two Poisson deviations, so a share learnt from few
  mentions errs low) applied to what the other sources brought in the same
  minutes, ``p / (1 − p) · others``. The daily rhythm, crises and viral bursts move the brand and its
  sources together, so they cancel; a collector that breaks does not.
- the brand overall: its rate before the judged minutes (the lower of two
  exponentially weighted means, over ``memory``, one hour, and a quarter of
  it, skipping minutes above ``2 · rate + 3`` so a crisis does not raise it;
  the expectation errs low, which only makes the alert more cautious, and
  the faster mean follows the evening's fall into the night).

Only original posts are counted: reposts come in cascades on one source at a
time, and a source's share learnt from them made the quiet after a cascade
look like an outage. Minutes in which the brand bursts do not teach shares
either. Reposts still prove a collector alive: a stream that brought any in
its judged span, or whose silence a repost ends, is not judged (a replay
whose original posts end while its cascades go on is not an outage).

A stream whose expectation is at least ``min_expected`` mentions raises a
pipeline-health alert when it has been silent so long that ``Poisson(expected)``
of those minutes would hardly ever be zero (``exp(-expected) <= p_value``:
``stopped``), or, for a source, when its last ``span`` minutes hold

    observed <= max_ratio · expected   and   P(Poisson(expected) <= observed) <= p_value

(``drop``): a broken collector, an expired API key. It recovers when its last
``recover_span`` minutes hold at least ``recover_ratio`` of their expectation.
Streams under alert do not learn, so an outage does not become the new normal.
Both references were chosen by measurement (`yuqing warn eval`): an
hour-of-day profile learnt online lagged the rhythm and raised false alerts on
the first nights, and per-source rates followed crises up and then "saw" the
quiet after them as outages. Minutes close from event time inside `observe`
(replays, and a source that stops while the others go on) and from the wall
clock in `check` (live streams, when a whole brand stops).

Examples
--------
>>> from datetime import UTC, datetime, timedelta
>>> t0 = datetime(2026, 11, 16, tzinfo=UTC)
>>> watch = SilenceWatch("星汇支付")
>>> alerts = []
>>> for i in range(6 * 60 * 4):                       # 4 mentions a minute for six hours
...     source = "weibo" if i % 2 else "news"
...     if i > 5 * 60 * 4 and source == "weibo":      # the weibo collector breaks at 05:00
...         continue
...     alerts += watch.observe(source, t0 + timedelta(seconds=15 * i))
>>> [(a.stream, a.state, a.kind, a.at.strftime("%H:%M"), a.observed) for a in alerts]
[('weibo', 'open', 'stopped', '05:07', 0)]
>>> [(a.stream, a.state) for a in watch.check(t0 + timedelta(hours=7))]   # everything stops
[('*', 'open')]
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice

HEALTH_SCHEMA = "yuqing.health/v1"
ALL_BRANDS = "*"  # the brand of a watch over every brand's mentions: a collector serves them all
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class HealthAlert:
    """A stream of mentions too quiet (``open``) or back to normal (``recovered``)."""

    alert_id: str
    state: str  # open | recovered
    kind: str  # stopped | drop
    brand: str
    stream: str  # "*" for the brand overall, else the source
    at: datetime
    opened_at: datetime
    observed: int
    expected: float
    span_minutes: int
    last_seen: datetime | None

    @property
    def key(self) -> str:
        return f"{self.alert_id}:{self.state}"

    @property
    def summary(self) -> str:
        where = "all sources" if self.stream == "*" else self.stream
        if self.state == "recovered":
            return f"{self.brand} / {where}: mentions are back ({self.observed} vs {self.expected:.0f} expected)"
        return (f"{self.brand} / {where}: {self.observed} mentions in {self.span_minutes} min, "
                f"{self.expected:.0f} expected — check the collector")

    def to_row(self) -> tuple:
        """A row of `sinks.tables.ALERTS` (key, kind, brand, at, summary, payload)."""
        payload = json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":"))
        return (self.key, "pipeline_health", self.brand, self.at, self.summary, payload)

    def to_json(self) -> dict:
        return {
            "schema": HEALTH_SCHEMA, "key": self.key, "alert_id": self.alert_id,
            "kind": "pipeline_health", "state": self.state, "reason": self.kind,
            "brand": self.brand, "stream": self.stream, "at": self.at.isoformat(),
            "opened_at": self.opened_at.isoformat(), "observed": self.observed,
            "expected": round(self.expected, 1), "span_minutes": self.span_minutes,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "summary": self.summary,
        }


class _Stream:
    __slots__ = ("counts", "current", "echoes", "fast", "heard", "hold", "last_seen", "learnt",
                 "opened", "others", "others_sum", "rate", "silent", "silent_sum", "volume")

    def __init__(self, span: int, horizon: int):
        self.counts: deque[int] = deque(maxlen=span)  # the judged minutes
        self.others: deque[float] = deque(maxlen=horizon)  # the other sources' counts, capped
        self.others_sum = 0.0  # over the last span minutes
        self.silent_sum = 0.0  # over the trailing silent minutes (at most horizon)
        self.echoes = 0  # reposts this minute: not counted, but the collector is alive
        self.heard: deque[int] = deque(maxlen=span)  # reposts per judged minute
        self.current = 0
        self.last_seen: datetime | None = None
        self.opened: HealthAlert | None = None
        self.rate = 0.0  # mentions per minute before the judged span, bursts skipped
        self.fast = 0.0  # the same over a quarter of the memory: follows the daily fall sooner
        self.volume = 0.0  # the same, bursts included: the stream's part of the brand
        self.learnt = 0
        self.silent = 0  # trailing minutes without a mention
        self.hold = 0  # minutes not judged after a recovery (the span still holds the outage)


    def __setstate__(self, state) -> None:
        """Streams pickled before the fast rate existed start it at the slow one."""
        slots = state[1] if isinstance(state, tuple) else state
        self.fast = slots.get("rate", 0.0)
        self.others = deque(maxlen=4 * slots["counts"].maxlen)
        self.others_sum = self.silent_sum = 0.0
        self.echoes = 0
        self.heard = deque(maxlen=slots["counts"].maxlen)
        for name, value in slots.items():
            setattr(self, name, value)


def poisson_cdf(k: int, lam: float) -> float:
    """P(X <= k) for X ~ Poisson(lam)."""
    if lam <= 0:
        return 1.0
    term = total = math.exp(-lam)
    for i in range(1, k + 1):
        term *= lam / i
        total += term
    return min(total, 1.0)


class SilenceWatch:
    """Pipeline health of one brand: its overall stream and one stream per source."""

    def __init__(self, brand: str, span: timedelta = timedelta(minutes=15),
                 recover_span: timedelta = timedelta(minutes=5), min_expected: float = 10.0,
                 max_ratio: float = 0.25, p_value: float = 1e-5, recover_ratio: float = 0.5,
                 memory: timedelta = timedelta(hours=1),
                 share_memory: timedelta = timedelta(hours=6), warmup: timedelta = timedelta(hours=1),
                 max_fill: int = 1440, max_sources: int = 64):
        self.brand = brand
        self.span = int(span.total_seconds() // 60)
        self.horizon = 4 * self.span  # the longest silence judged as one
        self.recover_span = int(recover_span.total_seconds() // 60)
        self.min_expected = min_expected
        self.max_ratio = max_ratio
        self.p_value = p_value
        self.recover_ratio = recover_ratio
        self.memory = int(memory.total_seconds() // 60)
        self.share_memory = int(share_memory.total_seconds() // 60)
        self.warmup = int(warmup.total_seconds() // 60)
        self.max_fill = max_fill
        self.max_sources = max_sources
        self.streams: dict[str, _Stream] = {}
        self.minute: int | None = None
        self._burst = False  # whether the brand's minute leaving the span was a burst
        self._by_repost = ""  # the source of the repost closing these minutes, if one does

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update({"_burst": False, "_by_repost": "", "max_sources": 64, **state})

    def _stream(self, name: str) -> _Stream:
        stream = self.streams.get(name)
        if stream is None:
            stream = self.streams[name] = _Stream(self.span, self.horizon)
        return stream

    def observe(self, source: str, at: datetime, repost: bool = False) -> list[HealthAlert]:
        """Count one mention of ``source`` at event time ``at``.

        Reposts and replies (``repost``) close minutes and show the stream is
        alive, but are not counted: they come in cascades, one source at a
        time, and would teach a source a share it does not usually have.
        Collectors' health is judged on original posts.
        """
        self._by_repost = source if repost else ""  # a gap a repost ends was no collector down
        alerts = self._advance(at)
        self._by_repost = ""
        self._stream("*")
        if source not in self.streams and len(self.streams) > self.max_sources:
            source = "*"  # a bounded watch: sources beyond the limit count toward the whole only
        for name in dict.fromkeys(("*", source)):
            stream = self._stream(name)
            if repost:
                stream.echoes += 1
            else:
                stream.current += 1
            if stream.last_seen is None or at > stream.last_seen:
                stream.last_seen = at
        return alerts

    def check(self, now: datetime) -> list[HealthAlert]:
        """Close the minutes up to ``now`` (wall clock of a live stream) and judge them."""
        return self._advance(now)

    def _advance(self, at: datetime) -> list[HealthAlert]:
        minute = int((at - EPOCH).total_seconds() // 60)
        if self.minute is None:
            self.minute = minute
            return []
        alerts: list[HealthAlert] = []
        first = max(self.minute, minute - self.max_fill)
        if first - self.minute > self.span:  # a long gap: only its last max_fill minutes matter
            for stream in self.streams.values():
                stream.counts.append(stream.current)
                stream.current = stream.echoes = 0
                stream.counts.extend([0] * self.span)
            self.minute = first - self.span
        while self.minute < minute:
            end = EPOCH + timedelta(minutes=self.minute + 1)
            for name, stream in self.streams.items():
                if self.minute >= first:
                    alerts.extend(self._close(name, stream, end))
                else:
                    stream.counts.append(stream.current)
                    stream.current = 0
            self.minute += 1
        return alerts

    def _close(self, name: str, stream: _Stream, end: datetime) -> list[HealthAlert]:
        counts = stream.counts
        if name == "*":  # closed first: whether the brand's leaving minute was a burst
            total = stream
            self._burst = (len(counts) == counts.maxlen and total.learnt >= self.warmup
                           and counts[0] > self._burst_level(total))
        if len(counts) == counts.maxlen and stream.opened is None:
            # the minute leaving the judged span teaches the expectations, unless the
            # brand was bursting then (a viral cascade on one source is not its usual
            # share) or the source is in a suspect silence (it is not judged by itself)
            leaving = counts[0]
            if not self._burst and not self._suspect(name, stream):
                stream.volume += max(1.0 / (stream.learnt + 1), 1.0 / self.share_memory) * (
                    leaving - stream.volume)
            if stream.learnt < self.warmup or leaving <= self._burst_level(stream):
                # after the warm-up, a burst (a crisis) is not the normal rate
                weight = max(1.0 / (stream.learnt + 1), 1.0 / self.memory)
                stream.rate += weight * (leaving - stream.rate)
                fast = max(1.0 / (stream.learnt + 1), 4.0 / self.memory)
                stream.fast += fast * (leaving - stream.fast)
            stream.learnt += 1
        if name != "*":  # what the other sources brought this minute, at most a burst
            total = self.streams["*"]
            others = min(total.counts[-1] - stream.current, self._burst_level(total))
            kept = stream.others
            leaving = kept[0] if len(kept) == kept.maxlen else 0.0
            if len(kept) >= self.span:
                stream.others_sum -= kept[-self.span]
            kept.append(others)
            stream.others_sum += others
            if stream.current:
                stream.silent_sum = 0.0
            else:
                stream.silent_sum += others - (leaving if stream.silent >= self.horizon else 0.0)
        counts.append(stream.current)
        stream.heard.append(stream.echoes)
        stream.silent = 0 if stream.current else stream.silent + 1
        stream.current = stream.echoes = 0
        if stream.learnt < self.warmup:
            return []
        if stream.opened is None:
            if stream.hold:
                stream.hold -= 1
                return []
            return self._judge(name, stream, end)
        recent = list(counts)[-self.recover_span:]
        observed, expected = sum(recent), self._expected(name, stream, self.recover_span)
        if observed >= self.recover_ratio * expected and observed > 0:
            opened, stream.opened, stream.hold = stream.opened, None, self.span
            return [HealthAlert(opened.alert_id, "recovered", opened.kind, self.brand, name, end,
                                opened.opened_at, observed, expected, self.recover_span,
                                stream.last_seen)]
        return []

    def _suspect(self, name: str, stream: _Stream) -> bool:
        """Silent for longer than the span while half an alert's worth was due."""
        if name == "*" or stream.silent < self.span:
            return False
        due = self._expected(name, stream, stream.silent, stream.silent_sum)
        return due >= 0.5 * self.min_expected

    @staticmethod
    def _burst_level(stream: _Stream) -> float:
        """Mentions in a minute above which the minute is a burst, not the stream's rate."""
        return 2.0 * stream.rate + 3.0

    def _expected(self, name: str, stream: _Stream, minutes: int,
                  others: float | None = None) -> float:
        """A source: its usual part of what the others got; the brand: its rate before.

        The others count at most up to a burst each minute: a cascade on one
        source must not make the quiet ones look stopped. ``others`` is their
        sum over the ``minutes`` when the caller keeps it.
        """
        if name == "*":  # the lower of the two rates: at dusk the traffic falls for hours
            return min(stream.rate, stream.fast) * minutes
        total = self.streams["*"]
        # the share's lower bound: what the source brought, less two Poisson deviations of it
        seen = min(stream.learnt, self.share_memory)
        own, everyone = stream.volume * seen, total.volume * seen
        share = min(max(own - 2.0 * math.sqrt(own), 0.0) / everyone, 0.95) if everyone > 0 else 0.0
        if others is None:
            others = sum(islice(reversed(stream.others), minutes))
        return share / (1.0 - share) * max(others, 0.0)

    def _judge(self, name: str, stream: _Stream, end: datetime) -> list[HealthAlert]:
        closing = self._by_repost
        if closing and name in (closing, "*"):
            return []  # a repost ends this silence: the collector works (the originals ran out)
        silent = min(stream.silent, self.horizon)
        observed, span = 0, silent
        expected = self._expected(name, stream, silent, stream.silent_sum) if silent else 0.0
        echoes = any(islice(reversed(stream.heard), silent))  # reposts during the silence
        stopped = (expected >= self.min_expected and math.exp(-expected) <= self.p_value
                   and not echoes)
        if not stopped and name != "*" and not sum(stream.heard):
            observed, span = sum(stream.counts), self.span
            expected = self._expected(name, stream, self.span, stream.others_sum)
            drop = (expected >= self.min_expected and observed <= self.max_ratio * expected
                    and poisson_cdf(observed, expected) <= self.p_value)
            if not drop:
                return []
        elif not stopped:
            return []
        basis = f"{self.brand}|{name}|{end.isoformat()}"
        alert_id = "health-" + hashlib.sha1(basis.encode("utf-8")).hexdigest()[:16]
        stream.opened = HealthAlert(alert_id, "open", "stopped" if observed == 0 else "drop",
                                    self.brand, name, end, end, observed, expected, span,
                                    stream.last_seen)
        return [stream.opened]
