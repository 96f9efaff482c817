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
import itertools
import re
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from numpy.random import default_rng  # numpy loads its random module at first use otherwise

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
    text = _content(tokens)
    grams = _grams(text, k)
    return grams if len(text) < k else np.unique(grams)


def _content(tokens: list[str] | tuple[str, ...]) -> str:
    """The text fingerprinted: content characters only, lower case, at most _MAX_CHARS."""
    return _NOT_WORD.sub("", _EMOTICON.sub("", "".join(tokens)))[:_MAX_CHARS].lower()


def _grams(text: str, k: int = 2) -> np.ndarray:
    """`shingles` with repeats, in one pass of numpy: the MinHash of repeats is the same."""
    # one code point per uint32 (surrogatepass: ord() takes lone surrogates too)
    chars = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    chars = chars.astype(np.uint64)
    if chars.size < k:
        return chars  # the characters themselves
    n = chars.size - k + 1
    codes = chars[:n].copy()
    for j in range(1, k):
        codes <<= np.uint64(21)  # a code point has 21 bits: k <= 3 fits in 64
        codes |= chars[j:j + n]
    return codes


@functools.cache
def _salts(n_bands: int) -> np.ndarray:
    """One random number per band, added to its key, so that bands share one index."""
    return default_rng(_SEED + 1).integers(0, 2**63, size=n_bands, dtype=np.uint64)


def band_keys(sig: bytes, n_bands: int, rows: int) -> list[int]:
    """The LSH keys of a signature: one int per band, never equal across bands by design.

    With 2 rows a band's two 32-bit values are its 64-bit key as they lie in
    memory; other widths mix their values into 64 bits (a collision only adds
    a candidate, which the similarity check then drops).
    """
    salts = _salts(n_bands)
    if rows == 2:
        return (np.frombuffer(sig, dtype="<u8") + salts).tolist()
    values = np.frombuffer(sig, dtype="<u4").astype(np.uint64).reshape(n_bands, rows)
    keys = values[:, 0].copy()
    for j in range(1, rows):
        keys *= np.uint64(0x9E3779B97F4A7C15)  # wraps, as intended
        keys += values[:, j]
    return (keys + salts).tolist()


def band_keys_many(sigs: Sequence[bytes], n_bands: int, rows: int) -> list[list[int]]:
    """`band_keys` of many signatures of one length, in one numpy pass (per post, the
    conversion to a list dominates)."""
    if rows != 2 or not sigs:
        return [band_keys(sig, n_bands, rows) for sig in sigs]
    keys = np.frombuffer(b"".join(sigs), dtype="<u8").reshape(len(sigs), n_bands)
    return (keys + _salts(n_bands)).tolist()


