"""Tokenizer: shipped dictionaries, user dictionaries, cache, pickling, engines."""

from __future__ import annotations

import doctest
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import yuqing.text.tokenizer
from yuqing.errors import UserError
from yuqing.text.tokenizer import Tokenizer, fast_engine_available, read_user_dict

needs_rjieba = pytest.mark.skipif(not fast_engine_available(), reason="rjieba not installed")


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer()


def test_doctests_pass():
    assert doctest.testmod(yuqing.text.tokenizer).failed == 0


def test_risk_words_of_the_brief_stay_whole(tok):
    tokens = tok.tokenize("这家平台跑路了，暴力催收还无法提现，又说数据泄露，客服电话宕机")
    for word in ("跑路", "暴力催收", "无法提现", "数据泄露", "宕机"):
        assert word in tokens


def test_weibo_emoticons_stay_one_token(tok):
    assert tok.tokenize("好开心[哈哈][爱你]") == ["好开心", "[哈哈]", "[爱你]"]


def test_whitespace_is_dropped_and_keywords_drop_stopwords(tok):
    assert " " not in tok.tokenize("我 的 手机")
    assert tok.keywords("我的手机电池鼓包了！") == ["手机", "电池鼓包"]


def test_a_user_dictionary_file_adds_its_words(tmp_path):
    text = "我用云闪付极速版付款"
    assert "云闪付极速版" not in Tokenizer().tokenize(text)
    path = tmp_path / "mine.txt"
    path.write_text("# our product\n云闪付极速版 1000 nz\n", encoding="utf-8")
    assert "云闪付极速版" in Tokenizer(user_dicts=[path]).tokenize(text)


def test_a_repeated_text_is_served_from_the_cache():
    tok = Tokenizer(cache_size=2)
    first = tok.tokenize("转发微博：银行系统宕机")
    first.append("changed by caller")
    assert tok.tokenize("转发微博：银行系统宕机") == first[:-1]
    assert (tok.hits, tok.misses) == (1, 1)


def test_the_cache_forgets_the_least_recently_used_text():
    tok = Tokenizer(cache_size=2)
    for text in ("一", "二", "一", "三"):
        tok.tokenize(text)
    assert list(tok._cache) == ["一", "三"]


def test_a_pickled_tokenizer_tokenizes_the_same_after_loading(tok):
    text = "支付宝交易失败[怒]"
    before = tok.tokenize(text)
    clone = pickle.loads(pickle.dumps(tok))
    assert clone._cut is None and not clone._cache
    assert clone.tokenize(text) == before


@pytest.mark.parametrize("engine", ["jieba", "rjieba"])
def test_load_builds_the_segmenter_before_the_first_text(engine):
    if engine == "rjieba" and not fast_engine_available():
        pytest.skip("rjieba is not installed")
    tok = Tokenizer(engine=engine)
    assert tok._cut is None  # nothing loaded by the constructor
    assert tok.load() is tok
    cut = tok._cut
    assert cut is not None
    assert tok.tokenize("银行系统宕机了") == Tokenizer(engine=engine).tokenize("银行系统宕机了")
    assert tok.load()._cut is cut  # loaded once


def test_a_missing_user_dictionary_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        Tokenizer(user_dicts=[tmp_path / "nope.txt"])


