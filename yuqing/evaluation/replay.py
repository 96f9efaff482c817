"""Replaying a stream of mentions through the flow's models, without a dataflow.

The flow parses each line, drops repeated ids, analyses the text (tokens,
category, sentiment, story) and pushes the result into its brand's
`BrandMonitor`. Evaluations need exactly that, many times over, and quickly:
`enrich` does the first part (its output can be kept and reused while only
the warning settings change), `monitor` the second, with the flow's
watch of every brand's sources beside the brands' monitors.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from yuqing.core.enriched import EnrichedMention
from yuqing.core.mention import InvalidMention, Mention, parse_mention
from yuqing.text.brands import UNKNOWN_BRAND
from yuqing.warning.config import WarningConfig
from yuqing.warning.incidents import IncidentUpdate
from yuqing.warning.monitor import BrandMonitor, silence_watch
from yuqing.warning.silence import ALL_BRANDS, HealthAlert


class FlowAnalysis:
    """The flow's analysis of a mention: `Analyzer` (cached by text) plus per-brand stories."""

    def __init__(self, engine: str = "auto") -> None:
        from yuqing.text.analyzer import Analyzer
        from yuqing.text.stories import StoryClusterer

        self.analyzer = Analyzer.default(engine=engine)
        self.name = (f"yuqing.text.analyzer.Analyzer({self.analyzer.tokenizer.active_engine})"
                     " + StoryClusterer")
        self.cache: dict[tuple[str, str, str], object] = {}
        self.stories: dict[str, StoryClusterer] = {}
        self._clusterer = StoryClusterer

    def __call__(self, mention: Mention) -> EnrichedMention | None:
        key = (mention.brand, mention.title, mention.text)
        analysis = self.cache.get(key)
        if analysis is None:
            analysis = self.cache[key] = self.analyzer.analyze(mention)
        if analysis.brand == UNKNOWN_BRAND:
            return None
        stories = self.stories.get(analysis.brand)
        if stories is None:
            stories = self.stories[analysis.brand] = self._clusterer()
        story, _ = stories.push(mention.id, list(analysis.tokens), mention.published_at,
                                parent_id=mention.parent_id)
        return analysis.enrich(mention, story)


def enrich(lines: Iterable[bytes | str], analysis: FlowAnalysis | None = None
           ) -> Iterator[EnrichedMention]:
    """Valid, first-seen, brand-matched mentions of ``lines``, analysed as the flow does."""
    analysis = analysis or FlowAnalysis()
    seen: set[str] = set()
    for raw in lines:
        try:
            mention = parse_mention(raw)
        except InvalidMention:
            continue
        if mention.id in seen:
            continue
        seen.add(mention.id)
        item = analysis(mention)
        if item is not None:
            yield item


@dataclass
class MonitorRun:
    """What the monitors said about a stream: incident changes, health alerts, cost."""

    mentions: int = 0
    push_seconds: float = 0.0
    updates: list[IncidentUpdate] = field(default_factory=list)
    health: list[HealthAlert] = field(default_factory=list)
    monitors: dict[str, BrandMonitor] = field(default_factory=dict)

    @property
    def us_per_push(self) -> float:
        return 1e6 * self.push_seconds / max(self.mentions, 1)


def monitor(items: Iterable[EnrichedMention], config: WarningConfig | None = None,
            on_push=None) -> MonitorRun:
    """Push every item into its brand's `BrandMonitor`; ``on_push(item, monitor)`` after each."""
    config = config or WarningConfig()
    run = MonitorRun()
    sources = silence_watch(ALL_BRANDS, config)  # collectors serve every brand
    clock = time.perf_counter
    for item in items:
        mention = item.mention
        run.health.extend(sources.observe(mention.source, mention.published_at,
                                          repost=bool(mention.parent_id)))
        brand_monitor = run.monitors.get(item.brand)
        if brand_monitor is None:
            brand_monitor = run.monitors[item.brand] = BrandMonitor(item.brand, config)
        started = clock()
        out = brand_monitor.push(item)
        run.push_seconds += clock() - started
        run.mentions += 1
        for record in out:
            (run.updates if isinstance(record, IncidentUpdate) else run.health).append(record)
        if on_push is not None:
            on_push(item, brand_monitor)
    return run
