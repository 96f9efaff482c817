"""Crisis category of a mention from the risk lexicon, with the words that decided it.

The lexicon (`yuqing/data/risk_lexicon.yaml`, format in docs/categories.md)
gives each category weighted terms; a single left-to-right pass with a
first-character index finds all of them (longest term first at each
position), one compiled regular expression the few "A~B" gap patterns, and a
dictionary lookup the whole-token terms.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from yuqing.core.yaml_text import YAMLError, load_yaml
from yuqing.errors import UserError

__all__ = [
    "CATEGORIES",
    "CATEGORY_NAMES",
    "CATEGORY_SEVERITY",
    "CategoryClassifier",
    "Lexicon",
    "load_lexicon",
]

# Category ids are a contract (ClickHouse, playbooks, the risk score): fixed here, not in YAML.
CATEGORY_NAMES: dict[str, str] = {
    "data_breach": "数据泄露",
    "outage": "系统故障/交易失败",
    "regulatory": "监管处罚",
    "complaint_fees": "乱收费投诉",
    "complaint_collection": "暴力催收投诉",
    "rumor_solvency": "跑路谣言/兑付风险",
    "product_defect": "产品质量缺陷",
    "media_exposure": "负面媒体曝光",
    "other": "其他",
}
# How bad a burst of each category is, 0..1 (used by the risk score).
CATEGORY_SEVERITY: dict[str, float] = {
    "data_breach": 0.9,
    "outage": 0.8,
    "regulatory": 0.85,
    "complaint_fees": 0.5,
    "complaint_collection": 0.6,
    "rumor_solvency": 0.95,
    "product_defect": 0.75,
    "media_exposure": 0.7,
    "other": 0.2,
}
CATEGORIES: tuple[str, ...] = tuple(CATEGORY_NAMES)
OTHER = "other"

_ASCII_WORD = re.compile(r"[a-z0-9]")
_SENTENCE_END = "。！？!?；;\n"


@dataclass(frozen=True)
class Term:
    """One lexicon entry: where it counts, how much, and whether it needs a negative context."""

    category: str
    weight: float
    weak: bool = False


@dataclass
class Lexicon:
    """Parsed lexicon: literal terms, gap patterns, whole-token terms, context and settings."""

    literals: dict[str, list[Term]] = field(default_factory=dict)
    patterns: dict[str, list[Term]] = field(default_factory=dict)
    tokens: dict[str, list[Term]] = field(default_factory=dict)
    excludes: set[str] = field(default_factory=set)
    context: set[str] = field(default_factory=set)
    negators: set[str] = field(default_factory=set)
    questions: set[str] = field(default_factory=set)
    min_score: float = 2.0
    negated_factor: float = 0.25
    gap: int = 8

    def add(self, term: str, entry: Term) -> None:
        """Add (or re-weight) a term of a category; the syntax picks literal, pattern or token."""
        term = _fold(term.strip())
        if term.startswith("="):
            table, term = self.tokens, term[1:]
        elif "~" in term:
            table = self.patterns
        else:
            table = self.literals
        if not term:
            raise ValueError("empty term")
        kept = [t for t in table.get(term, []) if t.category != entry.category]
        table[term] = [*kept, entry]


def _compat_forms() -> dict[str, str]:
    """Full-width and other compatibility punctuation -> its NFKD form (combining-mark free).

    Weibo posts are seldom NFKC-normal, mostly because of ，！？：…, and NFKC of such a text
    recomposes all of it (about half the cost of `hits` on Weibo posts). A character replaced by its full
    decomposition leaves the text's NFKD, hence its NFKC, unchanged; once these are replaced,
    `unicodedata.normalize` usually returns after its quick check.
    """
    blocks = [(0x2000, 0x2070), (0x2460, 0x2500), (0x3000, 0x3040), (0xFE30, 0xFE70), (0xFF00, 0xFFF0)]
    forms = {}
    for low, high in blocks:
        for code in range(low, high):
            decomposed = unicodedata.normalize("NFKD", chr(code))
            if decomposed != chr(code) and not any(map(unicodedata.combining, decomposed)):
                forms[chr(code)] = decomposed
    return forms


_COMPAT_FORMS = _compat_forms()
_COMPAT_RE = re.compile("[" + "".join(map(re.escape, _COMPAT_FORMS)) + "]")


def _decompose(match: re.Match) -> str:
    return _COMPAT_FORMS[match.group()]


def _fold(text: str) -> str:
    """Full-width to half-width and lower case, so ＣＣＴＶ and cctv match the same term.

    The same as NFKC then lower case; see `_compat_forms` for why the first substitution.
    """
    return unicodedata.normalize("NFKC", _COMPAT_RE.sub(_decompose, text)).lower()


def load_lexicon(paths: Iterable[str | Path] = ()) -> Lexicon:
    """The shipped lexicon plus users' files, in order; a later weight for a term replaces it."""
    shipped = resources.files("yuqing").joinpath("data/risk_lexicon.yaml").read_text("utf-8")
    sources = [("shipped risk_lexicon.yaml", shipped)]
    for path in paths:
        try:
            sources.append((str(path), Path(path).read_text(encoding="utf-8")))
        except OSError as err:
            raise UserError(f"--lexicon {path}: cannot read ({err.strerror}); give a YAML file") from None
    lexicon = Lexicon()
    for origin, text in sources:
        _merge(lexicon, origin, text)
    return lexicon


