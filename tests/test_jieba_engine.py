"""FastJieba gives jieba's own words: checked against jieba.Tokenizer on the same dictionary."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import jieba
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jieba import finalseg

from yuqing.evaluation.demo import DemoConfig, DemoGenerator
from yuqing.text.jieba_engine import FastJieba, hmm_cut
from yuqing.text.tokenizer import _data_path, load_jieba_dictionary, read_user_dict

SHARED = Path(__file__).parents[2] / "shared/data"

# Common characters, characters the dictionary lacks (names, slang), Latin, digits,
# punctuation, spaces and line breaks, an emoji: what posts mix.
_CHARS = ("的一是不了人我在有他这中大来上国个到说们为和你地出道也时年得就那要下以生会自着去之过家学对可"
          "她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同"
          "宕机提现退款催收泄露星汇闪付哈呵嗯啊呀啦哦喔吧嘛呗咯囧槑兲巭嫑烎靐鱻砉朤")


def _each_emission_pattern(per_pattern: int = 5) -> str:
    """A few Han characters of each pattern of HMM states they have an emission in.

    A character missing from some states sinks to jieba's floor probability
    there; sums at the floor are equal, and then the tie rules decide.
    """
    emit, found = finalseg.emit_P, {}
    for code in range(0x4E00, 0x9FD6):
        ch = chr(code)
        found.setdefault(tuple(ch in emit[s] for s in "BMES"), []).append(ch)
    return "".join(ch for chars in found.values() for ch in chars[:per_pattern])


_RARE = _each_emission_pattern()
_OTHER = ["a", "B", "x", "1", "9", ".", "%", "+", "#", "-", "_", "&", " ", "\t", "\r\n", "\n",
          "，", "。", "！", "?", "“", "😀", "[", "]", "@", "/"]


def _pair(tmp_path_factory) -> tuple[jieba.Tokenizer, FastJieba]:
    """jieba and FastJieba with jieba's dictionary and our user words."""
    cache = str(tmp_path_factory.mktemp("jieba"))
    pair = (jieba.Tokenizer(), FastJieba())
    for seg in pair:
        seg.tmp_dir = cache
        load_jieba_dictionary(seg)
        for word, freq, tag in read_user_dict(_data_path("userdict.txt")):
            seg.add_word(word, freq, tag)
    return pair


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return _pair(tmp_path_factory)


def _same(pair, text: str) -> None:
    reference, fast = pair
    expected = reference.lcut(text)
    assert fast.cut_text(text) == expected, text
    assert fast.lcut(text) == expected, text  # through jieba's own `cut`


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(list(_CHARS + _RARE) + _OTHER), max_size=40).map("".join))
def test_words_are_jiebas_on_mixed_text(pair, text):
    _same(pair, text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_CHARS + _RARE, min_size=1, max_size=16))
def test_the_hmm_gives_jiebas_words_for_unknown_characters(text):
    assert hmm_cut(text) == list(finalseg.cut(text))


def test_words_are_jiebas_on_the_demo_stream(pair):
    lines = itertools.islice(DemoGenerator(DemoConfig(hours=2, base_per_minute=20, seed=3)), 3000)
    texts = set()
    for line in lines:
        try:
            texts.add(json.loads(line)["text"])
        except (ValueError, KeyError, TypeError):
            continue  # the demo's malformed lines
    assert len(texts) > 500
    for text in sorted(texts):
        _same(pair, text)


def test_added_deleted_and_tuned_words_change_both_alike(tmp_path_factory):
    reference, fast = _pair(tmp_path_factory)
    text = "星汇又宕机了，客服说系统升级，无法提现的用户请耐心等待"
    _same((reference, fast), text)
    for seg in (reference, fast):
        seg.add_word("宕机了", 10_000)  # a new word: remembered log-probabilities are stale
    assert "宕机了" in fast.cut_text(text)
    _same((reference, fast), text)
    for seg in (reference, fast):
        seg.del_word("客服")  # count 0: a forced split for the HMM too
    _same((reference, fast), text)
    for seg in (reference, fast):
        seg.suggest_freq(("无法", "提现"), tune=True)
    assert fast.cut_text(text) == reference.lcut(text) and "提现" in fast.cut_text(text)


def test_a_dictionary_loaded_later_is_used(tmp_path_factory):
    reference, _ = _pair(tmp_path_factory)
    fast = FastJieba()
    fast.tmp_dir = str(tmp_path_factory.mktemp("late"))
    assert fast.cut_text("我的手机电池鼓包了") == jieba.Tokenizer().lcut("我的手机电池鼓包了")
    load_jieba_dictionary(fast)  # a new FREQ: what was remembered of the old one goes
    for word, freq, tag in read_user_dict(_data_path("userdict.txt")):
        fast.add_word(word, freq, tag)
    _same((reference, fast), "平台暴力催收，还无法提现")


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "sentiment").is_dir(), reason="../shared/data/sentiment absent")
def test_words_are_jiebas_on_real_posts(pair):
    """Every post of the shared Weibo sets (22k real texts, read here, never shipped)."""
    for name in ("weibo2018_train.tsv", "weibo2018_test.tsv"):
        lines = (SHARED / "sentiment" / name).read_text(encoding="utf-8").splitlines()[1:]
        for line in lines:
            _same(pair, line.split("\t", 1)[-1])
