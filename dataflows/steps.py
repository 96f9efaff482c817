"""The logic behind each flow step, as plain functions and small classes.

The flow file only wires these together; each one can be called and tested
without running a dataflow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from yuqing.core.enriched import EnrichedMention
from yuqing.core.feedback import Feedback, InvalidFeedback, parse_feedback
from yuqing.core.mention import InvalidMention, Mention, parse_mention
from yuqing.core.records import DeadLetter, RawRecord, to_json_bytes
from yuqing.core.ticks import MILLISECOND, SECOND, ticks
from yuqing.dataflows.labels import FeedbackOutcome
from yuqing.dataflows.sentiment_board import SentimentBoard
from yuqing.stream.dedup import RecentIds
from yuqing.stream.windows import WindowMetrics
from yuqing.text.analyzer import Analysis, Analyzer
from yuqing.text.brands import BrandGate
from yuqing.text.stories import StoryClusterer
from yuqing.warning.monitor import FalseAlarm

log = logging.getLogger("yuqing.flow")
_TRACEBACKS_PER_STEP = 3  # then one line per failure: a bug repeats, the log should not drown


@dataclass
class StepFailures:
    """Counts of failures per step, so a repeating bug logs its traceback only a few times."""

    seen: dict[str, int]

    def record(self, step: str, mention_id: str, err: BaseException) -> None:
        n = self.seen[step] = self.seen.get(step, 0) + 1
        if n <= _TRACEBACKS_PER_STEP:
            log.error(
                "step %s failed on mention %s (dead-lettered, the flow goes on)",
                step,
                mention_id,
                exc_info=err,
            )
        else:
            log.error(
                "step %s failed on mention %s: %s: %s (failure %d)",
                step,
                mention_id,
                type(err).__name__,
                err,
                n,
            )


FAILURES = StepFailures({})


def _mention_in(item: object) -> Mention | None:
    """The mention an item of the flow carries: itself, a (key, value) pair's value, `.mention`."""
    if isinstance(item, tuple) and len(item) == 2:
        item = item[1]
    if isinstance(item, Mention):
        return item
    inner = getattr(item, "mention", None)
    return inner if isinstance(inner, Mention) else None


def step_failure(step: str, item: object, err: BaseException) -> DeadLetter:
    """An item one step could not process: a dead letter naming the step; the bug goes to the log."""
    mention = _mention_in(item)
    FAILURES.record(step, mention.id if mention else type(item).__name__, err)
    reason = f"{step}: {type(err).__name__}: {err}"[:500]
    data = to_json_bytes(mention.to_json()) if mention else repr(item)[:65536].encode("utf-8")
    return DeadLetter(f"step:{step}", reason, data)


def guarded(step: str, fn: Callable) -> Callable:
    """``fn`` for a map step, with a failure on one item turned into that item's dead letter."""

    def run(item):
        try:
            return fn(item)
        except Exception as err:  # one bad mention must not stop the flow
            return step_failure(step, item, err)

    return run


def analyze_batch(batch: list[tuple[str, Mention]], analyzer: Analyzer,
                  board: SentimentBoard) -> list[Analyzed | DeadLetter]:
    """Analyse a worker's batch of (brand, mention): sentiment scored in one numpy pass.

    A mention the analyzer fails on becomes its own dead letter, as in a map step.
    """
    results = analyzer.analyze_many([kv[1] for kv in batch], score_many=board.score_many)
    return [
        Analyzed(kv[1], result) if isinstance(result, Analysis) else step_failure("analyze", kv, result)
        for kv, result in zip(batch, results, strict=True)
    ]


def parse_record(record: RawRecord, gate: BrandGate | None = None) -> Mention | DeadLetter:
    """Validate one raw record; refusals keep the bytes and the reason.

    With a `BrandGate`, a mention naming one unconfigured brand too many is
    refused as well: per-brand state stays bounded.
    """
    try:
        mention = parse_mention(record.data)
    except InvalidMention as err:
        return DeadLetter(record.origin, str(err), record.data)
    if gate is not None and mention.brand and not gate.admits(mention.brand):
        return DeadLetter(
            record.origin,
            (
                f"brand: {mention.brand!r} is not in the brand dictionary and {gate.limit} other "
                "unconfigured brands are already watched; add it to a --brands file or raise "
                "--max-brands"
            ),
            record.data,
        )
    return mention


def parse_feedback_record(record: RawRecord) -> Feedback | DeadLetter:
    """Validate one feedback record; refusals keep the bytes and the reason."""
    try:
        return parse_feedback(record.data)
    except InvalidFeedback as err:
        return DeadLetter(record.origin, str(err), record.data)


@dataclass(frozen=True)
class Duplicate:
    """A mention whose id was already seen; counted, not processed again."""

    mention: Mention


