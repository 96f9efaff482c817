"""The logic behind each flow step, as plain functions and small classes.

The flow file only wires these together; each one can be called and tested
without running a dataflow.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from yuqing.brands import UNKNOWN_BRAND, BrandMatcher
from yuqing.dedup import RecentIds
from yuqing.enriched import EnrichedMention
from yuqing.mention import InvalidMention, Mention, parse_mention
from yuqing.records import Alert, DeadLetter, RawRecord, to_json_bytes
from yuqing.spike import SpikeRule
from yuqing.window_metrics import WindowMetrics


def parse_record(record: RawRecord) -> Mention | DeadLetter:
    """Validate one raw record; refusals keep the bytes and the reason."""
    try:
        return parse_mention(record.data)
    except InvalidMention as err:
        return DeadLetter(record.origin, str(err), record.data)


@dataclass(frozen=True)
class Duplicate:
    """A mention whose id was already seen; counted, not processed again."""

    mention: Mention


def dedup(seen: RecentIds | None, mention: Mention, horizon: timedelta) -> tuple[RecentIds, Iterable]:
    """Stateful step per brand: pass a mention the first time its id appears, else mark it Duplicate.

    Keyed by brand (not by an id shard) so that each brand's mentions keep their
    order: Bytewax groups a batch by key in stateful steps, and event-time
    windows and detectors downstream need per-brand order.
    """
    seen = seen if seen is not None else RecentIds(horizon)
    if seen.first_time(mention.id, mention.published_at):
        return seen, (mention,)
    return seen, (Duplicate(mention),)


class BrandResolver:
    """The mention's brand: as given by the collector, else found in its title and text."""

    def __init__(self, brands: BrandMatcher) -> None:
        self.brands = brands

    def __call__(self, mention: Mention) -> str:
        return mention.brand or self.brands.match(f"{mention.title} {mention.text}") or UNKNOWN_BRAND


def analyze(brand: str, mention: Mention) -> EnrichedMention:
    """Everything the flow learns about a mention once it is known to be new."""
    return EnrichedMention(mention=mention, brand=brand)


def brand_source_key(item: EnrichedMention) -> str:
    return f"{item.brand}\x1f{item.mention.source}"


def window_row(key: str, window_start: datetime, length: timedelta, metrics: WindowMetrics) -> tuple:
    """A `window_metrics` row for one closed window."""
    brand, source = key.split("\x1f", 1)
    return (
        brand, source, window_start, window_start + length, metrics.mentions, metrics.negative,
        metrics.unique_authors, metrics.reach, metrics.engagement, metrics.verified,
        metrics.sentiment_sum / metrics.mentions if metrics.mentions else 0.0,
    )


def mention_row(item: EnrichedMention) -> tuple:
    """A `mentions` row (column order of sinks.tables.MENTIONS)."""
    m = item.mention
    return (
        m.id, m.source, item.brand, m.published_at, m.text, m.title, m.url, m.lang, m.author.id,
        m.author.name, m.author.followers, int(m.author.verified), m.engagement.reposts,
        m.engagement.comments, m.engagement.likes, m.parent_id, item.sentiment,
        item.sentiment_label, item.category, list(item.category_evidence), item.story_id,
        list(item.tokens[:20]),
    )


def dead_letter_row(letter: DeadLetter) -> tuple:
    raw = letter.data.decode("utf-8", errors="replace")
    return (letter.origin, letter.reason, raw[:65536])


def dead_letter_message(letter: DeadLetter) -> bytes:
    return to_json_bytes(letter.to_json())


def spike_check(rule: SpikeRule | None, item: EnrichedMention, make_rule) -> tuple[SpikeRule, Iterable]:
    """Stateful step per brand: the first, simple spike rule (replaced by issue 5)."""
    rule = rule if rule is not None else make_rule()
    spike = rule.push(item.mention.published_at)
    if spike is None:
        return rule, ()
    alert = Alert(
        kind="spike",
        brand=item.brand,
        at=spike.at,
        summary=f"{item.brand}: {spike.count} mentions in 5 min vs {spike.baseline:.1f} usual",
        details={"count": spike.count, "baseline": spike.baseline,
                 "trigger_mention": item.mention.id, "source": item.mention.source},
    )
    return rule, (alert,)


def alert_row(alert: Alert) -> tuple:
    payload = json.dumps(alert.to_json(), ensure_ascii=False)
    return (alert.key, alert.kind, alert.brand, alert.at, alert.summary, payload)


def alert_message(alert: Alert) -> tuple[bytes, bytes]:
    return alert.key.encode("ascii"), to_json_bytes(alert.to_json())
