"""Crisis categories from the risk lexicon, with the evidence kept for explanations."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yuqing.errors import UserError
from yuqing.evaluation.demo import BACKGROUND, BRANDS, CRISIS_TEXTS
from yuqing.text.categories import (
    CATEGORIES,
    CATEGORY_NAMES,
    CATEGORY_SEVERITY,
    CategoryClassifier,
    load_lexicon,
)


@pytest.fixture(scope="module")
def clf() -> CategoryClassifier:
    return CategoryClassifier.default()


def _fill(template: str) -> list[str]:
    return [template.format(alias=alias, product=product)
            for info in BRANDS.values() for alias in info["aliases"] for product in info["products"]]


def test_every_category_has_a_chinese_name_and_a_severity_between_0_and_1():
    assert set(CATEGORY_NAMES) == set(CATEGORY_SEVERITY) == set(CATEGORIES)
    assert set(CATEGORIES) == {"data_breach", "outage", "regulatory", "complaint_fees",
                               "complaint_collection", "rumor_solvency", "product_defect",
                               "media_exposure", "other"}
    assert all(0.0 <= v <= 1.0 for v in CATEGORY_SEVERITY.values())
    assert CATEGORY_NAMES["outage"] == "系统故障/交易失败"


def test_shipped_lexicon_covers_every_crisis_category():
    lexicon = load_lexicon()
    used = {t.category for entries in lexicon.literals.values() for t in entries}
    assert used == set(CATEGORIES) - {"other"}


@pytest.mark.parametrize("category", sorted(CRISIS_TEXTS))
def test_demo_crisis_posts_and_their_reposts_get_their_category(clf, category):
    for template in CRISIS_TEXTS[category]:
        for text in _fill(template):
            assert clf.classify(text)[0] == category, text
            assert clf.classify("转发微博 //" + text)[0] == category, text


def test_demo_everyday_posts_are_other(clf):
    for templates in BACKGROUND.values():
        for template in templates:
            for text in _fill(template):
                assert clf.classify(text) == ("other", (), 0.0), text


@pytest.mark.parametrize(("text", "category"), [
    ("星汇支付被央行罚款500万元", "regulatory"),
    ("工信部通报：锐芯等15款App违规收集个人信息，责令整改", "regulatory"),
    ("云栈云华东区服务中断三小时，客户数据丢失", "outage"),
    ("安达消金App闪退，还款失败，产生了罚息谁负责", "outage"),
    ("星汇提现一直显示处理中，钱到现在都没到账，客服也不回", "outage"),
    ("安达的催收天天打电话给我爸妈，还说要上门", "complaint_collection"),
    ("锐芯手机充电的时候电池鼓起来了，后盖都顶开了", "product_defect"),
    ("网传星汇爆雷，官方已辟谣", "rumor_solvency"),
    ("央视315晚会曝光安达消费金融的黑幕", "media_exposure"),
    ("StackCloud outage in us-east, service unavailable for 2 hours", "outage"),
])
def test_real_world_posts_get_the_expected_category(clf, text, category):
    assert clf.classify(text)[0] == category


@pytest.mark.parametrize("text", [
    "心态崩了，今天股票又跌了",
    "信息爆炸的时代，大家都很焦虑",
    "跑路线很长但是风景不错",
    "星汇的新广告拍得很好看，曝光率很高",
    "我的电话是13151234567",
    "锐芯的快充充电器真好用，半小时充满",
])
def test_phrases_that_only_contain_a_risk_word_are_other(clf, text):
    assert clf.classify(text)[0] == "other"


def test_a_negated_term_is_too_weak_but_a_question_is_not_a_negation(clf):
    assert clf.classify("云栈科技回应：并未发生数据泄露，网传截图系伪造")[0] == "other"
    assert clf.classify("星汇官方：系统没有宕机")[0] == "other"
    category, evidence, _ = clf.classify("星汇是不是崩了，提现提示系统繁忙")
    assert category == "outage"
    assert evidence == ("崩了", "系统繁忙")


def test_weak_terms_count_only_in_a_negative_context(clf):
    assert clf.classify("安达分期的手续费是多少？")[0] == "other"
    assert clf.classify("安达分期手续费太坑了，借五千扣了八百")[0] == "complaint_fees"


def test_whole_token_terms_need_the_tokenizer_to_cut_them_out(clf):
    # "=挂" is a weak outage term: it counts as a token of its own, not inside 挂号.
    assert clf.scores("今天又挂了，无语", ["今天", "又", "挂", "了", "，", "无语"])[0] == {"outage": 1.5}
    assert clf.scores("去医院挂号，无语", ["去", "医院", "挂号", "，", "无语"])[0] == {}


def test_gap_patterns_find_words_apart_in_one_sentence(clf):
    category, evidence, _ = clf.classify("星汇提现一直显示失败")
    assert (category, evidence) == ("outage", ("提现一直显示失败",))
    assert clf.classify("我在星汇提现。今天考试失败了")[0] == "other"


def test_evidence_is_in_text_order_without_repeats_and_confidence_grows_with_it(clf):
    one = clf.classify("星汇宕机了")
    three = clf.classify("星汇宕机了，宕机！无法提现，交易失败")
    assert one[:2] == ("outage", ("宕机",))
    assert three[:2] == ("outage", ("宕机", "无法提现", "交易失败"))
    assert 0 < one[2] < three[2] < 1


def test_full_width_and_upper_case_text_matches(clf):
    assert clf.classify("ＣＣＴＶ记者调查：星汇黑幕")[0] == "media_exposure"
    assert clf.classify("RuiCore RECALL after Battery Swelling reports")[0] == "product_defect"


def test_a_users_lexicon_adds_and_reweights_terms(tmp_path):
    extra = tmp_path / "mine.yaml"
    extra.write_text("categories:\n  outage:\n    terms:\n      掉单: 3\n"
                     "  media_exposure:\n    terms:\n      曝光: 0\n", encoding="utf-8")
    clf = CategoryClassifier.default([extra])
    assert clf.classify("星汇今天又掉单了")[:2] == ("outage", ("掉单",))
    assert clf.scores("曝光")[0] == {"media_exposure": 0.0}


@pytest.mark.parametrize(("body", "message"), [
    ("categories:\n  fraud:\n    terms: {诈骗: 3}\n", "unknown category 'fraud'"),
    ("categories:\n  outage:\n    terms: {宕机: high}\n", "weight must be a number"),
    ("categories: [oops\n", "not valid YAML"),
    ("context: [315]\n", "quote numbers"),
])
def test_a_bad_lexicon_file_is_a_user_error_naming_the_file(tmp_path, body, message):
    path = tmp_path / "bad.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(UserError, match=message) as err:
        load_lexicon([path])
    assert str(path) in str(err.value)


def test_a_missing_lexicon_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot read"):
        load_lexicon([tmp_path / "nope.yaml"])


def test_the_classifier_pickles_and_classifies_the_same(clf):
    copy = pickle.loads(pickle.dumps(clf))
    text = "被星汇的催收爆通讯录了，还P图威胁"
    assert copy.classify(text) == clf.classify(text)


@given(st.text(max_size=200))
def test_any_text_gets_a_known_category_with_evidence_from_the_text(text):
    clf = _CLF
    category, evidence, confidence = clf.classify(text, list(text))
    assert category in CATEGORIES
    assert 0.0 <= confidence < 1.0
    assert (category == "other") == (confidence == 0.0)
    assert len(set(evidence)) == len(evidence)


_CLF = CategoryClassifier.default()
