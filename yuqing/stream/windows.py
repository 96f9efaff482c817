"""Per-window aggregates of mentions (counts, unique authors, reach) for `window_metrics`.

A `WindowMetrics` is a fold accumulator: `add` one mention at a time, then read
the totals when the window closes. It holds the authors' ids (not the
mentions) so its size grows with distinct authors only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from yuqing.core.enriched import EnrichedMention


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
    ...     return EnrichedMention(mention, brand="星汇支付")
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

    def add(self, item: EnrichedMention) -> WindowMetrics:
        """Fold one mention in; returns self so it can serve as a fold function."""
        mention = item.mention
        self.mentions += 1
        self.negative += item.is_negative
        self.reach += item.reach
        self.engagement += mention.engagement.total
        self.verified += mention.author.verified
        self.sentiment_sum += item.sentiment
        if mention.author.id:
            self.authors.add(mention.author.id)
        return self

    @property
    def unique_authors(self) -> int:
        return len(self.authors)
