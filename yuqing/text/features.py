"""Sentiment features of a tokenized text: hashed words and character bigrams, lexicon hits.

Words alone transfer badly from review text (what the starting model learns
from) to Weibo posts; character bigrams share more between domains, and a
hand-written lexicon of words and Weibo emoticons ([哈哈], [泪], [怒]) lets
the model use signals it never saw in training, because all lexicon hits feed
two shared features whose weights it does learn.
"""

from __future__ import annotations

import functools
import math
import zlib
from importlib import resources

import numpy as np

__all__ = ["Featurizer", "load_lexicon", "load_modifiers"]

# crc32 start values, one per namespace, so a word and a bigram never share a key by design.
_NS_WORD = 0x57
_NS_NEG_WORD = 0x4E57
_NS_BIGRAM = 0x42
_BREAKS = frozenset("，。！？；,.!?;…~～\n")
_RUN_BREAK = ord("|")


@functools.cache
def _crc_tables(start: int) -> tuple[int, np.ndarray]:
    """crc32(8 bytes, start) == zero ^ XOR over k of tables[k][byte k]: the tables of that identity."""
    zero = zlib.crc32(bytes(8), start)
    tables = np.zeros((8, 256), dtype=np.uint32)
    for k in range(8):
        for value in range(256):
            data = bytearray(8)
            data[k] = value
            tables[k, value] = zlib.crc32(bytes(data), start) ^ zero
    return zero, tables


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
        self._plain: dict[str, int] = {}  # word -> its key, or -1 for a special token

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_plain": {}}  # a cache: rebuilt as words come

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update({"_plain": {}, **state})

    def _plain_key(self, tok: str) -> int:
        """The word key of a token that needs no context (not a break, negator, lexicon or
        degree word, nor an emoticon), else -1; remembered, as words repeat all day."""
        if tok in self._special or tok[0] == "[":
            key = -1
        else:
            key = zlib.crc32(tok.encode(), _NS_WORD) & ((1 << self.n_bits) - 1)
        if len(self._plain) > 500_000:
            self._plain.clear()
        self._plain[tok] = key
        return key

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
        keys, chars, pos, neg = self.words(tokens)
        if self.bigrams:
            # Bigrams of characters within each run between breaks: crc32 of 8 bytes of UTF-32.
            # One list comprehension over all runs: cheaper per bigram than a generator per run.
            mask, crc = (1 << self.n_bits) - 1, zlib.crc32
            runs = [run.encode("utf-32-le") for run in chars.split("|")]
            keys += [
                crc(data[i : i + 8], _NS_BIGRAM) & mask
                for data in runs
                for i in range(0, len(data) - 4, 4)
            ]
        return keys, pos, neg

    def words(self, tokens: list[str]) -> tuple[list[int], str, float, float]:
        """(word keys, the characters bigrams are cut from with "|" between runs, lexicon sums)."""
        mask = (1 << self.n_bits) - 1
        lexicon, negators, degree = self.lexicon, self.negators, self.degree
        crc = zlib.crc32
        keys: list[int] = []
        pos = neg = 0.0
        negate = 0
        boost = 1.0
        chars: list[str] = []
        plain = self._plain
        for tok in tokens:
            key = plain.get(tok)
            if key is None:
                key = self._plain_key(tok)
            if key >= 0 and not negate:  # the common case, kept fast
                keys.append(key)
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
        return keys, "".join(chars), pos, neg

    def bigram_keys_many(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(keys, index of the text each came from) of the character bigrams of many `words` texts.

        The same crc32 keys as `parts`, for a whole batch in a few numpy calls:
        over fixed 8-byte inputs crc32 is affine in the bits, so a bigram's
        value is a constant XOR one table entry per byte (`_crc_tables`).
        """
        if not self.bigrams or not texts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        codes = np.frombuffer("|".join(texts).encode("utf-32-le"), dtype=np.uint32)
        owner = np.repeat(np.arange(len(texts)), np.fromiter(map(len, texts), dtype=np.int64,
                                                             count=len(texts)) + 1)[:codes.size - 1]
        first, second = codes[:-1], codes[1:]
        inside = (first != _RUN_BREAK) & (second != _RUN_BREAK)
        first, second = first[inside], second[inside]
        zero, tables = _crc_tables(_NS_BIGRAM)
        crc = np.full(first.size, zero, dtype=np.uint32)
        for k, shift in enumerate((0, 8, 16, 24)):  # UTF-32-LE: the first character's 4 bytes ...
            crc ^= tables[k][(first >> shift) & 0xFF]
            crc ^= tables[k + 4][(second >> shift) & 0xFF]  # ... then the second's
        return (crc & ((1 << self.n_bits) - 1)).astype(np.int64), owner[inside]