def dedup(
    seen: RecentIds | None, mention: Mention, horizon: timedelta
) -> tuple[RecentIds, Iterable]:
    """Stateful step per brand: pass a mention the first time its id appears, else mark it Duplicate.

    Keyed by brand (not by an id shard) so that each brand's mentions keep their
    order: Bytewax groups a batch by key in stateful steps, and event-time
    windows and detectors downstream need per-brand order.
    """
    seen = seen if seen is not None else RecentIds(horizon)
    if seen.first_time(mention.id, mention.published_at):
        return seen, (mention,)
    return seen, (Duplicate(mention),)


@dataclass(frozen=True, slots=True)
class Analyzed:
    """A new mention with its per-mention analysis, before its story is known."""

    mention: Mention
    analysis: Analysis


def feedback_row(item: FeedbackOutcome | FalseAlarm) -> tuple:
    """A `feedback_events` row: when the model or detector took an analyst's word, and how."""
    now = datetime.now(UTC)
    if isinstance(item, FalseAlarm):
        detail = f"{item.brand}/{item.category} {item.incident_id}: +{item.raise_points:.0f} points"
        return (now, "incident_verdict", "false_alarm", detail)
    return (now, "sentiment_label", item.outcome, "")


def story_batch(
    stories: StoryClusterer | None, items: list[Analyzed], make: Callable[[], StoryClusterer]
) -> tuple[StoryClusterer, list[EnrichedMention | DeadLetter]]:
    """Stateful step per brand: merge copies and light edits into one story.

    It takes the brand's mentions of one batch, so that their MinHash
    signatures are hashed together; a mention that fails becomes its own
    dead letter, and the state keeps what the others did.
    """
    stories = stories if stories is not None else make()
    try:
        sigs: list[bytes] | list[None] = stories.signatures([item.analysis.tokens for item in items])
        keys: list[list[int]] | list[None] = stories.band_keys(sigs)
    except Exception:  # each mention computes its own below, and only a bad one fails
        sigs = keys = [None] * len(items)
    out: list[EnrichedMention | DeadLetter] = []
    for item, sig, band in zip(items, sigs, keys, strict=True):
        m = item.mention
        try:
            story_id, _count = stories.push(m.id, item.analysis.tokens, m.published_at,
                                            m.parent_id, sig=sig, keys=band)
            out.append(item.analysis.enrich(m, story_id))
        except Exception as err:  # one bad mention must not stop the flow
            out.append(step_failure("stories", item, err))
    return stories, out


def brand_source_key(item: EnrichedMention) -> str:
    return f"{item.brand}\x1f{item.mention.source}"


def window_row(
    key: str, window_start: datetime, length: timedelta, metrics: WindowMetrics
) -> tuple:
    """A `window_metrics` row for one closed window.

    Times go as the column's ticks (whole seconds for `DateTime`), which the
    driver writes as they are: a datetime is converted in Python per value,
    and pickled with its time zone when the row crosses to the writer's process.
    """
    brand, source = key.split("\x1f", 1)
    start = ticks(window_start, SECOND)
    return (
        brand,
        source,
        start,
        start + length // SECOND,
        metrics.mentions,
        metrics.negative,
        metrics.unique_authors,
        metrics.reach,
        metrics.engagement,
        metrics.verified,
        metrics.sentiment_sum / metrics.mentions if metrics.mentions else 0.0,
    )


def mention_row(item: EnrichedMention, keywords: Callable[[Iterable[str], int], list[str]]) -> tuple:
    """A `mentions` row (column order of sinks.tables.MENTIONS); `keywords(tokens, n)` gives
    the first n distinct content words. The time goes as milliseconds, the ticks of its
    `DateTime64(3)` column (see `window_row`)."""
    m = item.mention
    return (
        m.id,
        m.source,
        item.brand,
        ticks(m.published_at, MILLISECOND),
        m.text,
        m.title,
        m.url,
        m.lang,
        m.author.id,
        m.author.name,
        m.author.followers,
        int(m.author.verified),
        m.engagement.reposts,
        m.engagement.comments,
        m.engagement.likes,
        m.parent_id,
        item.sentiment,
        item.sentiment_label,
        item.category,
        list(item.category_evidence),
        item.story_id,
        keywords(item.tokens, 20),
    )


def reason_kind(reason: str) -> str:
    """The field or step a dead letter's reason names (its text before ':'), for counting.

    >>> reason_kind("published_at: '9999' is outside ..."), reason_kind("not JSON: ...")
    ('published_at', 'not JSON')
    """
    head = reason.split(":", 1)[0].strip()
    return head[:40] if head and len(head) <= 40 and "\n" not in head else "other"


def dead_letter_row(letter: DeadLetter) -> tuple:
    raw = letter.data.decode("utf-8", errors="replace")
    return (letter.origin, letter.reason, raw[:65536])


def dead_letter_message(letter: DeadLetter) -> bytes:
    return to_json_bytes(letter.to_json())
