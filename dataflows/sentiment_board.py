"""The sentiment model every worker of a process scores with, and what analysts taught it.

Scoring runs in `analyze`, on whichever worker a mention lands on: no single
key carries every mention. Learning stays in one place (the `learn_labels`
step keyed by one constant, which sees only labels, a few per minute): it
keeps the learned examples in its snapshotted state and sends them, as
lessons, to the board of every process of the cluster, so every worker
scores with the same model. After a restart the restored learner sends its
whole list again, and fresh boards learn the same examples in the same
order, so the model equals the uninterrupted run's.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
from collections.abc import Sequence

from yuqing.text.sentiment import SentimentModel

log = logging.getLogger("yuqing.run")

Example = tuple[tuple[str, ...], int]  # (tokens, 1 positive | 0 negative)


class SentimentBoard:
    """The shipped model plus the learned examples, shared by the worker threads of a process."""

    def __init__(self, shipped: SentimentModel) -> None:
        self._shipped = shipped
        self._live: SentimentModel | None = None  # a copy, made at the first example
        self._examples: list[Example] = []
        self._lock = threading.Lock()

    def score(self, tokens: list[str]) -> float:
        """The sentiment of tokens by the model as taught so far (the shipped one until then)."""
        if self._live is None:
            return self._shipped.score(tokens)
        with self._lock:  # a label being learned changes several weights at once
            return (self._live or self._shipped).score(tokens)

    def score_many(self, token_lists: list[list[str]]) -> list[float]:
        """`score` of each token list, as one batch."""
        if self._live is None:
            return self._shipped.score_many(token_lists)
        with self._lock:
            return (self._live or self._shipped).score_many(token_lists)

    def catch_up(self, examples: Sequence[Example], start: int = 0) -> int:
        """Learn those of `examples` the board has not learned yet, in order; returns how many.

        `examples` continues the learner's list after its first `start`
        entries (0: the whole list, which only grows): the board learns the
        part it has not seen. A whole list that is not an extension of what
        the board learned (a learner restored from an older snapshot) rebuilds
        the model. A tail that starts beyond what the board knows is refused.
        """
        with self._lock:
            known = len(self._examples)
            if start > known:
                log.warning("sentiment board: lesson from example %d, board knows %d; skipped",
                            start, known)
                return 0
            if start == 0 and (known > len(examples) or list(examples[:known]) != self._examples):
                self._live, self._examples, known = None, [], 0
            fresh = list(examples[known - start:])
            if not fresh:
                return 0
            if self._live is None:  # the shipped model stays as shipped
                self._live = copy.deepcopy(self._shipped)
            for tokens, label in fresh:
                self._live.learn(list(tokens), label)
            self._examples.extend(fresh)
            return len(fresh)

    @property
    def learned(self) -> int:
        return len(self._examples)

    def fingerprint(self) -> str:
        """A short digest of what the model learned: equal digests, equal models."""
        digest = hashlib.sha256()
        for tokens, label in self._examples:
            digest.update(("\x1f".join(tokens) + f"\x1e{label}\x1d").encode())
        return digest.hexdigest()[:12]
