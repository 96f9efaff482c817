"""Online signals of one key (brand × category, or brand overall), read on every mention.

Mentions fall into 1-minute event-time buckets; the signal window is the last
``minutes`` buckets (the current, partial one included), so a reading costs a
few additions, never a scan of mentions. Each reading is a `Snapshot`:

    count, negative, positive mentions, negative and positive ones in the window
    negative_share            negative / count
    negative_reach            followers of the negative mentions' authors
    kols                      negative mentions by verified or >= ``kol_followers`` authors
    engagement                reposts + comments + likes in the window
    velocity                  z of the change between the last two and the two
                              buckets before: (c0 + c1 - c2 - c3) / sqrt(c0 + c1 + c2 + c3 + 1)
    distinct_authors          distinct author ids in the window
    top_story_share           share of the window held by its largest story of copies
                              (mentions without a parent: reposts are spread, not copies)

and over the longer ``span`` (60 minutes), where spread shows:

    span_count, span_negative, span_positive    mentions, negative and positive ones
    top_cascade               mentions of the largest repost cascade: a post and the
                              reposts that lead back to it through ``parent`` ids

When a minute closes, `add` returns a `MinuteRow` per closed minute (with the
full window's count and negative count at that boundary) for the expectation
models to learn from; empty minutes after a gap are returned too, up to
``max_fill``. ``recent`` keeps the last ``max_recent`` mentions of the window
as `Brief` records: the evidence an incident quotes. Memory is bounded by
``minutes`` buckets of at most ``max_authors`` author ids and ``max_stories``
story counters each, ``span`` buckets of at most ``max_cascades`` cascade
counters, ``max_cascades`` remembered roots, plus ``max_recent`` briefs.

Examples
--------
>>> from datetime import UTC, datetime, timedelta
>>> t0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
>>> w = WindowSignals(minutes=5)
>>> rows = []
>>> for i in range(12):                      # one mention every 30 s, author a or b
...     b = Brief(f"m{i}", t0 + timedelta(seconds=30 * i), "weibo", "ab"[i % 2], 100,
...               negative=i % 3 == 0, story="s1")
...     rows += w.add(b)
>>> [(r.at.minute, r.count) for r in rows]
[(1, 2), (2, 4), (3, 6), (4, 8), (5, 10)]
>>> s = w.snapshot()
>>> s.count, s.negative, s.distinct_authors, s.top_story_share
(10, 3, 2, 1.0)

Reposts of one post, through chains of parents, form one cascade:

>>> w = WindowSignals()
>>> w.add(Brief("root", t0, "weibo", "a", 0))
[]
>>> for i in range(30):
...     parent = "root" if i % 3 == 0 else f"r{i - 1}"
...     rows = w.add(Brief(f"r{i}", t0 + timedelta(minutes=i), "weibo", f"u{i}", 0, parent=parent))
>>> s = w.snapshot()
>>> s.top_cascade, s.span_count, s.count, s.top_story_share
(31, 31, 5, 0.0)
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(slots=True)  # not frozen: one is made per mention, and frozen fields cost ~1 µs more
class Brief:
    """What an incident's evidence needs of one mention (not its text); never changed once made."""

    id: str
    at: datetime
    source: str
    author: str
    followers: int
    verified: bool = False
    engagement: int = 0
    negative: bool = False
    story: str = ""
    keywords: tuple[str, ...] = ()
    positive: bool = False
    parent: str = ""  # the post this one reposts or replies to

    @property
    def influence(self) -> float:
        """Followers plus ten per reaction: who was seen most."""
        return self.followers + 10.0 * self.engagement


@dataclass(slots=True)
class MinuteRow:
    """The window's totals when a minute closed: what expectations learn from."""

    at: datetime  # end of the closed minute
    count: int
    negative: int
    minute_count: int  # mentions in the closed minute alone
    positive: int = 0
    top_cascade: int = 0  # the largest repost cascade of the span


@dataclass(slots=True)  # not frozen: made per mention, and frozen fields cost ~1 µs more
class Snapshot:
    """The signals of one key at one moment (see the module docstring)."""

    at: datetime
    count: int
    negative: int
    negative_reach: int
    kols: int
    engagement: int
    velocity: float
    distinct_authors: int
    top_story_share: float
    positive: int = 0
    span_count: int = 0
    span_negative: int = 0
    span_positive: int = 0
    top_cascade: int = 0

    @property
    def negative_share(self) -> float:
        return self.negative / self.count if self.count else 0.0

    @property
    def author_ratio(self) -> float:
        """Distinct authors per mention: 1 is organic, near 0 is one account posting."""
        return self.distinct_authors / self.count if self.count else 1.0


