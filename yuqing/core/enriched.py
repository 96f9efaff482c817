"""A mention plus what the flow learned about it (brand, tokens, sentiment, category, story).

The flow's enrichment steps fill these fields; sinks and detectors read them.
Keeping them beside, not inside, the contract `Mention` keeps the contract
exactly what producers send.
"""

from __future__ import annotations

from dataclasses import dataclass

from yuqing.core.mention import Mention


@dataclass(slots=True)
class EnrichedMention:
    """One accepted, deduplicated mention with its analysis."""

    mention: Mention
    brand: str
    tokens: tuple[str, ...] = ()
    sentiment: float = 0.0
    sentiment_label: str = "neutral"
    category: str = "other"
    category_evidence: tuple[str, ...] = ()
    story_id: str = ""

    def __reduce__(self) -> tuple:
        """Pickle as a flat tuple (see `Mention.__reduce__`): it crosses between processes."""
        return (EnrichedMention, (self.mention, self.brand, self.tokens, self.sentiment,
                                  self.sentiment_label, self.category, self.category_evidence,
                                  self.story_id))

    @property
    def is_negative(self) -> bool:
        return self.sentiment_label == "negative"

    @property
    def reach(self) -> int:
        """How many people could have seen it: the author's followers."""
        return self.mention.author.followers
