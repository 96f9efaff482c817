"""What one mention says on its own: brand, tokens, sentiment, crisis category with evidence.

The flow and `yuqing score` both call `Analyzer.analyze`, so a replay of a
file gives the same fields as the stream. Story clustering is not here: it
remembers earlier mentions, so it lives in per-brand state
(`yuqing.text.stories.StoryClusterer`), fed with the tokens computed here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from yuqing.core.enriched import EnrichedMention
from yuqing.core.mention import Mention
from yuqing.text.brands import UNKNOWN_BRAND, BrandMatcher
from yuqing.text.categories import CategoryClassifier
from yuqing.text.normalize import clean_text
from yuqing.text.sentiment import SentimentModel
from yuqing.text.tokenizer import Tokenizer

__all__ = ["Analysis", "Analyzer"]


@dataclass(frozen=True, slots=True)
class Analysis:
    """The per-mention fields of an `EnrichedMention`."""

    brand: str
    tokens: tuple[str, ...]
    sentiment: float
    sentiment_label: str
    category: str
    category_evidence: tuple[str, ...]
    category_score: float

    def enrich(self, mention: Mention, story_id: str = "") -> EnrichedMention:
        """The mention with this analysis (and its story, once clustered)."""
        return EnrichedMention(
            mention=mention,
            brand=self.brand,
            tokens=self.tokens,
            sentiment=self.sentiment,
            sentiment_label=self.sentiment_label,
            category=self.category,
            category_evidence=self.category_evidence,
            story_id=story_id,
        )

    def to_json(self) -> dict:
        return {
            "brand": self.brand,
            "tokens": list(self.tokens),
            "sentiment": round(self.sentiment, 4),
            "sentiment_label": self.sentiment_label,
            "category": self.category,
            "category_evidence": list(self.category_evidence),
            "category_score": self.category_score,
        }


class Analyzer:
    """Tokenizer + sentiment model + category classifier + brand dictionary, per mention.

    The title and text, without repost marks and links (`clean_text`), are
    tokenized once; every model reads those tokens. The brand is the
    collector's, else the first brand alias in the raw title and text.
    Construct it once: it is cheap to call and pickles (the segmenter is
    rebuilt on first use after unpickling).

    Parameters
    ----------
    tokenizer, sentiment, categories, brands
        The parts; `Analyzer.default(...)` builds the shipped ones.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> analyzer = Analyzer.default()
    >>> m = Mention(id="weibo:1", source="weibo", published_at=datetime(2026, 11, 23, tzinfo=UTC),
    ...             text="转发微博 //@小王: 星汇又宕机了，无法提现！http://t.cn/A6x")
    >>> a = analyzer.analyze(m)
    >>> a.brand, a.category, a.category_evidence, a.sentiment_label
    ('星汇支付', 'outage', ('宕机', '无法提现'), 'negative')
    >>> a.tokens
    ('星汇', '又', '宕机', '了', '，', '无法提现', '！')

    A plain repost or an interjection says nothing for or against anyone:

    >>> from dataclasses import replace
    >>> [analyzer.analyze(replace(m, text=t)).sentiment_label for t in ("转发微博", "哈", "。", "[怒]")]
    ['neutral', 'neutral', 'neutral', 'negative']
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        sentiment: SentimentModel,
        categories: CategoryClassifier,
        brands: BrandMatcher,
    ) -> None:
        self.tokenizer = tokenizer
        self.sentiment = sentiment
        self.categories = categories
        self.brands = brands

    @classmethod
    def default(
        cls,
        engine: str = "jieba",
        user_dicts: Sequence[str | Path] = (),
        lexicons: Sequence[str | Path] = (),
        brand_files: Sequence[str | Path] = (),
    ) -> Analyzer:
        """The shipped models, with the user's dictionaries, lexicons and brand files added."""
        return cls(
            Tokenizer(engine=engine, user_dicts=user_dicts),
            SentimentModel.load_default(),
            CategoryClassifier.default(lexicons),
            BrandMatcher.default([Path(p) for p in brand_files]),
        )

    def brand_of(self, mention: Mention) -> str:
        """The collector's brand, else the brand dictionary's, else "unknown"."""
        if mention.brand:
            return mention.brand
        return self.brands.match(f"{mention.title} {mention.text}") or UNKNOWN_BRAND

    def has_opinion(self, tokens: Sequence[str]) -> bool:
        """Whether tokens can carry a sentiment: a content word or a lexicon hit.

        A plain repost ("转发微博"), an interjection ("哈") or punctuation alone
        would only get the model's intercept, which is not an opinion: such a
        mention is neutral, though it still counts toward volume and spread.
        """
        if self.tokenizer.has_content(tokens):
            return True
        lexicon = self.sentiment.featurizer.lexicon
        return any(token in lexicon for token in tokens)

    def analyze(
        self, mention: Mention, score: Callable[[list[str]], float] | None = None
    ) -> Analysis:
        """Brand, tokens, sentiment and category of one mention.

        `score` is the sentiment model to use if not the shipped one (the flow
        passes the one analysts' labels have taught).
        """
        text = clean_text(f"{mention.title} {mention.text}" if mention.title else mention.text)
        tokens = self.tokenizer.tokenize(text)
        score = score or self.sentiment.score
        value = score(tokens) if self.has_opinion(tokens) else 0.0
        category, evidence, confidence = self.categories.classify(text, tokens)
        return Analysis(
            brand=self.brand_of(mention),
            tokens=tuple(tokens),
            sentiment=value,
            sentiment_label=self.sentiment.label(value),
            category=category,
            category_evidence=evidence,
            category_score=confidence,
        )