def test_a_malformed_user_dictionary_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("好词 10 n\n两 个 词 多\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"bad.txt:2"):
        read_user_dict(path)


def test_an_unknown_engine_is_a_user_error():
    with pytest.raises(UserError, match="jieba, rjieba, auto"):
        Tokenizer(engine="thulac")


@needs_rjieba
def test_rjieba_knows_the_shipped_and_user_words(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("云闪付极速版\n", encoding="utf-8")
    fast = Tokenizer(engine="rjieba", user_dicts=[path])
    tokens = fast.tokenize("云闪付极速版暴力催收，无法提现[泪]")
    assert tokens == ["云闪付极速版", "暴力催收", "，", "无法提现", "[泪]"]
    assert Tokenizer(engine="auto").active_engine == "rjieba"


@needs_rjieba
def test_rjieba_tokenizers_share_a_segmenter_only_with_the_same_words(tmp_path):
    import pickle

    import rjieba

    path = tmp_path / "mine.txt"
    path.write_text("极速提现宝\n", encoding="utf-8")
    text = "星汇的极速提现宝又崩了"
    plain, mine = Tokenizer(engine="rjieba"), Tokenizer(engine="rjieba", user_dicts=[path])
    assert "极速提现宝" in mine.tokenize(text)
    assert "极速提现宝" not in plain.tokenize(text)  # the other word list's word stays there
    again = pickle.loads(pickle.dumps(plain))  # as a worker gets it
    assert again.tokenize(text) == plain.tokenize(text)
    assert again._cut is not plain._cut and (again._cut.__closure__[0].cell_contents
                                             is plain._cut.__closure__[0].cell_contents)
    reference = rjieba.Jieba()
    for word, freq, tag in mine._words:
        reference.add_word(word, freq, tag)
    assert mine.tokenize(text) == [t for t in reference.cut(text, True) if not t.isspace()]


_word = st.text(
    alphabet=st.characters(whitelist_categories=("Lo", "Lu", "Ll", "Nd")), min_size=1, max_size=6
).filter(lambda w: not w.isdigit())
_tag = st.sampled_from([None, "n", "nz", "v"])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(_word, st.one_of(st.none(), st.integers(1, 10**6)), _tag), max_size=8))
def test_user_dictionary_lines_parse_back_to_their_entries(tmp_path_factory, entries):
    path = tmp_path_factory.mktemp("dict") / "d.txt"
    lines = ["# comment", ""]
    for word, freq, tag in entries:
        lines.append(" ".join(str(p) for p in (word, freq, tag) if p is not None))
    path.write_text("\n".join(lines), encoding="utf-8")
    assert read_user_dict(path) == entries


_text = st.text(
    alphabet=st.sampled_from(list("我们的手机电池鼓包了支付宝跑路不好很差abc 123[]哈泪，。！")),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(_text)
def test_tokens_keep_every_character_but_whitespace(tok, text):
    tokens = tok.tokenize(text)
    assert "".join(tokens) == "".join(text.split())
    assert all(t and not t.isspace() for t in tokens)


@given(st.lists(st.sampled_from(["星汇", "的", "宕机", "，", "[怒]", "了", "提现", "123", "ok", " "]),
                max_size=40), st.integers(min_value=1, max_value=8))
def test_distinct_content_is_the_first_distinct_content_words(tokens, limit):
    tok = Tokenizer()
    assert tok.distinct_content(tokens, limit) == list(dict.fromkeys(tok.content(tokens)))[:limit]
    assert tok.has_content(tokens) == bool(tok.content(tokens))


def test_jieba_s_dictionary_loads_from_our_cache_as_jieba_builds_it(tmp_path):
    import jieba

    from yuqing.text.tokenizer import load_jieba_dictionary

    reference = jieba.Tokenizer()
    reference.tmp_dir = str(tmp_path / "jieba")
    (tmp_path / "jieba").mkdir()
    reference.initialize()
    for attempt in ("builds and writes the cache", "reads the cache"):
        seg = jieba.Tokenizer()
        seg.tmp_dir = str(tmp_path)
        load_jieba_dictionary(seg)
        assert seg.initialized and seg.total == reference.total, attempt
        assert seg.FREQ == reference.FREQ, attempt
    assert len(list(tmp_path.glob("yuqing-jieba-*"))) == 2
    for broken in tmp_path.glob("yuqing-jieba-*.counts.npy"):
        broken.write_bytes(b"not an array")
    seg = jieba.Tokenizer()
    seg.tmp_dir = str(tmp_path)
    load_jieba_dictionary(seg)  # a broken cache: built again, and written again
    assert seg.FREQ == reference.FREQ and seg.lcut("星汇又宕机了") == reference.lcut("星汇又宕机了")