@dataclass(slots=True)
class _SpanBucket:
    minute: int
    count: int = 0
    negative: int = 0
    positive: int = 0
    roots: dict[str, int] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Bucket:
    minute: int
    count: int = 0
    negative: int = 0
    positive: int = 0
    negative_reach: int = 0
    kols: int = 0
    engagement: int = 0
    authors: dict[str, int] = field(default_factory=dict)
    stories: dict[str, int] = field(default_factory=dict)


class WindowSignals:
    """Bucketed sliding-window signals of one key; `add` per mention, `snapshot` to read."""

    def __init__(self, minutes: int = 5, kol_followers: int = 100_000, max_authors: int = 4096,
                 max_stories: int = 4096, max_recent: int = 256, max_fill: int = 1440,
                 span: int = 60, max_cascades: int = 16384):
        self.minutes = minutes
        self.span = span
        self.max_cascades = max_cascades
        self.kol_followers = kol_followers
        self.max_authors = max_authors
        self.max_stories = max_stories
        self.max_recent = max_recent
        self.max_fill = max_fill
        self.buckets: deque[_Bucket] = deque()  # contiguous minutes, the newest last
        self.recent: deque[Brief] = deque(maxlen=max_recent)
        self.now: datetime | None = None
        # running totals of the window (the buckets), kept by add and eviction
        self.count = self.negative = self.negative_reach = self.kols = self.engagement = 0
        self.positive = 0
        self.overflow = 0  # authors beyond max_authors, counted as distinct
        self.authors: dict[str, int] = {}
        self.stories: dict[str, int] = {}
        self.top_story = 0
        # the longer span: per-minute totals and repost cascades
        self.span_buckets: deque[_SpanBucket] = deque()
        self.span_count = self.span_negative = self.span_positive = 0
        self.cascades: dict[str, int] = {}
        self.top_cascade = 0
        self.top_root = ""
        self.roots: dict[str, str] = {}  # mention id -> its cascade's root, within the span
        # original post -> (at, source, keywords): where a cascade began and what it says
        self.origins: dict[str, tuple[datetime, str, tuple[str, ...]]] = {}

    def __setstate__(self, state: dict) -> None:
        """States pickled before the span existed load with an empty one."""
        fresh = WindowSignals(minutes=state.get("minutes", 5)).__dict__
        self.__dict__.update({**fresh, **state})

    @staticmethod
    def minute_of(at: datetime) -> int:
        return int((at - EPOCH).total_seconds() // 60)

    def advance(self, at: datetime) -> list[MinuteRow]:
        """Move the clock to ``at``; returns one row per minute that closed."""
        if self.now is None or at > self.now:
            self.now = at
        minute = self.minute_of(at)
        self._advance_span(minute)
        if not self.buckets:
            self.buckets.append(_Bucket(minute))
            return []
        m = self.buckets[-1].minute
        rows: list[MinuteRow] = []
        while m < minute:
            rows.append(MinuteRow(EPOCH + timedelta(minutes=m + 1), self.count, self.negative,
                                  self.buckets[-1].count, self.positive, self.top_cascade))
            m += 1
            if self.count == 0 and m < minute:  # empty window: jump over the silent minutes
                first = max(m, minute - self.max_fill)
                rows.extend(MinuteRow(EPOCH + timedelta(minutes=k + 1), 0, 0, 0)
                            for k in range(first, minute))
                self.buckets.clear()
                m = minute
            self.buckets.append(_Bucket(m))
            while self.buckets[0].minute <= m - self.minutes:
                self._evict(self.buckets.popleft())
        cutoff = self.now - timedelta(minutes=self.minutes)
        recent = self.recent
        while recent and recent[0].at <= cutoff:
            recent.popleft()
        return rows

    def _advance_span(self, minute: int) -> None:
        spans = self.span_buckets
        if spans and spans[-1].minute >= minute:
            return
        spans.append(_SpanBucket(minute))
        evicted = False
        while spans[0].minute <= minute - self.span:
            old = spans.popleft()
            self.span_count -= old.count
            self.span_negative -= old.negative
            self.span_positive -= old.positive
            for root, n in old.roots.items():
                left = self.cascades[root] - n
                if left:
                    self.cascades[root] = left
                else:
                    del self.cascades[root]
            for mention_id in old.ids:
                self.roots.pop(mention_id, None)
                self.origins.pop(mention_id, None)
            evicted = True
        if evicted:  # the first root with the most reposts, as max over the items finds it
            cascades = self.cascades
            self.top_root = max(cascades, key=cascades.__getitem__, default="")
            self.top_cascade = cascades.get(self.top_root, 0)

    def _add_span(self, minute: int, brief: Brief) -> None:
        spans = self.span_buckets
        bucket = spans[-1]
        if minute < bucket.minute:
            bucket = next((b for b in spans if b.minute >= minute), bucket)
        bucket.count += 1
        self.span_count += 1
        if brief.negative:
            bucket.negative += 1
            self.span_negative += 1
        elif brief.positive:
            bucket.positive += 1
            self.span_positive += 1
        parent = brief.parent
        root = self.roots.get(parent, parent) if parent else brief.id
        if len(self.roots) < self.max_cascades:
            self.roots[brief.id] = root
            if not parent:
                self.origins[brief.id] = (brief.at, brief.source, brief.keywords)
            bucket.ids.append(brief.id)
        if root in self.cascades or len(self.cascades) < self.max_cascades:
            bucket.roots[root] = bucket.roots.get(root, 0) + 1
            n = self.cascades[root] = self.cascades.get(root, 0) + 1
            if n > self.top_cascade:
                self.top_cascade, self.top_root = n, root

    def _evict(self, b: _Bucket) -> None:
        self.count -= b.count
        self.negative -= b.negative
        self.positive -= b.positive
        self.negative_reach -= b.negative_reach
        self.kols -= b.kols
        self.engagement -= b.engagement
        for name, n in b.authors.items():
            left = self.authors[name] - n
            if left:
                self.authors[name] = left
            else:
                del self.authors[name]
        if b.stories:
            for name, n in b.stories.items():
                left = self.stories[name] - n
                if left:
                    self.stories[name] = left
                else:
                    del self.stories[name]
            self.top_story = max(self.stories.values(), default=0)
        if not self.count:
            self.overflow = 0

    def add(self, brief: Brief) -> list[MinuteRow]:
        """Count one mention; returns the rows of minutes its arrival closed."""
        rows = self.advance(brief.at)
        minute = self.minute_of(brief.at)
        bucket = self.buckets[-1]
        if minute < bucket.minute:  # late: into its own minute, or the oldest kept
            bucket = next((b for b in self.buckets if b.minute >= minute), bucket)
        bucket.count += 1
        self.count += 1
        bucket.engagement += brief.engagement
        self.engagement += brief.engagement
        if brief.negative:
            bucket.negative += 1
            self.negative += 1
            bucket.negative_reach += brief.followers
            self.negative_reach += brief.followers
            if brief.verified or brief.followers >= self.kol_followers:
                bucket.kols += 1
                self.kols += 1
        elif brief.positive:
            bucket.positive += 1
            self.positive += 1
        author = brief.author or brief.id
        if author in self.authors or len(self.authors) < self.max_authors:
            bucket.authors[author] = bucket.authors.get(author, 0) + 1
            self.authors[author] = self.authors.get(author, 0) + 1
        else:
            self.overflow += 1
        self._add_span(minute, brief)
        story = brief.story or brief.id
        copy = not brief.parent  # a repost spreads a post; copies are posts of their own
        if copy and (story in self.stories or len(self.stories) < self.max_stories):
            bucket.stories[story] = bucket.stories.get(story, 0) + 1
            n = self.stories[story] = self.stories.get(story, 0) + 1
            if n > self.top_story:
                self.top_story = n
        self.recent.append(brief)
        return rows

    def snapshot(self) -> Snapshot:
        """The signals at the clock's time (call `advance` first to move it)."""
        b = self.buckets
        size = len(b)
        c = [b[-1 - k].count if k < size else 0 for k in range(4)]
        recent, before = c[0] + c[1], c[2] + c[3]
        return Snapshot(
            at=self.now or EPOCH, count=self.count, negative=self.negative,
            negative_reach=self.negative_reach, kols=self.kols, engagement=self.engagement,
            velocity=(recent - before) / math.sqrt(recent + before + 1),
            distinct_authors=len(self.authors) + self.overflow,
            top_story_share=self.top_story / self.count if self.count else 0.0,
            positive=self.positive, span_count=self.span_count, span_negative=self.span_negative,
            span_positive=self.span_positive, top_cascade=self.top_cascade,
        )