def _merge(lexicon: Lexicon, origin: str, text: str) -> None:
    try:
        data = load_yaml(text) or {}
    except YAMLError as err:
        raise UserError(f"{origin}: not valid YAML ({err}); see yuqing/data/risk_lexicon.yaml") from None
    if not isinstance(data, dict):
        raise UserError(f"{origin}: expected a mapping with `categories:`; see docs/categories.md")
    settings = data.get("settings") or {}
    for name in ("min_score", "negated_factor", "gap"):
        if name in settings:
            value = settings[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise UserError(f"{origin}: settings.{name}: expected a number >= 0, got {value!r}")
            setattr(lexicon, name, int(value) if name == "gap" else float(value))
    for key in ("negators", "questions", "context"):
        words = data.get(key) or []
        if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
            raise UserError(f"{origin}: {key}: expected a list of non-empty strings (quote numbers: \"12315\")")
        getattr(lexicon, key).update(_fold(w) for w in words)
    categories = data.get("categories") or {}
    if not isinstance(categories, dict):
        raise UserError(f"{origin}: categories: expected a mapping of category id -> terms")
    for category, entry in categories.items():
        if category not in CATEGORY_NAMES or category == OTHER:
            known = ", ".join(c for c in CATEGORIES if c != OTHER)
            raise UserError(f"{origin}: unknown category {category!r}: use one of {known}")
        entry = entry or {}
        for section, weak in (("terms", False), ("weak", True)):
            terms = entry.get(section) or {}
            if not isinstance(terms, dict):
                raise UserError(f"{origin}: {category}.{section}: expected a mapping term: weight")
            for term, weight in terms.items():
                if isinstance(weight, bool) or not isinstance(weight, int | float):
                    raise UserError(f"{origin}: {category}.{section}.{term}: weight must be a number")
                try:
                    lexicon.add(str(term), Term(category, float(weight), weak))
                except ValueError as err:
                    raise UserError(f"{origin}: {category}.{section}: {err}") from None
        excludes = entry.get("exclude") or []
        if not isinstance(excludes, list):
            raise UserError(f"{origin}: {category}.exclude: expected a list of phrases")
        lexicon.excludes.update(_fold(str(x)) for x in excludes if str(x))


def _literal(term: str) -> str:
    """A term as a regex; English words and numbers only match at word boundaries."""
    body = re.escape(term)
    if _ASCII_WORD.match(term[0]):
        body = r"(?<![a-z0-9])" + body
    if _ASCII_WORD.match(term[-1]):
        body += r"(?![a-z0-9])"
    return body


def _bounded(text: str, start: int, end: int) -> bool:
    """False where an English word or a number would be cut: 315 in 13151234."""
    if start and _ASCII_WORD.match(text[start]) and _ASCII_WORD.match(text[start - 1]):
        return False
    return not (end < len(text) and _ASCII_WORD.match(text[end - 1]) and _ASCII_WORD.match(text[end]))


def _options(part: str) -> list[str]:
    """The words of one part of a gap pattern: "(B|C)" -> [B, C], "A" -> [A]."""
    if part.startswith("(") and part.endswith(")"):
        return sorted(filter(None, part[1:-1].split("|")), key=len, reverse=True)
    return [part]


def _gap_pattern(term: str, gap: int) -> str:
    """ "A~(B|C)" -> A, then B or C within `gap` characters of the same sentence."""
    parts = ["(?:" + "|".join(map(re.escape, _options(part))) + ")" for part in term.split("~")]
    return f"[^{_SENTENCE_END}]{{0,{gap}}}?".join(parts)


class CategoryClassifier:
    """Crisis category of a text: the category whose lexicon terms weigh most.

    score(c) = sum of the weights of the distinct terms of c found in the text
    (a term right after a negator such as 没有 counts `negated_factor` of its
    weight; `weak` terms count only in a negative context). The category is
    the argmax (ties go to the more severe), or "other" below `min_score`;
    the confidence returned is 1 - exp(-score / 3).

    Parameters
    ----------
    lexicon
        A `Lexicon` (see `load_lexicon`); `CategoryClassifier.default()` loads the shipped one.

    Examples
    --------
    >>> clf = CategoryClassifier.default()
    >>> clf.classify("星汇又宕机了？？无法提现，交易失败！")
    ('outage', ('宕机', '无法提现', '交易失败'), 0.95)
    >>> clf.classify("手机充着电突然冒烟，这质量问题太严重")[:2]
    ('product_defect', ('冒烟', '质量问题'))
    >>> clf.classify("星汇官方：系统没有宕机，请放心")[0]  # negated: too weak to call
    'other'
    >>> clf.classify("今天天气不错")
    ('other', (), 0.0)
    """

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        self._build()

    @classmethod
    def default(cls, extra: Iterable[str | Path] = ()) -> CategoryClassifier:
        """The shipped lexicon plus `extra` lexicon files."""
        return cls(load_lexicon(extra))

    def _build(self) -> None:
        lex = self.lexicon
        # Excludes are literals with no terms: matched first when longer, they hide what they contain.
        self._words = {w: None for w in lex.excludes}
        self._words.update(lex.literals)
        lengths: dict[str, set[int]] = {}
        for word in self._words:
            lengths.setdefault(word[0], set()).add(len(word))
        # Only a word that starts or ends with a letter or digit can be cut (see `_bounded`).
        self._edged = {w for w in self._words if _ASCII_WORD.match(w[0]) or _ASCII_WORD.match(w[-1])}
        # A gap pattern is tried only where one of its first words starts ("anchors").
        self._patterns = [
            (re.compile(_gap_pattern(term, lex.gap)), entries)
            for term, entries in lex.patterns.items()
        ]
        self._anchors: dict[str, list[int]] = {}
        for index, term in enumerate(lex.patterns):
            for anchor in _options(term.split("~")[0]):
                self._anchors.setdefault(anchor, []).append(index)
        anchor_lengths: dict[str, set[int]] = {}
        for anchor in self._anchors:
            anchor_lengths.setdefault(anchor[0], set()).add(len(anchor))
        # Most characters start no term: one regex finds those that do, so the Python loop of
        # `_scan` runs only there, with both length lists (anchors shortest first, words
        # longest first) from a single lookup.
        firsts = sorted(lengths.keys() | anchor_lengths.keys())
        self._starts: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
            ch: (tuple(sorted(anchor_lengths.get(ch, ()))),
                 tuple(sorted(lengths.get(ch, ()), reverse=True)))
            for ch in firsts
        }
        self._start_re = re.compile("[" + "".join(map(re.escape, firsts)) + "]") if firsts else None
        context = sorted(lex.context, key=len, reverse=True)
        self._context_re = re.compile("|".join(map(_literal, context))) if context else None
        negators = sorted(lex.negators, key=len, reverse=True)
        self._negated_re = (
            re.compile("(?:" + "|".join(map(re.escape, negators)) + ")$") if negators else None
        )
        self._negator_span = max(map(len, [*negators, *lex.questions]), default=0)
        questions = sorted(lex.questions, key=len, reverse=True)
        self._question_re = (
            re.compile("(?:" + "|".join(map(re.escape, questions)) + ")$") if questions else None
        )

    def __getstate__(self) -> dict:
        return {"lexicon": self.lexicon}

    def __setstate__(self, state: dict) -> None:
        self.lexicon = state["lexicon"]
        self._build()

    def hits(self, text: str, tokens: Sequence[str] = ()) -> list[tuple[str, str, float]]:
        """Every (category, evidence, weight) found, in text order, before the context rule."""
        folded = _fold(text)
        found: list[tuple[int, str, str, float, bool]] = []  # (start, category, evidence, w, weak)
        covered: list[tuple[int, int, str]] = []
        for start, end, entries, is_pattern in self._scan(folded):
            factor = self._factor(folded, start)
            evidence = self._evidence(text, folded, start, end, factor)
            for t in entries:
                # A pattern adds nothing where a literal or pattern of its category already matched.
                if is_pattern and any(s < end and start < e and c == t.category
                                      for s, e, c in covered):
                    continue
                found.append((start, t.category, evidence, t.weight * factor, t.weak))
                covered.append((start, end, t.category))
        table = self.lexicon.tokens
        # Most texts have no whole-token term: set operations say so without a Python loop.
        if table and not (table.keys().isdisjoint(tokens)
                          and table.keys().isdisjoint(map(str.lower, tokens))):
            position = len(folded)
            for token in tokens:
                entries = table.get(token) or table.get(token.lower())
                for t in entries or ():
                    # 崩 of 崩了 is one piece of evidence, not two.
                    if not any(c == t.category and token in ev for _, c, ev, _, _ in found):
                        found.append((position, t.category, token, t.weight, t.weak))
        found.sort(key=lambda f: f[0])
        return [(c, ev, w) for _, c, ev, w, weak in found
                if not weak or self._weak_counts(c, folded, found)]

    def _scan(self, folded: str):
        """One pass: leftmost-longest literals, and gap patterns where their anchors start.

        Yields (start, end, lexicon entries, is_pattern), literals before patterns.
        """
        if self._start_re is None:
            return
        words, edged, starts, anchors = self._words, self._edged, self._starts, self._anchors
        patterns = []
        skip_to = 0
        for first in self._start_re.finditer(folded):
            i = first.start()
            anchor_sizes, word_sizes = starts[first.group()]
            for size in anchor_sizes:
                for index in anchors.get(folded[i:i + size], ()):
                    m = self._patterns[index][0].match(folded, i)
                    if m and _bounded(folded, i, m.end()):
                        patterns.append((i, m.end(), self._patterns[index][1], True))
            if i < skip_to:
                continue
            for size in word_sizes:
                word = folded[i:i + size]
                if word in words and (word not in edged or _bounded(folded, i, i + size)):
                    entries = words[word]
                    if entries:
                        yield i, i + size, entries, False
                    skip_to = i + size
                    break
        yield from patterns

    def _weak_counts(self, category: str, folded: str, found: list) -> bool:
        if any(c == category and not weak and w >= 1 for _, c, _, w, weak in found):
            return True
        return self._context_re is not None and self._context_re.search(folded) is not None

    def _factor(self, folded: str, start: int) -> float:
        if self._negated_re is None or start == 0:
            return 1.0
        before = folded[max(0, start - self._negator_span):start]
        if not self._negated_re.search(before):
            return 1.0
        if self._question_re is not None and self._question_re.search(before):
            return 1.0  # 是不是崩了 asks, it does not deny
        return self.lexicon.negated_factor

    def _evidence(self, text: str, folded: str, start: int, end: int, factor: float) -> str:
        if factor != 1.0:  # show the negator too: "没有宕机"
            found = self._negated_re.search(folded[max(0, start - self._negator_span):start])
            start -= len(found.group())
        # NFKC keeps the length of Chinese and ASCII text; fall back to the folded text if not.
        return text[start:end] if len(text) == len(folded) else folded[start:end]

    def scores(self, text: str, tokens: Sequence[str] = ()) -> tuple[dict[str, float], dict]:
        """Summed weight per category (distinct evidence counted once) and the evidence of each."""
        totals: dict[str, float] = {}
        evidence: dict[str, dict[str, None]] = {}
        for category, word, weight in self.hits(text, tokens):
            seen = evidence.setdefault(category, {})
            if word not in seen:
                seen[word] = None
                totals[category] = totals.get(category, 0.0) + weight
        return totals, {c: tuple(words) for c, words in evidence.items()}

    def classify(self, text: str, tokens: Sequence[str] = ()) -> tuple[str, tuple[str, ...], float]:
        """(category, evidence words in text order, confidence in [0, 1))."""
        totals, evidence = self.scores(text, tokens)
        if not totals:
            return OTHER, (), 0.0
        best = max(totals, key=lambda c: (totals[c], CATEGORY_SEVERITY[c]))
        if totals[best] < self.lexicon.min_score:
            return OTHER, (), 0.0
        return best, evidence[best], round(1.0 - math.exp(-totals[best] / 3.0), 2)
