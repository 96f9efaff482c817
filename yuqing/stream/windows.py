"""Per-window aggregates of mentions (counts, unique authors, reach) for `window_metrics`.

A `WindowMetrics` is a fold accumulator: `add` one mention at a time, then read
the totals when the window closes. It holds the authors' ids (not the
mentions) so its size grows with distinct authors only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from yuqing.core.enriched import EnrichedMention


class WindowSample(NamedTuple):
    """What a window needs of one mention: a few fields, cheap to send to another process
    (windows are keyed by brand and source, so in a cluster many cross)."""

    at: datetime
    negative: bool
    reach: int
    engagement: int
    verified: bool
    sentiment: float
    author: str

    @classmethod
    def of(cls, item: EnrichedMention) -> WindowSample:
        m = item.mention
        return cls(m.published_at, item.is_negative, item.reach, m.engagement.total,
                   m.author.verified, item.sentiment, m.author.id)


@dataclass(slots=True)
class WindowMetrics:
    """Totals of one brand x source x minute.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from yuqing.core.mention import Author, Mention
    >>> def m(i, author, followers):
    ...     mention = Mention(str(i), "weibo", datetime(2026, 11, 23, tzinfo=UTC), "文本",
    ...                       author=Author(id=author, followers=followers))
    ...     return WindowSample.of(EnrichedMention(mention, brand="星汇支付"))
    >>> w = WindowMetrics()
    >>> for item in (m(1, "a", 10), m(2, "a", 10), m(3, "b", 5)):
    ...     w = w.add(item)
    >>> w.mentions, w.unique_authors, w.reach
    (3, 2, 25)
    """

    mentions: int = 0
    negative: int = 0
    reach: int = 0
    engagement: int = 0
    verified: int = 0
    sentiment_sum: float = 0.0
    authors: set[str] = field(default_factory=set)

    def add(self, item: WindowSample | EnrichedMention) -> WindowMetrics:
        """Fold one mention in; returns self so it can serve as a fold function.

        An `EnrichedMention` is taken too: a recovery snapshot of an older
        version holds those in windows still open.
        """
        if isinstance(item, EnrichedMention):
            item = WindowSample.of(item)
        self.mentions += 1
        self.negative += item.negative
        self.reach += item.reach
        self.engagement += item.engagement
        self.verified += item.verified
        self.sentiment_sum += item.sentiment
        if item.author:
            self.authors.add(item.author)
        return self

    @property
    def unique_authors(self) -> int:
        return len(self.authors)
