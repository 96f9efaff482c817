"""Chinese word segmentation for mentions: jieba with our dictionaries, a cache, a fast engine.

Tokenization is the per-core bottleneck of the flow (jieba: about 2,200 Weibo
posts/s per core), so a `Tokenizer` keeps one dedicated, lazily initialised
segmenter, remembers the tokens of recent texts (reposts repeat the same
text), and can run on rjieba (jieba-rs) with the same dictionary and user
words where that package is installed. jieba stays the reference engine and
the default that always works; it runs as `FastJieba` (jieba_engine.py),
which gives jieba's words in about half of jieba's time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib import resources
from itertools import filterfalse
from pathlib import Path
from typing import IO

import numpy as np

from yuqing.errors import UserError

__all__ = ["ENGINES", "Tokenizer", "default_stopwords", "fast_engine_available"]

ENGINES = ("jieba", "rjieba", "auto")

# Weibo emoticons such as [哈哈] or [泪] stay one token: they carry sentiment.
_EMOTICON = re.compile(r"(\[[^\[\]\s]{1,8}\])")


def _data_path(name: str) -> Path:
    return Path(str(resources.files("yuqing") / "data" / name))


def _cache_dir() -> str:
    """Where jieba keeps its dictionary cache: $YUQING_CACHE_DIR, else the temp dir."""
    path = os.environ.get("YUQING_CACHE_DIR") or tempfile.gettempdir()
    os.makedirs(path, exist_ok=True)
    return path


def fast_engine_available() -> bool:
    """True when rjieba (jieba-rs bindings) can be imported."""
    try:
        import rjieba  # noqa: F401
    except ImportError:
        return False
    return True


_RJIEBA_SEGMENTERS: dict[tuple, object] = {}  # user words -> the process's rjieba segmenter
_RJIEBA_LOCK = threading.Lock()


def _rjieba_with(words: tuple[tuple[str, int | None, str | None], ...]):
    """The process's rjieba segmenter with these user words, made once.

    Each segmenter loads jieba's whole dictionary (~0.1 s of CPU, ~25 MB), and
    importing rjieba has loaded one already, for its module functions. So the
    first word list takes that one (nothing else in the process cuts with
    rjieba), tokenizers with the same words share theirs (cutting only reads
    it), and only another word list loads a dictionary again.
    """
    with _RJIEBA_LOCK:
        seg = _RJIEBA_SEGMENTERS.get(words)
        if seg is None:
            import rjieba

            default = getattr(rjieba, "_DEFAULT_JIEBA", None)
            taken = any(s is default for s in _RJIEBA_SEGMENTERS.values())
            seg = default if default is not None and not taken else rjieba.Jieba()
            for word, freq, tag in words:
                seg.add_word(word, freq, tag)
            _RJIEBA_SEGMENTERS[words] = seg
        return seg


def read_user_dict(path: str | os.PathLike[str]) -> list[tuple[str, int | None, str | None]]:
    """Parse a jieba user dictionary: one `word [freq] [tag]` a line, `#` comments.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "d.txt")
    >>> _ = open(p, "w", encoding="utf-8").write("# brands\\n云闪付 800 nz\\n秒到账\\n")
    >>> read_user_dict(p)
    [('云闪付', 800, 'nz'), ('秒到账', None, None)]
    """
    entries: list[tuple[str, int | None, str | None]] = []
    try:
        with open(path, encoding="utf-8-sig") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        raise UserError(f"user dictionary {path} not found: pass an existing file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(
            f"cannot read user dictionary {path} ({err}): use a UTF-8 text file"
        ) from None
    for lineno, line in enumerate(lines, 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) > 3 or (len(parts) >= 2 and not parts[1].isdigit() and len(parts) == 3):
            raise UserError(
                f"{path}:{lineno}: expected 'word [freq] [tag]', got {line.strip()!r}: "
                "fix the line (words have no spaces, freq is a whole number)"
            )
        word, freq, tag = parts[0], None, None
        if len(parts) >= 2:
            if parts[1].isdigit():
                freq = int(parts[1])
                tag = parts[2] if len(parts) == 3 else None
            else:
                tag = parts[1]
        entries.append((word, freq, tag))
    return entries


def load_jieba_dictionary(seg) -> None:
    """Initialise a default jieba `Tokenizer` from our cache of its prefix dictionary.

    jieba caches (FREQ, total) as a marshal file, which takes 0.40 s to load
    here, a good part of a short run's start. The same dictionary as a word
    list and an array of counts loads in 0.12 s, and neither file can hold
    code. Without a usable cache, jieba builds the dictionary its own way and
    the cache is written for the next start. A custom jieba dictionary is left
    to jieba.
    """
    import jieba

    if seg.dictionary != jieba.DEFAULT_DICT:
        seg.initialize()
        return
    source = Path(jieba.__file__).with_name(jieba.DEFAULT_DICT_NAME)
    stat = source.stat()
    key = f"{jieba.__version__}:{stat.st_size}:{stat.st_mtime_ns}".encode()
    base = Path(seg.tmp_dir or _cache_dir()) / f"yuqing-jieba-{hashlib.sha1(key).hexdigest()[:12]}"
    words_file, counts_file = base.with_suffix(".words"), base.with_suffix(".counts.npy")
    try:
        words = words_file.read_text(encoding="utf-8").split("\n")
        counts = np.load(counts_file, allow_pickle=False)
        if counts.ndim == 1 and counts.size == len(words) + 1:  # the last count is the total
            seg.FREQ = dict(zip(words, counts[:-1].tolist(), strict=True))
            seg.total = int(counts[-1])
            seg.initialized = True
            return
    except (OSError, ValueError):
        pass  # no cache yet, or a broken one: build it below
    seg.initialize()
    counts = np.fromiter([*seg.FREQ.values(), seg.total], dtype=np.int64, count=len(seg.FREQ) + 1)
    words = "\n".join(seg.FREQ).encode("utf-8")
    try:
        _write_atomically(words_file, lambda out: out.write(words))
        _write_atomically(counts_file, lambda out: np.save(out, counts, allow_pickle=False))
    except OSError as err:  # a read-only cache folder: every start builds the dictionary
        logging.getLogger(__name__).debug("jieba dictionary cache not written: %s", err)


def _write_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write a file through a temporary one beside it: readers see the old file or the whole new one."""
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
        try:
            write(tmp)
        except BaseException:
            tmp.close()
            os.unlink(tmp.name)
            raise
    os.replace(tmp.name, path)


