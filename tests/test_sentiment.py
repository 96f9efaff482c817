"""Sentiment model, features and the `yuqing sentiment` command, on small synthetic data."""

from __future__ import annotations

import contextlib
import doctest
import itertools
import json
import math
import pickle
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import yuqing.commands.sentiment
import yuqing.text.features
import yuqing.text.sentiment
from yuqing.cli import main
from yuqing.commands.sentiment import auc, parse_labelled_tsv
from yuqing.errors import UserError
from yuqing.text.features import Featurizer
from yuqing.text.sentiment import SentimentModel, parse_label
from yuqing.text.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def shipped() -> SentimentModel:
    return SentimentModel.load_default()


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer()


@pytest.mark.parametrize("module", [yuqing.text.sentiment, yuqing.text.features, yuqing.commands.sentiment])
def test_doctests_pass(module):
    assert doctest.testmod(module).failed == 0


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("质量很好，非常满意，还会再买", "positive"),
        ("今天好开心[哈哈][爱你]", "positive"),
        ("太差了，客服态度恶劣，再也不买了", "negative"),
        ("平台跑路，无法提现[泪][怒]", "negative"),
    ],
)
def test_the_shipped_model_gets_obvious_cases_right(shipped, tok, text, label):
    assert shipped.predict_one(tok.tokenize(text)) == label


def test_a_negation_turns_a_positive_word_down(shipped):
    assert shipped.score(["服务", "不", "满意"]) < shipped.score(["服务", "满意"])


def test_score_accepts_text_and_stays_within_bounds(shipped):
    for text in ["好", "差", "", "[哈哈]" * 50, "[怒]" * 50]:
        assert -1.0 <= shipped.score(text) <= 1.0


def test_label_uses_the_neutral_band():
    model = SentimentModel(neutral_band=0.2)
    assert [model.label(s) for s in (-0.5, -0.2, -0.1, 0.0, 0.19, 0.2, 1.0)] == [
        "negative",
        "negative",
        "neutral",
        "neutral",
        "neutral",
        "positive",
        "positive",
    ]


def test_analyst_feedback_moves_the_score_towards_the_label(shipped):
    model = pickle.loads(pickle.dumps(shipped))
    tokens = ["这", "新", "功能", "真", "绝", "了"]
    before = model.score(tokens)
    for _ in range(5):
        model.learn(tokens, "negative")
    assert model.score(tokens) < before - 0.2
    assert model.n_feedback == 5 and model.feedback_counts == [6, 1]


def test_what_the_model_learned_survives_a_pickle_snapshot(shipped):
    model = pickle.loads(pickle.dumps(shipped))
    model.score("先打分一次")  # builds a tokenizer, which the snapshot drops
    model.learn(["奇怪", "新词"], 1)
    clone = pickle.loads(pickle.dumps(model))
    assert clone.tokenizer is None
    assert clone.score(["奇怪", "新词"]) == model.score(["奇怪", "新词"])
    assert clone.n_feedback == 1


def test_the_weight_array_scores_as_river_does_before_and_after_learning(shipped, tok):
    model = pickle.loads(pickle.dumps(shipped))
    texts = ["服务很好，点赞[赞]", "不是很好用，太差了[怒]", "星汇又宕机了，无法提现！", "转发微博"]
    token_lists = [tok.tokenize(t) for t in texts] + [["好", "好", "好"], []]

    def river_score(tokens):
        return math.tanh(model.clf._raw_dot_one(model.featurizer(tokens)) / 2.0)

    for tokens in token_lists:
        assert model.score(tokens) == pytest.approx(river_score(tokens), abs=1e-12)
    for tokens, label in zip(token_lists[:3], (0, 1, 0), strict=True):  # against their sign
        model.learn(tokens, label)
    for tokens in token_lists:
        assert model.score(tokens) == pytest.approx(river_score(tokens), abs=1e-12)
    assert model.score(token_lists[1]) > shipped.score(token_lists[1])


