"""Near-duplicate posts become one story with a count: MinHash over shingles, LSH to find it.

A copy-paste campaign, or a post reposted with "转发微博", a few characters
changed and an emoji added, should show as one story with 5,000 copies, not
as 5,000 stories. Short posts defeat 64-bit SimHash (two or three edits move a
30-character post 8-12 bits away, as far as unrelated posts), so stories use
MinHash, which estimates the Jaccard similarity of shingle sets directly;
docs/categories.md has the measurements behind the parameters.
"""

from __future__ import annotations

import functools
import heapq
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

__all__ = ["StoryClusterer", "shingles", "signature", "similarity"]

_SEED = 20_240_601
_MAX_CHARS = 2000  # a long article's fingerprint comes from its first 2,000 content characters
_EMOTICON = re.compile(r"\[[^\[\]\s]{1,8}\]")  # Weibo emoticons such as [怒]
_NOT_WORD = re.compile(r"[\W_]+")  # punctuation and spaces


def shingles(tokens: list[str] | tuple[str, ...], k: int = 2) -> np.ndarray:
    """Character k-grams of the content tokens (punctuation and [emoticons] dropped), as ints.

    Characters, not token pairs: a one-character edit changes how the
    tokenizer cuts its neighbours, but only the k-grams that touch it.

    >>> shingles(["星汇", "宕机", "了", "！", "[怒]"]).size  # 星汇宕机了 -> 4 bigrams
    4
    """
    text = _NOT_WORD.sub("", _EMOTICON.sub("", "".join(tokens)))[:_MAX_CHARS].lower()
    if len(text) < k:
        return np.array([ord(c) for c in text], dtype=np.uint64)  # the characters themselves
    grams = set()
    for i in range(len(text) - k + 1):
        code = 0
        for c in text[i:i + k]:
            code = (code << 21) | ord(c)  # a code point has 21 bits: k <= 3 fits in 64
        grams.add(code)
    return np.fromiter(grams, dtype=np.uint64, count=len(grams))