def default_stopwords() -> frozenset[str]:
    """The shipped stopwords (function words, particles, punctuation)."""
    text = _data_path("stopwords.txt").read_text(encoding="utf-8")
    return frozenset(w for w in text.split() if w and not w.startswith("#"))


class Tokenizer:
    """Segment text into words with jieba (or rjieba), our dictionaries and a cache.

    Parameters
    ----------
    engine
        "jieba" (reference words, default; cut by `FastJieba`), "rjieba" (jieba-rs: same dictionary and
        user words; about 14x faster, 97.5 % of Weibo posts segmented identically) or "auto"
        (rjieba when installed, else jieba).
    user_dicts
        Extra jieba user dictionary files, loaded after the shipped one.
    cache_size
        How many distinct texts to remember (least recently used go first);
        0 turns the cache off.

    `tokenize` keeps every token except whitespace (negations and degree words
    matter to sentiment); `keywords` drops stopwords and punctuation. The
    segmenter is built on first use (or by `load`) and dropped when pickled,
    so the object can live in Bytewax state.

    Examples
    --------
    >>> tok = Tokenizer()
    >>> tok.tokenize("平台暴力催收，还无法提现[怒]")
    ['平台', '暴力催收', '，', '还', '无法提现', '[怒]']
    >>> tok.keywords("平台暴力催收，还无法提现[怒]")
    ['平台', '暴力催收', '无法提现']
    """

    def __init__(
        self,
        engine: str = "jieba",
        user_dicts: Sequence[str | os.PathLike[str]] = (),
        cache_size: int = 65536,
    ) -> None:
        if engine not in ENGINES:
            raise UserError(f"unknown tokenizer engine {engine!r}: use one of {', '.join(ENGINES)}")
        if engine == "rjieba" and not fast_engine_available():
            raise UserError(
                "engine 'rjieba' needs the rjieba package: pip install 'yuqing-radar[fast]'"
            )
        self.engine = engine
        self.user_dicts = tuple(str(p) for p in user_dicts)
        self.cache_size = cache_size
        # Read the dictionaries now so that a bad file fails at start-up, not mid-stream.
        self._words = read_user_dict(_data_path("userdict.txt"))
        for path in self.user_dicts:
            self._words.extend(read_user_dict(path))
        self.stopwords = default_stopwords()
        self._reset()

    @property
    def active_engine(self) -> str:
        """The engine actually used: "auto" resolves to rjieba when it is installed."""
        if self.engine == "auto":
            return "rjieba" if fast_engine_available() else "jieba"
        return self.engine

    def _reset(self) -> None:
        self._cut = None
        self._cache: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._content_cache: dict[str, bool] = {}
        self.hits = 0
        self.misses = 0

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_cut"] = None
        state["_cache"] = OrderedDict()
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def load(self) -> Tokenizer:
        """Build the segmenter now rather than at the first text: a flow calls this before it
        reads, so that loading the dictionary (~0.2 s) does not hold up the first mentions."""
        if self._cut is None:
            self._cut = self._build()
        return self

    def _build(self):
        if self.active_engine == "rjieba":
            seg = _rjieba_with(tuple(self._words))
            return lambda text: seg.cut(text, True)

        import jieba

        logging.getLogger("jieba").setLevel(logging.WARNING)
        jieba.setLogLevel(logging.WARNING)
        from yuqing.text.jieba_engine import FastJieba

        seg = FastJieba()  # jieba's words, in about half of jieba's time
        seg.tmp_dir = _cache_dir()
        load_jieba_dictionary(seg)
        for word, freq, tag in self._words:
            seg.add_word(word, freq, tag)
        return seg.cut_text

    def _segment(self, text: str) -> tuple[str, ...]:
        cut = self._cut
        if cut is None:
            cut = self.load()._cut
        out: list[str] = []
        for i, part in enumerate(_EMOTICON.split(text)):
            if i % 2:
                out.append(part)
            elif part:
                out.extend(filterfalse(str.isspace, cut(part)))
        return tuple(out)

    def tokenize(self, text: str) -> list[str]:
        """Words of `text` in order, whitespace dropped, emoticons like [泪] kept whole."""
        if self.cache_size <= 0:
            return list(self._segment(text))
        cache = self._cache
        tokens = cache.get(text)
        if tokens is not None:
            self.hits += 1
            cache.move_to_end(text)
            return list(tokens)
        self.misses += 1
        tokens = self._segment(text)
        cache[text] = tokens
        if len(cache) > self.cache_size:
            cache.popitem(last=False)
        return list(tokens)

    def keywords(self, text: str) -> list[str]:
        """Tokens without stopwords, punctuation and emoticons: for keyword counts and matching."""
        return self.content(self.tokenize(text))

    def content(self, tokens: Iterable[str]) -> list[str]:
        """The content words among already computed tokens (no second segmentation)."""
        return list(self._content_words(tokens))

    def distinct_content(self, tokens: Iterable[str], limit: int) -> list[str]:
        """The first `limit` distinct content words, in order: `content` that stops when it has them."""
        out: dict[str, None] = {}
        for token in self._content_words(tokens):
            out[token] = None
            if len(out) >= limit:
                break
        return list(out)

    def has_content(self, tokens: Iterable[str]) -> bool:
        """Whether any of the tokens is a content word: `content` that stops at the first."""
        return next(self._content_words(tokens), None) is not None

    def _content_words(self, tokens: Iterable[str]) -> Iterator[str]:
        """The content words among tokens, one at a time; each distinct token is judged once."""
        known = self._content_cache
        for token in tokens:
            keep = known.get(token)
            if keep is None:
                keep = known[token] = _is_content(token, self.stopwords)
                if len(known) > 200_000:
                    known.clear()
            if keep:
                yield token

    def tokenize_many(self, texts: Iterable[str]) -> list[list[str]]:
        """`tokenize` for each text."""
        return [self.tokenize(t) for t in texts]


def _is_content(token: str, stopwords: frozenset[str]) -> bool:
    if token in stopwords or token.startswith("["):
        return False
    return any(ch.isalnum() for ch in token)
