"""Tiers that mean what the strategy library says, on streams shaped like real Weibo crises.

A repost cascade that the classifier cannot name, with no author data and
mostly plain reposts, still climbs to 二级 and 三级 on the brand-wide key; a
copy-paste campaign by a few accounts does not; the incident names the
cascade's root and its subject; a fallback playbook answers it.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from yuqing.core.enriched import EnrichedMention
from yuqing.core.mention import Author, Mention
from yuqing.playbooks.library import PlaybookLibrary
from yuqing.text.analyzer import Analyzer
from yuqing.warning.incidents import IncidentUpdate
from yuqing.warning.monitor import BrandMonitor, brief_of

T0 = datetime(2026, 11, 16, tzinfo=UTC)


def _item(mid: str, at: datetime, label: str = "neutral", parent: str = "", author: str = "",
          story: str = "", tokens: tuple[str, ...] = ("今天", "天气")) -> EnrichedMention:
    mention = Mention(mid, "weibo", at, "…", parent_id=parent, author=Author(id=author))
    return EnrichedMention(mention, "云象支付", tokens, 0.0, label, "other", (), story or mid)


def _quiet(monitor: BrandMonitor, hours: int = 6, seed: int = 1) -> list:
    rng = random.Random(seed)
    out = []
    for i in range(hours * 60):  # one post a minute, 40 % negative: no author data at all
        label = "negative" if rng.random() < 0.4 else rng.choice(("neutral", "positive"))
        out += monitor.push(_item(f"bg:{i}", T0 + timedelta(seconds=60 * i + rng.random()), label))
    return out


def _cascade(monitor: BrandMonitor, start: datetime, reposts: int, seed: int = 2) -> list:
    rng = random.Random(seed)
    root = "root:0"
    out = monitor.push(_item(root, start, "negative", tokens=("货车", "侧翻", "交通", "中断")))
    for i, delay in enumerate(sorted(rng.expovariate(1 / 900) for _ in range(reposts)), 1):
        label = rng.choices(("neutral", "negative", "positive"), (0.6, 0.28, 0.12))[0]
        out += monitor.push(_item(f"root:{i}", start + timedelta(seconds=delay), label,
                                  parent=root if i % 4 else f"root:{i - 1}"))
    return out


def _rises(out: list) -> list[IncidentUpdate]:
    return [u for u in out if isinstance(u, IncidentUpdate) and u.tier > u.previous_tier]


def test_a_repost_cascade_nobody_categorised_reaches_tier_three_on_the_brand_wide_key():
    monitor = BrandMonitor("云象支付")
    assert not _rises(_quiet(monitor))
    onset = T0 + timedelta(hours=6)
    rises = _rises(_cascade(monitor, onset, 320))
    assert {u.category for u in rises} == {"*"} and len({u.incident_id for u in rises}) == 1
    first = {k: min(u.at for u in rises if u.tier >= k) - onset for k in (2, 3)}
    assert first[2] < timedelta(minutes=10)  # the 50th repost comes after about 3 minutes
    assert first[3] < timedelta(minutes=60)
    evidence = rises[-1].evidence
    assert evidence["began"]["mention_id"] == "root:0"
    assert evidence["began"]["kind"] == "repost_cascade"
    assert {"货车", "侧翻"} <= {k for k, _ in evidence["top_keywords"][:4]}
    assert evidence["top_stories"][0]["story_id"] == "root:0"
    assert evidence["campaign_suspected"] is False  # reposts are spread, not copies


def test_small_cascades_stay_below_tier_two():
    monitor = BrandMonitor("云象支付")
    _quiet(monitor)
    rises = _rises(_cascade(monitor, T0 + timedelta(hours=6), 40))
    assert all(u.tier < 2 for u in rises)


def test_a_copy_paste_campaign_by_four_accounts_is_damped_where_reposts_are_not():
    def run(campaign: bool) -> float:
        monitor = BrandMonitor("云象支付")
        _quiet(monitor)
        start = T0 + timedelta(hours=6)
        peak = 0.0
        for i in range(90):  # 9 a minute for ten minutes, all negative
            at = start + timedelta(seconds=i * 6.5)
            item = (_item(f"c:{i}", at, "negative", author=f"bot{i % 4}", story="one-text")
                    if campaign else _item(f"c:{i}", at, "negative", parent="c:0" if i else ""))
            monitor.push(item)
            peak = max(peak, monitor.keys["*"].score)
        return peak

    assert run(campaign=True) < run(campaign=False) - 15


def test_plain_reposts_and_interjections_are_neutral_but_still_counted():
    analyzer = Analyzer.default()
    m = Mention("weibo:1", "weibo", T0, "x")
    labels = [analyzer.analyze(Mention("weibo:1", "weibo", T0, text)).sentiment_label
              for text in ("转发微博", "哈", "。", "转发微博 //@小王:")]
    assert labels == ["neutral"] * 4
    monitor = BrandMonitor("云象支付")
    monitor.push(EnrichedMention(m, "云象支付"))
    assert monitor.keys["*"].signals.snapshot().count == 1


def test_evidence_keywords_skip_emoticons_function_words_and_reposts():
    item = _item("m", T0, tokens=("[泪]", "没有", "转发", "的", "提现", "失败", "2026"))
    assert brief_of(item).keywords == ("提现", "失败")


@pytest.mark.parametrize("category", ["other", "*"])
def test_an_incident_no_category_names_activates_the_generic_crisis_playbook(category):
    library = PlaybookLibrary.load()
    assert [p.id for p in library.match("云象支付", category, 2)] == ["any.generic_crisis"]


def test_the_generic_playbook_is_a_fallback_behind_the_category_s_own():
    library = PlaybookLibrary.load()
    ids = [p.id for p in library.match("云象支付", "outage", 2)]
    assert ids and "any.generic_crisis" not in ids
