"""Sentiment features of a tokenized text: hashed words and character bigrams, lexicon hits.

Words alone transfer badly from review text (what the starting model learns
from) to Weibo posts; character bigrams share more between domains, and a
hand-written lexicon of words and Weibo emoticons ([哈哈], [泪], [怒]) lets
the model use signals it never saw in training, because all lexicon hits feed
two shared features whose weights it does learn.
"""

from __future__ import annotations

import math
import zlib
from importlib import resources

__all__ = ["Featurizer", "load_lexicon", "load_modifiers"]

# crc32 start values, one per namespace, so a word and a bigram never share a key by design.
_NS_WORD = 0x57
_NS_NEG_WORD = 0x4E57
_NS_BIGRAM = 0x42
_BREAKS = frozenset("，。！？；,.!?;…~～\n")


def _read_data(name: str) -> list[list[str]]:
    text = (resources.files("yuqing") / "data" / name).read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


def load_lexicon() -> dict[str, float]:
    """The shipped sentiment lexicon: word or emoticon -> polarity (+1 / -1)."""
    return {row[0]: float(row[1]) for row in _read_data("sentiment_lexicon.txt")}


def load_modifiers() -> tuple[frozenset[str], dict[str, float]]:
    """The shipped negators and degree words (word -> multiplier)."""
    rows = _read_data("sentiment_modifiers.txt")
    negators = frozenset(r[1] for r in rows if r[0] == "negator")
    degree = {r[1]: float(r[2]) for r in rows if r[0] == "degree"}
    return negators, degree


class Featurizer:
    """Map tokens to a sparse feature dict for a linear model.

    Keys are crc32 hashes modulo 2**`n_bits` (stable across processes) for
    words, words in a negation scope (the `scope` tokens after 不/没/别 …, up
    to punctuation) and character bigrams of the text; these carry
    1/sqrt(n) each, so long and short texts weigh alike. Two named features,
    "lex+" and "lex-", hold log(1 + sum of lexicon hits) on each side, each hit
    scaled by a preceding degree word (很, 太 …) and flipped by a negation.

    >>> f = Featurizer()
    >>> x = f(["服务", "不", "好", "[怒]"])
    >>> round(x["lex-"], 3), "lex+" in x
    (1.099, False)
    >>> len(x)
    8
    """

    def __init__(self, n_bits: int = 20, scope: int = 2, bigrams: bool = True) -> None:
        self.n_bits = n_bits
        self.scope = scope
        self.bigrams = bigrams
        self.lexicon = load_lexicon()
        self.negators, self.degree = load_modifiers()
        self._special = _BREAKS | self.negators | self.lexicon.keys() | self.degree.keys()

    def __call__(self, tokens: list[str]) -> dict:
        keys, pos, neg = self.parts(tokens)
        x: dict = {}
        if keys:
            x = dict.fromkeys(keys, 1.0 / math.sqrt(len(keys)))
        if pos:
            x["lex+"] = math.log1p(pos)
        if neg:
            x["lex-"] = math.log1p(neg)
        return x

    def parts(self, tokens: list[str]) -> tuple[list[int], float, float]:
        """(hashed keys with repeats, positive lexicon sum, negative lexicon sum): what `__call__`
        turns into the feature dict, for a scorer that reads weights from an array instead."""
        mask = (1 << self.n_bits) - 1
        lexicon, negators, degree, special = self.lexicon, self.negators, self.degree, self._special
        crc = zlib.crc32
        keys: list[int] = []
        pos = neg = 0.0
        negate = 0
        boost = 1.0
        chars: list[str] = []
        for tok in tokens:
            if not negate and tok not in special and tok[0] != "[":
                keys.append(crc(tok.encode(), _NS_WORD) & mask)  # the common case, kept fast
                chars.append(tok)
                continue
            if tok in _BREAKS:
                negate = 0
                boost = 1.0
                chars.append("|")
                continue
            if tok in negators:
                negate = self.scope
                keys.append(crc(tok.encode(), _NS_WORD) & mask)
                chars.append(tok)
                continue
            if tok[0] == "[":  # an emoticon ends a negation scope and is never negated
                negate = 0
                chars.append("|")
            else:
                chars.append(tok)
            keys.append(crc(tok.encode(), _NS_NEG_WORD if negate else _NS_WORD) & mask)
            polarity = lexicon.get(tok)
            if polarity is not None:
                polarity *= boost
                if negate:
                    polarity = -polarity
                if polarity > 0:
                    pos += polarity
                else:
                    neg -= polarity
                boost = 1.0
            elif tok in degree:
                boost = degree[tok]
            if negate:
                negate -= 1
        if self.bigrams:
            # Bigrams of characters within each run between breaks: crc32 of 8 bytes of UTF-32.
            # One list comprehension over all runs: cheaper per bigram than a generator per run.
            runs = [run.encode("utf-32-le") for run in "".join(chars).split("|")]
            keys += [
                crc(data[i : i + 8], _NS_BIGRAM) & mask
                for data in runs
                for i in range(0, len(data) - 4, 4)
            ]
        return keys, pos, neg