def test_scoring_does_not_import_river():
    """River (and the scipy it pulls in) costs ~1 s and ~100 MB at start-up: only learning pays."""
    code = ("import sys; from yuqing.text.sentiment import SentimentModel; "
            "m = SentimentModel.load_default(); m.score(['好']); "
            "print(sorted(n for n in ('river', 'scipy') if n in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_save_and_load_keep_the_scores(shipped, tmp_path):
    path = tmp_path / "m.zip"
    shipped.save(path)
    loaded = SentimentModel.load(path)
    for tokens in (["好", "[哈哈]"], ["差", "不", "喜欢"]):
        assert loaded.score(tokens) == pytest.approx(shipped.score(tokens), abs=1e-5)


def test_the_shipped_model_file_is_small():
    from importlib import resources

    size = (resources.files("yuqing") / "data" / "sentiment_model.zip").read_bytes()
    assert len(size) < 10_000_000


@pytest.mark.parametrize(
    ("raw", "value"), [(1, 1), (0, 0), (-1, 0), ("positive", 1), ("NEG", 0), (True, 1)]
)
def test_labels_come_in_several_spellings(raw, value):
    assert parse_label(raw) == value


@pytest.mark.parametrize("raw", [2, "maybe", ""])
def test_an_unknown_label_is_refused(raw):
    with pytest.raises(ValueError):
        parse_label(raw)


def test_features_flip_lexicon_hits_in_a_negation_scope_only_up_to_punctuation():
    f = Featurizer()
    assert "lex-" in f(["不", "喜欢"]) and "lex+" not in f(["不", "喜欢"])
    assert "lex+" in f(["不", "，", "喜欢"])


# ---- the command -------------------------------------------------------------------

TINY = (
    "label\ttext\n1\t非常好，很满意[哈哈]\n1\t好吃，推荐\n0\t太差了，失望[怒]\n0\t退款难，不推荐\n"
)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_eval_prints_the_metrics_as_json_on_its_last_line(tmp_path, capsys):
    data = tmp_path / "d.tsv"
    data.write_text(TINY, encoding="utf-8")
    code, out, _ = run(capsys, "sentiment", "eval", "--data", str(data))
    assert code == 0
    result = json.loads(out.strip().splitlines()[-1])
    for key in (
        "accuracy",
        "balanced_accuracy",
        "macro_f1",
        "auc",
        "negative_recall",
        "docs_per_s",
    ):
        assert key in result
    assert result["accuracy"] == 1.0 and result["feedback_n"] == 0


def test_eval_learns_the_first_n_feedback_examples_and_compares_snownlp(tmp_path, capsys):
    pytest.importorskip("snownlp")
    data = tmp_path / "d.tsv"
    data.write_text(TINY, encoding="utf-8")
    code, out, _ = run(
        capsys,
        "sentiment",
        "eval",
        "--data",
        str(data),
        "--feedback",
        str(data),
        "--feedback-n",
        "3",
        "--compare",
        "snownlp",
    )
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and result["feedback_n"] == 3
    assert set(result["snownlp"]) >= {"accuracy", "balanced_accuracy", "auc", "docs_per_s"}


def test_eval_of_a_file_without_the_header_is_a_user_error(tmp_path, capsys):
    data = tmp_path / "d.tsv"
    data.write_text("1\t好\n", encoding="utf-8")
    code, _, err = run(capsys, "sentiment", "eval", "--data", str(data))
    assert code == 2 and "header" in err and len(err.strip().splitlines()) == 1


def test_eval_of_a_missing_file_is_a_user_error(tmp_path, capsys):
    code, _, err = run(capsys, "sentiment", "eval", "--data", str(tmp_path / "none.tsv"))
    assert code == 2 and "no such file" in err


def test_train_writes_the_same_model_twice_from_the_same_corpus(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "pos.txt").write_text("很好\n满意\n推荐购买\n", encoding="utf-8")
    (corpus / "neg.txt").write_text("很差\n失望\n不推荐\n", encoding="utf-8")
    outs = []
    for name in ("a.zip", "b.zip"):
        out = tmp_path / name
        code, _, _ = run(
            capsys, "sentiment", "train", "--corpus-dir", str(corpus), "--out", str(out)
        )
        assert code == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    model = SentimentModel.load(tmp_path / "a.zip")
    assert model.score(["满意"]) > 0 > model.score(["失望"])


_row_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=20
).filter(lambda t: t != "")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0, 1]), _row_text), max_size=10))
def test_tsv_rows_parse_back_to_label_and_text(rows):
    text = "label\ttext\n" + "".join(f"{y}\t{t}\n" for y, t in rows)
    assert parse_labelled_tsv(text) == rows


@given(st.text(max_size=30))
def test_tsv_parser_either_parses_or_raises_a_user_error(text):
    with contextlib.suppress(UserError):
        parse_labelled_tsv(text)


@given(st.lists(st.tuples(st.sampled_from([0, 1]), st.integers(-3, 3)), min_size=2, max_size=12))
def test_auc_matches_counting_pairs(rows):
    labels = [y for y, _ in rows]
    scores = [float(s) for _, s in rows]
    pos = [s for y, s in rows if y == 1]
    neg = [s for y, s in rows if y == 0]
    if not pos or not neg:
        return
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    assert auc(labels, scores) == pytest.approx(wins / (len(pos) * len(neg)))


def test_a_format_1_model_file_still_loads(shipped, tmp_path):
    """Weights as hex-key text, as files written before format 2."""
    import zipfile

    path = tmp_path / "v1.zip"
    meta = {"format": "yuqing-sentiment/1", "params": {"n_bits": shipped.n_bits},
            "intercept": 0.25, "n_learned": 3, "named": {}}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("meta.json", json.dumps(meta))
        zf.writestr("weights.txt", "1f 0.5\na0 -1.25")
    model = SentimentModel.load(path)
    assert model._hashed[0x1F] == 0.5 and model._hashed[0xA0] == -1.25
    assert np.count_nonzero(model._hashed) == 2 and model._intercept == 0.25
