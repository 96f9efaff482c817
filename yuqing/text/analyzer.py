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


@dataclass(slots=True)  # not frozen: made per mention, and frozen fields cost ~1 µs more
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
        text, tokens = self._tokens(mention)
        score = score or self.sentiment.score
        return self._analysis(mention, text, tokens, score(tokens) if self.has_opinion(tokens) else 0.0)

    def analyze_many(
        self,
        mentions: Sequence[Mention],
        score_many: Callable[[list[list[str]]], list[float]] | None = None,
    ) -> list[Analysis | Exception]:
        """`analyze` of each mention, with the sentiment of all of them scored as one batch.

        A mention that cannot be analysed gets its exception in its place, so
        one bad mention costs only itself. `score_many` is the batch model to
        use if not the shipped one.
        """
        out: list[Analysis | Exception | None] = [None] * len(mentions)
        ready: list[tuple[int, str, list[str], bool]] = []
        for i, mention in enumerate(mentions):
            try:
                text, tokens = self._tokens(mention)
                ready.append((i, text, tokens, self.has_opinion(tokens)))
            except Exception as err:  # handed back in the mention's place
                out[i] = err
        opinions = [r for r in ready if r[3]]
        values = dict(zip((r[0] for r in opinions),
                          self._score_all([r[2] for r in opinions], score_many), strict=True))
        for i, text, tokens, _ in ready:
            try:
                value = values.get(i, 0.0)
                if isinstance(value, Exception):
                    raise value
                out[i] = self._analysis(mentions[i], text, tokens, value)
            except Exception as err:  # handed back in the mention's place
                out[i] = err
        return out  # type: ignore[return-value]

    def _score_all(self, token_lists: list[list[str]], score_many) -> list[float | Exception]:
        """One batch call; if the batch fails, each text alone, so that only the bad one fails."""
        score_many = score_many or self.sentiment.score_many
        try:
            return score_many(token_lists)
        except Exception:  # find the culprit below
            values: list[float | Exception] = []
            for tokens in token_lists:
                try:
                    values.append(score_many([tokens])[0])
                except Exception as err:  # handed back in the mention's place
                    values.append(err)
            return values

    def _tokens(self, mention: Mention) -> tuple[str, list[str]]:
        """The cleaned title and text, and its tokens."""
        text = clean_text(f"{mention.title} {mention.text}" if mention.title else mention.text)
        return text, self.tokenizer.tokenize(text)

    def _analysis(self, mention: Mention, text: str, tokens: list[str], value: float) -> Analysis:
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