@functools.cache
def _permutations(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(_SEED)
    a = rng.integers(1, 2**63, size=n, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, size=n, dtype=np.uint64)
    return a, b


def signature(grams: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MinHash signature: for each hash h_i(x) = (a_i * x + b_i) mod 2**64 >> 32, min over x."""
    if grams.size == 0:
        return np.full(a.size, 2**32 - 1, dtype=np.uint32)
    hashed = (grams[:, None] * a[None, :] + b[None, :]) >> np.uint64(32)  # wraps, as intended
    return hashed.min(axis=0).astype(np.uint32)


def similarity(sig_a: bytes, sig_b: bytes) -> float:
    """Estimated Jaccard similarity: the share of equal MinHash values."""
    x = np.frombuffer(sig_a, dtype=np.uint32)
    y = np.frombuffer(sig_b, dtype=np.uint32)
    return float(np.count_nonzero(x == y)) / x.size


@dataclass
class _Story:
    id: str
    first_seen: datetime
    last_seen: datetime
    count: int = 0
    variants: list[bytes] = field(default_factory=list)
    keys: list[tuple[int, bytes]] = field(default_factory=list)


class StoryClusterer:
    """Assigns each post to the recent story it nearly duplicates, or starts a new one.

    A post's MinHash signature (`n_bands` x `rows` values over its character
    bigrams) is cut into bands; stories sharing a band are candidates, and
    the post joins the candidate with the highest estimated Jaccard
    similarity if it is at least `threshold` (else it starts a story whose id
    is the post's id). A joining post that differs enough (similarity below
    `variant_below`) is kept as one more variant of the story, up to
    `max_variants`, so a story follows how its copies drift. A reply or
    repost whose `parent_id` is a recent post joins that post's story.
    Stories not seen for `horizon` of event time are forgotten; at most
    `max_stories` are kept (the least recently seen go first).

    P(candidate) = 1 - (1 - J**rows)**n_bands: 0.985 at J = 0.35, 0.9999 at
    J = 0.5 and 0.03 at J = 0.03 (unrelated posts) with the defaults.

    Parameters
    ----------
    threshold
        Least estimated Jaccard similarity of bigram sets to join a story.
    n_bands, rows
        LSH banding of the signature (n_bands * rows MinHash values).
    horizon
        Forget stories last seen this long before the newest event time.
    max_variants
        Signatures kept per story.
    variant_below
        A joining post with similarity below this becomes a new variant.
    max_stories
        Hard bound on the stories kept.
    max_candidates
        Candidates checked per post, those sharing most bands first.

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> from yuqing.tokenizer import Tokenizer
    >>> tok, stories = Tokenizer(), StoryClusterer()
    >>> t0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    >>> post = "星汇又宕机了？？无法提现，交易失败，钱卡在里面出不来！"
    >>> stories.push("weibo:1", tok.tokenize(post), t0)
    ('weibo:1', 1)
    >>> copies = [post + "[怒]", "扩散！" + post, post.replace("钱", "工资"), post[:-1] + "！！！"]
    >>> [stories.push(f"weibo:{i}", tok.tokenize(c), t0)
    ...  for i, c in enumerate(copies, start=2)][-1]  # a copy-paste campaign: one story
    ('weibo:1', 5)
    >>> stories.push("weibo:9", tok.tokenize("星汇的客服态度很好，十分钟就解决了"), t0)
    ('weibo:9', 1)
    >>> stories.push("weibo:10", tok.tokenize("同问，怎么办"), t0, parent_id="weibo:3")  # a reply
    ('weibo:1', 6)
    >>> stories.push("weibo:12", tok.tokenize(post), t0 + timedelta(hours=25))  # forgotten
    ('weibo:12', 1)
    """

    def __init__(
        self,
        threshold: float = 0.35,
        n_bands: int = 32,
        rows: int = 2,
        horizon: timedelta = timedelta(hours=24),
        max_variants: int = 8,
        variant_below: float = 0.7,
        max_stories: int = 200_000,
        max_candidates: int = 32,
    ) -> None:
        self.threshold = threshold
        self.n_bands = n_bands
        self.rows = rows
        self.horizon = horizon
        self.max_variants = max_variants
        self.variant_below = variant_below
        self.max_stories = max_stories
        self.max_candidates = max_candidates
        self._stories: dict[str, _Story] = {}
        self._buckets: list[dict[bytes, set[str]]] = [{} for _ in range(n_bands)]
        self._queue: deque[tuple[datetime, str]] = deque()  # (last seen when queued, story id)
        self._parents: dict[str, str] = {}  # recent post id -> story id
        self._posts: deque[tuple[datetime, str]] = deque()
        self._newest: datetime | None = None
        self._ab = _permutations(n_bands * rows)

    def __len__(self) -> int:
        return len(self._stories)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        del state["_ab"]  # rebuilt from the fixed seed
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._ab = _permutations(self.n_bands * self.rows)

    def push(
        self, post_id: str, tokens: list[str] | tuple[str, ...], at: datetime, parent_id: str = ""
    ) -> tuple[str, int]:
        """Assign a post (its tokens, event time) to a story: (story id, posts in the story so far)."""
        if self._newest is None or at > self._newest:
            self._newest = at
            self._forget(at - self.horizon)
        story = self._stories.get(self._parents.get(parent_id, "")) if parent_id else None
        sig = signature(shingles(tokens), *self._ab).tobytes()
        keys = self._keys(sig)
        best = 0.0
        if story is None:
            story, best = self._nearest(sig, keys)
        if story is None:
            story = _Story(post_id, at, at)
            self._stories[post_id] = story
            self._queue.append((at, post_id))
            self._add_variant(story, sig, keys)
            if len(self._stories) > self.max_stories:
                self._evict_oldest()
        elif best and best < self.variant_below and len(story.variants) < self.max_variants:
            self._add_variant(story, sig, keys)
        story.count += 1
        story.last_seen = max(story.last_seen, at)
        self._parents[post_id] = story.id
        self._posts.append((at, post_id))
        while len(self._posts) > 4 * self.max_stories:
            self._parents.pop(self._posts.popleft()[1], None)
        return story.id, story.count

    def _keys(self, sig: bytes) -> list[bytes]:
        width = 4 * self.rows
        return [sig[i:i + width] for i in range(0, width * self.n_bands, width)]

    def _nearest(self, sig: bytes, keys: list[bytes]) -> tuple[_Story | None, float]:
        shared: dict[str, int] = {}  # candidate story -> bands shared
        for bucket, key in zip(self._buckets, keys, strict=True):
            for story_id in bucket.get(key, ()):
                shared[story_id] = shared.get(story_id, 0) + 1
        if not shared:
            return None, 0.0
        ids = list(shared)
        if len(ids) > self.max_candidates:
            ids = heapq.nlargest(self.max_candidates, ids, key=shared.__getitem__)
        stories = [self._stories[story_id] for story_id in ids]
        owners = [i for i, story in enumerate(stories) for _ in story.variants]
        variants = np.frombuffer(b"".join(v for story in stories for v in story.variants),
                                 dtype=np.uint32).reshape(len(owners), -1)
        equal = np.count_nonzero(variants == np.frombuffer(sig, dtype=np.uint32), axis=1)
        best = int(equal.argmax())
        best_sim = float(equal[best]) / variants.shape[1]
        return (stories[owners[best]], best_sim) if best_sim >= self.threshold else (None, 0.0)

    def _add_variant(self, story: _Story, sig: bytes, keys: list[bytes]) -> None:
        story.variants.append(sig)
        for band, (bucket, key) in enumerate(zip(self._buckets, keys, strict=True)):
            bucket.setdefault(key, set()).add(story.id)
            story.keys.append((band, key))

    def _drop(self, story: _Story) -> None:
        del self._stories[story.id]
        for band, key in story.keys:
            ids = self._buckets[band].get(key)
            if ids is not None:
                ids.discard(story.id)
                if not ids:
                    del self._buckets[band][key]

    def _forget(self, cutoff: datetime) -> None:
        queue = self._queue
        while queue and queue[0][0] < cutoff:
            _, story_id = queue.popleft()
            story = self._stories.get(story_id)
            if story is None:
                continue
            if story.last_seen < cutoff:
                self._drop(story)
            else:  # seen again since it was queued: queue it at its last sighting
                queue.append((story.last_seen, story_id))
        posts = self._posts
        while posts and posts[0][0] < cutoff:
            self._parents.pop(posts.popleft()[1], None)

    def _evict_oldest(self) -> None:
        while len(self._stories) > self.max_stories and self._queue:
            _, story_id = self._queue.popleft()
            story = self._stories.get(story_id)
            if story is not None:
                self._drop(story)
