"""The mention contract: what is accepted, and that every refusal has a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yuqing.core.mention import (
    MAX_RECORD_BYTES,
    InvalidMention,
    _lenient_loads,
    mention_from_dict,
    parse_mention,
)

from poison_factory import POISON

GOOD = {
    "id": "weibo:4951234567890",
    "source": "weibo",
    "published_at": "2026-11-23T08:15:00+08:00",
    "text": "星汇支付无法提现",
    "author": {"id": "u1", "name": "张三", "followers": 120, "verified": True},
    "engagement": {"reposts": 3, "comments": 1, "likes": 9},
    "parent_id": "weibo:1",
}


def test_a_valid_mention_is_parsed_into_utc_event_time():
    m = parse_mention(json.dumps(GOOD).encode())
    assert m.published_at == datetime(2026, 11, 23, 0, 15, tzinfo=UTC)
    assert m.author.followers == 120 and m.author.verified
    assert m.engagement.total == 13


def test_a_mention_round_trips_through_its_json_form():
    m = parse_mention(json.dumps(GOOD))
    assert parse_mention(json.dumps(m.to_json())) == m


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": None}, "id: required"),
        ({"text": ""}, "text: must not be empty"),
        ({"text": "字" * 20_001}, "the limit is 20,000"),
        ({"published_at": "2026-11-23 08:15:00"}, "no UTC offset"),
        ({"published_at": "yesterday"}, "not RFC 3339"),
        ({"author": {"followers": -1}}, "author.followers: must be >= 0"),
        ({"engagement": {"likes": "many"}}, "engagement.likes: expected an integer"),
        ({"source": 7}, "source: expected a string"),
    ],
)
def test_contract_violations_name_the_field(change, reason):
    bad = {**GOOD, **change}
    bad = {k: v for k, v in bad.items() if v is not None}
    with pytest.raises(InvalidMention, match=reason):
        parse_mention(json.dumps(bad))


def test_broken_bytes_are_refused_with_a_reason():
    with pytest.raises(InvalidMention, match="not UTF-8"):
        parse_mention(b"\xff\xfe{")
    with pytest.raises(InvalidMention, match="not JSON"):
        parse_mention(b'{"id": ')
    with pytest.raises(InvalidMention, match="expected a JSON object"):
        parse_mention(b"[1, 2]")


STEADY = settings(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@STEADY
@given(st.binary(max_size=300))
def test_any_bytes_either_parse_or_give_a_reason(data):
    try:
        parse_mention(data)
    except InvalidMention as err:
        assert str(err)


@STEADY
@given(st.dictionaries(st.sampled_from([*GOOD, "x"]),
                       st.one_of(st.none(), st.integers(), st.text(), st.booleans(),
                                 st.dictionaries(st.text(max_size=5), st.integers()))))
def test_any_json_object_either_parses_or_gives_a_reason(obj):
    try:
        parse_mention(json.dumps(obj))
    except InvalidMention as err:
        assert str(err)



def _by_the_standard_library(raw):
    """What parse_mention gave before orjson read first: the outcome, or the reason refused."""
    try:
        if len(raw) > MAX_RECORD_BYTES:
            raise InvalidMention(f"record: {len(raw):,} bytes, the limit is {MAX_RECORD_BYTES:,}")
        obj = _lenient_loads(raw)
        if not isinstance(obj, dict):
            raise InvalidMention(f"expected a JSON object, got {type(obj).__name__}")
        return mention_from_dict(obj, NOW)
    except InvalidMention as err:
        return str(err)


def _by_parse_mention(raw):
    try:
        return parse_mention(raw, NOW)
    except InvalidMention as err:
        return str(err)


NOW = datetime(2026, 12, 3, tzinfo=UTC)
GOOD_LINE = json.dumps(GOOD, ensure_ascii=False)
EDGES = {  # records orjson refuses or reads in its own way: the outcome must not change
    "lone surrogate": GOOD_LINE.replace('"text": "', '"text": "\\ud800', 1),
    "NaN follower count": GOOD_LINE[:-1] + ', "author": {"followers": NaN}}',
    "integer beyond 64 bits": GOOD_LINE[:-1] + ', "engagement": {"likes": ' + "9" * 30 + "}}",
    "duplicate key": GOOD_LINE[:-1] + ', "text": "第二个正文"}',
    "deep nesting": GOOD_LINE[:-1] + ', "x": ' + "[" * 600 + "]" * 600 + "}",
    "BOM": "\ufeff" + GOOD_LINE,
    "control character in a string": GOOD_LINE.replace('"text": "', '"text": "\x01', 1),
    "trailing garbage": GOOD_LINE + " x",
    "top-level array": "[" + GOOD_LINE + "]",
    "float count": GOOD_LINE[:-1] + ', "engagement": {"likes": 1.0}}',
    "huge float": GOOD_LINE[:-1] + ', "engagement": {"likes": 1e400}}',
}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_the_fast_json_reading_changes_no_outcome_at_the_edges(name):
    raw = EDGES[name].encode("utf-8", "surrogatepass")
    assert _by_parse_mention(raw) == _by_the_standard_library(raw)


@pytest.mark.parametrize("name", sorted(POISON))
def test_the_fast_json_reading_changes_no_outcome_for_poison(name):
    assert _by_parse_mention(POISON[name]) == _by_the_standard_library(POISON[name])


@STEADY
@given(st.dictionaries(st.sampled_from([*GOOD, "x"]),
                       st.one_of(st.none(), st.integers(), st.floats(), st.text(), st.booleans(),
                                 st.dictionaries(st.text(max_size=5), st.integers()))),
       st.booleans())
def test_the_fast_json_reading_changes_no_outcome(obj, ascii_only):
    raw = json.dumps({**GOOD, **obj}, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    assert _by_parse_mention(raw) == _by_the_standard_library(raw)


@pytest.mark.parametrize("name", sorted(POISON))
def test_a_poison_line_is_refused_with_a_reason(name):
    with pytest.raises(InvalidMention) as err:
        parse_mention(POISON[name])
    assert str(err.value) and "\n" not in str(err.value)


def test_the_time_bounds_follow_the_wall_clock():
    now = datetime(2026, 12, 3, tzinfo=UTC)
    ahead = json.dumps({**GOOD, "published_at": "2026-12-03T20:00:00Z"}).encode()
    assert parse_mention(ahead, now=now).published_at.hour == 20  # within a day: clock drift
    with pytest.raises(InvalidMention, match="outside"):
        parse_mention(ahead, now=datetime(2026, 12, 1, tzinfo=UTC))


def test_a_mention_crosses_processes_by_pickle_unchanged():
    import pickle
    from datetime import timedelta, timezone

    from yuqing.core.enriched import EnrichedMention
    from yuqing.core.mention import Author, Engagement, Mention

    stamps = [datetime(2026, 11, 23, 8, 1, 2, 345678, tzinfo=UTC),
              datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
              datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=8)))]
    for at in stamps:
        m = Mention("weibo:1", "weibo", at, "星汇又宕机了", title="t", url="u", lang="zh",
                    author=Author("a", "n", 12, True), engagement=Engagement(1, 2, 3),
                    parent_id="weibo:0", brand="星汇支付")
        copy = pickle.loads(pickle.dumps(m))
        assert copy == m and copy.published_at.utcoffset() == at.utcoffset()
        e = EnrichedMention(m, "星汇支付", ("星汇", "宕机"), -0.5, "negative", "outage", ("宕机",), "s")
        assert pickle.loads(pickle.dumps(e)) == e
