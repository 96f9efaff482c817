"""Analysts' sentiment labels: find the labelled mention's tokens, then teach the board.

A label names a mention by id, gives a text, or both. By id, its tokens come
from `TokenMemory`, a per-bucket memory of recent mentions' tokens that every
analyzed mention also reaches (keyed by a hash of its id, so no key carries
all of them). The resolved examples go to one learner (`LearnerLogic`), whose
snapshotted state is the list of examples. It emits a `Lesson` per label,
which the flow sends to the `SentimentBoard` of every process; right after
a restore it sends its whole list again, before any new label, so boards
that start empty catch up.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from bytewax.operators import StatefulLogic

from yuqing.core.feedback import SentimentFeedback
from yuqing.dataflows.sentiment_board import Example, SentimentBoard
from yuqing.dataflows.state import freeze, thaw
from yuqing.text.analyzer import Analyzer
from yuqing.text.normalize import clean_text

BUCKETS = 64  # id buckets of the token memory: spread over the workers, each small
LEARNER_KEY = "sentiment-learner"


def bucket(mention_id: str) -> str:
    """The memory bucket of a mention id (stable across processes and runs)."""
    return f"{zlib.crc32(mention_id.encode('utf-8')) % BUCKETS:02d}"


@dataclass(frozen=True, slots=True)
class Seen:
    """What the memory keeps of an analyzed mention."""

    mention_id: str
    brand: str
    tokens: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Resolved:
    """A label with the tokens it is about, ready to learn."""

    tokens: tuple[str, ...]
    label: int  # 1 positive, 0 negative


@dataclass(frozen=True, slots=True)
class Lesson:
    """Examples for every process's board: they follow the learner's first `start` examples."""

    start: int
    examples: tuple[Example, ...]


def teach(board: SentimentBoard, lessons: list[Lesson]) -> None:
    """Bring this process's board up to the lessons (in the order the learner sent them)."""
    for lesson in lessons:
        board.catch_up(lesson.examples, lesson.start)


@dataclass(frozen=True, slots=True)
class FeedbackOutcome:
    """What became of one feedback record (counted in the run summary)."""

    outcome: str


def _tokens_of(text: str, analyzer: Analyzer) -> tuple[str, ...]:
    return tuple(analyzer.tokenizer.tokenize(clean_text(text)))


def _example(tokens: tuple[str, ...], feedback: SentimentFeedback) -> Resolved:
    return Resolved(tokens, 1 if feedback.label > 0 else 0)


def first_look(feedback: SentimentFeedback, analyzer: Analyzer) -> Resolved | FeedbackOutcome | None:
    """Settle a label without the memory when it can be; None when its mention must be looked up."""
    if feedback.label == 0:
        return FeedbackOutcome("neutral")  # the model is binary: a neutral label carries no direction
    if feedback.mention_id:
        return None
    if feedback.text:
        return _example(_tokens_of(feedback.text, analyzer), feedback)
    return FeedbackOutcome("unknown_mention")


class TokenMemory:
    """The tokens of one bucket's recent mentions; a cache, so it is not snapshotted."""

    def __init__(self, remember: int) -> None:
        self.remember = remember
        self._recent: OrderedDict[str, tuple[str, tuple[str, ...]]] = OrderedDict()

    def __getstate__(self) -> dict:
        return {"remember": self.remember}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["remember"])

    def keep(self, seen: Seen) -> None:
        self._recent[seen.mention_id] = (seen.brand, seen.tokens)
        if len(self._recent) > self.remember:
            self._recent.popitem(last=False)

    def resolve(self, feedback: SentimentFeedback, analyzer: Analyzer) -> Resolved | FeedbackOutcome:
        """The label's example, or why there is none ("unknown_mention", "wrong_brand")."""
        found = self._recent.get(feedback.mention_id)
        if found is None:
            if feedback.text:
                return _example(_tokens_of(feedback.text, analyzer), feedback)
            return FeedbackOutcome("unknown_mention")
        brand, tokens = found
        if feedback.brand and feedback.brand != brand:
            return FeedbackOutcome("wrong_brand")  # a tenant may label its own brands' mentions only
        if feedback.text:
            tokens = _tokens_of(feedback.text, analyzer)
        return _example(tokens, feedback)


def memory_step(
    memory: TokenMemory | None, item: Seen | SentimentFeedback, analyzer: Analyzer,
    remember: int,
) -> tuple[TokenMemory, Iterable]:
    """Stateful step per id bucket: remember mentions' tokens, resolve labels by id."""
    memory = memory if memory is not None else TokenMemory(remember)
    if isinstance(item, Seen):
        memory.keep(item)
        return memory, ()
    return memory, (memory.resolve(item, analyzer),)


class LearnerLogic(StatefulLogic):
    """The one learner: its state is every example learned, in order (small, snapshotted).

    It teaches no board itself: each label goes out as a one-example `Lesson`
    that the flow sends to the board of every process, its own included, so
    all boards learn the same examples in the same order. Built again from
    its snapshot when a run resumes, it first sends its whole list (a
    `Lesson` from 0), at its first notification or at the end of input.
    """

    def __init__(self, resume: bytes | None, recovering: bool) -> None:
        self.recovering = recovering
        self.examples: list[Example] = thaw(resume) or []
        self.announced = not self.examples  # a restored list must reach every board

    def on_item(self, value: Resolved) -> tuple[Iterable, bool]:
        self.examples.append((value.tokens, value.label))
        return (FeedbackOutcome("learned"), self._lesson()), False

    def on_notify(self) -> tuple[Iterable, bool]:
        return ((self._lesson(),) if not self.announced else ()), False

    def on_eof(self) -> tuple[Iterable, bool]:
        return self.on_notify()  # inputs that end at once must still carry the announcement

    def notify_at(self) -> datetime | None:
        return None if self.announced else datetime.now(UTC)

    def _lesson(self) -> Lesson:
        if not self.announced:
            self.announced = True
            return Lesson(0, tuple(self.examples))
        return Lesson(len(self.examples) - 1, (self.examples[-1],))

    def snapshot(self) -> bytes | None:
        return freeze(self.examples, self.recovering)