@functools.cache
def _permutations(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = default_rng(_SEED)
    a = rng.integers(1, 2**63, size=n, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, size=n, dtype=np.uint64)
    return a, b


def signature(grams: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MinHash signature: for each hash h_i(x) = (a_i * x + b_i) mod 2**64 >> 32, min over x."""
    if grams.size == 0:
        return np.full(a.size, 2**32 - 1, dtype=np.uint32)
    hashed = np.multiply.outer(grams, a)  # wraps, as intended
    hashed += b
    low = hashed.min(axis=0)  # >> 32 is monotone, so shifting the minima alone is the same
    low >>= np.uint64(32)
    return low.astype(np.uint32)


_BATCH_GRAMS = 16_384  # grams hashed per numpy call: 8 MB of intermediate hashes at 64 values


def signatures(token_lists: Sequence[Sequence[str]], a: np.ndarray, b: np.ndarray) -> list[bytes]:
    """`signature(_grams(_content(tokens)))` of many posts, as bytes, in a few numpy calls.

    A post's character bigrams are pairs of neighbours that do not straddle
    two posts; a post of one character hashes that character, an empty one
    gets the empty signature, as in `_grams` and `signature`.
    """
    texts = [_content(tokens) for tokens in token_lists]
    out: list[bytes] = []
    start = 0
    while start < len(texts):  # posts in chunks of about _BATCH_GRAMS grams
        end, grams = start, 0
        while end < len(texts) and (end == start or grams + len(texts[end]) <= _BATCH_GRAMS):
            grams += len(texts[end])
            end += 1
        out.extend(_signature_chunk(texts[start:end], a, b))
        start = end
    return out


def _signature_chunk(texts: list[str], a: np.ndarray, b: np.ndarray) -> list[bytes]:
    sizes = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    chars = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    chars = chars.astype(np.uint64)
    ends = np.cumsum(sizes)
    starts = ends - sizes
    # gram i of the whole is chars[i] then chars[i + 1], kept where both are in one post; a post
    # of one character keeps that character alone
    pairs = (chars[:-1] << np.uint64(21)) | chars[1:]
    owner = np.repeat(np.arange(len(texts)), sizes)
    same = owner[:-1] == owner[1:]
    singles = starts[sizes == 1]
    gram_values = np.concatenate([pairs[same], chars[singles]])
    gram_owner = np.concatenate([owner[:-1][same], owner[singles]])
    order = np.argsort(gram_owner, kind="stable")
    gram_values, gram_owner = gram_values[order], gram_owner[order]
    empty = np.full(a.size, 2**32 - 1, dtype=np.uint32).tobytes()
    if gram_values.size == 0:
        return [empty] * len(texts)
    hashed = np.multiply.outer(a, gram_values)  # wraps, as intended; one row per hash function,
    hashed += b[:, None]  # so that each post's grams are contiguous for reduceat
    firsts = np.flatnonzero(np.r_[True, gram_owner[1:] != gram_owner[:-1]])
    lows = np.minimum.reduceat(hashed, firsts, axis=1)
    lows >>= np.uint64(32)
    lows = np.ascontiguousarray(lows.T.astype(np.uint32))
    out = [empty] * len(texts)
    for row, post in enumerate(gram_owner[firsts].tolist()):
        out[post] = lows[row].tobytes()
    return out


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
    >>> from yuqing.text.tokenizer import Tokenizer
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
        # band key (all bands in one index, see `band_keys`) -> ids of the stories with a variant
        # there, in the order they came (see _add_variant): a 1-tuple for one story, else a dict
        # used as an ordered set
        self._index: dict[int, tuple[str] | dict[str, None]] = {}
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
        for story in self._stories.values():  # a state pickled before keys were recomputed
            story.__dict__.pop("keys", None)
        if "_buckets" in state:  # a state pickled with one index per band: index its variants again
            del self._buckets
            self._index = {}
            for story in self._stories.values():
                variants, story.variants = story.variants, []
                for variant in variants:
                    self._add_variant(story, variant, self._keys(variant))

    def signatures(self, token_lists: Sequence[Sequence[str]]) -> list[bytes]:
        """The MinHash signatures of many posts in one go, to pass to `push` as ``sig``."""
        return signatures(token_lists, *self._ab)

    def band_keys(self, sigs: Sequence[bytes]) -> list[list[int]]:
        """The LSH keys of many signatures in one go, to pass to `push` as ``keys``."""
        return band_keys_many(sigs, self.n_bands, self.rows)

    def push(
        self, post_id: str, tokens: list[str] | tuple[str, ...], at: datetime, parent_id: str = "",
        sig: bytes | None = None, keys: list[int] | None = None,
    ) -> tuple[str, int]:
        """Assign a post (its tokens, event time) to a story: (story id, posts in the story so far).

        ``sig`` is the post's signature when `signatures` computed it already,
        ``keys`` its band keys when `band_keys` did.
        """
        if self._newest is None or at > self._newest:
            self._newest = at
            self._forget(at - self.horizon)
        story = self._stories.get(self._parents.get(parent_id, "")) if parent_id else None
        if sig is None:
            sig, keys = signature(_grams(_content(tokens)), *self._ab).tobytes(), None
        if keys is None:
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

    def _keys(self, sig: bytes) -> list[int]:
        return band_keys(sig, self.n_bands, self.rows)

    def _nearest(self, sig: bytes, keys: list[int]) -> tuple[_Story | None, float]:
        found = list(filter(None, map(self._index.get, keys)))
        if not found:  # most new posts share no band with any story
            return None, 0.0
        if type(found[0]) is tuple and found.count(found[0]) == len(found):
            ids = list(found[0])  # one story only (a copy of a post, say): nothing to count
        else:
            # Candidate story -> bands shared, counted in C; a Counter keeps first-seen order,
            # which breaks ties in the sort (stable, as heapq.nlargest was) and argmax below.
            shared = Counter(itertools.chain.from_iterable(found))
            ids = list(shared)
            if len(ids) > self.max_candidates:
                ids = sorted(ids, key=shared.__getitem__, reverse=True)[:self.max_candidates]
        stories = [self._stories[story_id] for story_id in ids]
        variants = b"".join(itertools.chain.from_iterable(story.variants for story in stories))
        values = np.frombuffer(variants, dtype=np.uint32).reshape(-1, len(sig) // 4)
        equal = (values == np.frombuffer(sig, dtype=np.uint32)).sum(axis=1)
        best = int(equal.argmax())
        best_sim = float(equal[best]) / values.shape[1]
        if best_sim < self.threshold:
            return None, 0.0
        for story in stories:  # the story of variant number `best`
            if best < len(story.variants):
                break
            best -= len(story.variants)
        return story, best_sim

    def _add_variant(self, story: _Story, sig: bytes, keys: list[int]) -> None:
        """Index a signature under its band keys.

        Most keys hold one story, kept as a 1-tuple: a tuple of strs drops out
        of the garbage collector's tracking and a set never does, and with 32
        sets per post the collector took 20-35% of `push`. A key shared by a
        second story becomes a dict used as an ordered set. Its order breaks
        ties between candidates, so it must not depend on string hashing (a
        set's order changed with PYTHONHASHSEED, and with it which story a
        post joined).
        """
        story.variants.append(sig)
        index, alone = self._index, (story.id,)
        if index.keys().isdisjoint(keys):  # the common case: keys no story has yet, set in C
            index.update(zip(keys, itertools.repeat(alone)))
            return
        for key in keys:
            ids = index.get(key)
            if ids is None:
                index[key] = alone
            elif type(ids) is tuple:
                if ids[0] != story.id:
                    index[key] = {ids[0]: None, story.id: None}
            else:
                ids[story.id] = None

    def _drop(self, story: _Story) -> None:
        """Unindex a story; its band keys are those of its variants, so none are stored."""
        del self._stories[story.id]
        index = self._index
        for variant in story.variants:
            for key in self._keys(variant):
                ids = index.get(key)
                if type(ids) is tuple:
                    if ids[0] == story.id:  # only the story itself keeps a 1-tuple
                        del index[key]
                elif ids is not None:
                    ids.pop(story.id, None)
                    if not ids:
                        del index[key]

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
