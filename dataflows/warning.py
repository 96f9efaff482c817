"""The early-warning steps: one `BrandMonitor` per brand, one watch of every brand's sources.

Each mention is evaluated as it arrives (no window wait). Analysts' incident
verdicts for the brand arrive on the same key. For live inputs a timer calls
`tick(now)` so quiet streams and cooling incidents are noticed without new
mentions; replays of history run on event time only.

A collector usually serves every brand, so when it breaks all brands lose
that source at once: `SourceWatchLogic` watches the sources over every
brand's mentions (a few bytes each, a batch at a time), where the volume is
high enough to notice a stop within minutes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bytewax.operators import StatefulLogic

from yuqing.core.enriched import EnrichedMention
from yuqing.core.feedback import IncidentVerdict
from yuqing.core.mention import Mention
from yuqing.dataflows.state import freeze, thaw
from yuqing.dataflows.steps import step_failure
from yuqing.dataflows.thread_state import keep_thread_state
from yuqing.warning.config import WarningConfig
from yuqing.warning.incidents import IncidentUpdate
from yuqing.warning.monitor import BrandMonitor, FalseAlarm, silence_watch
from yuqing.warning.silence import ALL_BRANDS, HealthAlert, SilenceWatch


@dataclass(frozen=True, slots=True)
class IncidentChange:
    """An incident update plus the contract JSON of the mentions its evidence names."""

    update: IncidentUpdate
    mentions: dict[str, dict] = field(default_factory=dict)
    trigger: str = ""  # the mention whose arrival caused the change ("" for a timer)


Warning = IncidentChange | HealthAlert | FalseAlarm


class WarningLogic(StatefulLogic):
    """Bytewax logic around a `BrandMonitor`; state is the monitor itself."""

    def __init__(self, monitor: BrandMonitor | None, config: WarningConfig,
                 tick: timedelta | None, recovering: bool = False, remember: int = 2000) -> None:
        keep_thread_state()  # made on the worker thread that owns the key (it may read no input)
        self.monitor = monitor  # made on the first item: the builder is not told the key
        self.recovering = recovering
        self.config = config
        self.tick_every = tick
        self._recent: OrderedDict[str, Mention] = OrderedDict()  # cache for evidence, not state
        self._remember = remember

    def on_item(self, value: EnrichedMention | IncidentVerdict) -> tuple[Iterable[Warning], bool]:
        if self.monitor is None:
            self.monitor = BrandMonitor(value.brand, self.config)
        if isinstance(value, IncidentVerdict):
            return self._verdict(value), False
        mention = value.mention
        self._recent[mention.id] = mention
        if len(self._recent) > self._remember:
            self._recent.popitem(last=False)
        try:
            pushed = self.monitor.push(value)  # type: ignore[arg-type]
        except Exception as err:  # one bad mention must not stop the flow
            return [step_failure("early_warning", value, err)], False
        return self._wrap(pushed, mention.id), False

    def on_notify(self) -> tuple[Iterable[Warning], bool]:
        if self.monitor is None:
            return (), False
        return self._wrap(self.monitor.tick(datetime.now(UTC))), False

    def on_eof(self) -> tuple[Iterable[Warning], bool]:
        return (), False

    def notify_at(self) -> datetime | None:
        return None if self.tick_every is None else datetime.now(UTC) + self.tick_every

    def snapshot(self) -> bytes | None:
        return freeze(self.monitor, self.recovering)

    def _verdict(self, verdict: IncidentVerdict) -> list[Warning]:
        if verdict.verdict != "false_alarm":
            return []
        at = verdict.at or datetime.now(UTC)
        assert self.monitor is not None
        alarm = self.monitor.mark_false_alarm(verdict.category, at, note=verdict.analyst)
        out: list[Warning] = [alarm]
        if alarm.update is not None:
            out.append(IncidentChange(alarm.update))
        return out

    def _wrap(self, results: list, trigger: str = "") -> list[Warning]:
        out: list[Warning] = []
        for result in results:
            if isinstance(result, IncidentUpdate):
                ids = [m.get("mention_id") for m in
                       result.evidence.get("influential_mentions", ()) if isinstance(m, dict)]
                found = {i: self._recent[i].to_json() for i in ids if i in self._recent}
                out.append(IncidentChange(result, found, trigger))
            else:
                out.append(result)
        return out


Beat = tuple[str, datetime, bool]  # (source, published at, whether a repost): what the watch needs


def source_beats(mentions: list[Mention]) -> list[tuple[str, tuple[Beat, ...]]]:
    """A batch's mentions as one item for the watch of all sources, in the input's order.

    One item a batch, not one a mention: on a cluster it crosses to the
    watch's worker once, as plain tuples.
    """
    if not mentions:
        return []
    return [(ALL_BRANDS, tuple((m.source, m.published_at, bool(m.parent_id)) for m in mentions))]


class SourceWatchLogic(StatefulLogic):
    """Bytewax logic around the `SilenceWatch` of every brand's sources; state is the watch."""

    def __init__(self, watch: SilenceWatch | None, config: WarningConfig,
                 tick: timedelta | None, recovering: bool = False) -> None:
        keep_thread_state()  # made on the worker thread that owns the key (it may read no input)
        self.watch = watch if watch is not None else silence_watch(ALL_BRANDS, config)
        self.tick_every = tick
        self.recovering = recovering

    def on_item(self, value: tuple[Beat, ...]) -> tuple[Iterable[HealthAlert], bool]:
        observe, alerts = self.watch.observe, []
        for source, at, repost in value:
            alerts.extend(observe(source, at, repost=repost))
        return alerts, False

    def on_notify(self) -> tuple[Iterable[HealthAlert], bool]:
        return self.watch.check(datetime.now(UTC)), False

    def on_eof(self) -> tuple[Iterable[HealthAlert], bool]:
        return (), False

    def notify_at(self) -> datetime | None:
        return None if self.tick_every is None else datetime.now(UTC) + self.tick_every

    def snapshot(self) -> bytes | None:
        return freeze(self.watch, self.recovering)


def source_watch_builder(config: WarningConfig, tick: timedelta | None, recovering: bool = False):
    """The `op.stateful` builder of the all-sources watch, from its snapshot when resuming."""
    return lambda resume: SourceWatchLogic(thaw(resume), config, tick, recovering)


def warning_builder(config: WarningConfig, tick: timedelta | None, recovering: bool = False):
    """The `op.stateful` builder: a brand key's logic, from its snapshot when resuming."""
    return lambda resume: WarningLogic(thaw(resume), config, tick, recovering)
