"""Analysts' sentiment labels: find the labelled mention's tokens, then teach the board.

A label names a mention by id, gives a text, or both. By id, its tokens come
from `TokenMemory`, a per-bucket memory of recent mentions' tokens that every
analyzed mention also reaches (keyed by a hash of its id, so no key carries
all of them). The resolved examples go to one learner (`learn`), whose
snapshotted state is the list of examples; it brings the `SentimentBoard` up
to that list, also right after a restore, before any new label.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

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

    Built again from its snapshot when a run resumes, it brings the board up
    to those examples at once, so the model equals the uninterrupted run's.
    """

    def __init__(self, board: SentimentBoard, resume: bytes | None, recovering: bool) -> None:
        self.board, self.recovering = board, recovering
        self.examples: list[Example] = thaw(resume) or []
        if self.examples:
            board.catch_up(self.examples)

    def on_item(self, value: Resolved) -> tuple[Iterable, bool]:
        self.examples.append((value.tokens, value.label))
        self.board.catch_up(self.examples)
        return (FeedbackOutcome("learned"),), False

    def snapshot(self) -> bytes | None:
        return freeze(self.examples, self.recovering)
