"""No single line stops the flow: poison lines among good ones, from a file and from Kafka.

Each poison line is dead-lettered with its reason, the good mentions are all
stored, the run ends by itself, and a restart from the recovery directory does
not trip over the same message again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from yuqing.dataflows.launcher import RunOptions, launch

from mentions_factory import encode, make_mentions
from poison_factory import POISON, TOO_BIG_FOR_KAFKA

pytestmark = pytest.mark.slow


def _interleave(good: list[bytes], bad: list[bytes]) -> list[bytes]:
    out = []
    for i, line in enumerate(good):
        out.append(line)
        if i < len(bad):
            out.append(bad[i])
    return out + bad[len(good):]


def test_poison_lines_in_a_file_are_dead_lettered_and_every_good_mention_is_stored(
        tmp_path, store_url, store):
    good = [encode(m) for m in make_mentions(40, minutes=10, seed=31)]
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(_interleave(good, list(POISON.values()))) + b"\n")
    dlq = tmp_path / "dlq.jsonl"
    summary = launch(RunOptions(input=str(path), store=store_url, alerts=str(tmp_path / "a.jsonl"),
                                dlq=str(dlq)))
    assert store.query("SELECT count() FROM mentions FINAL")[0][0] == 40
    letters = [json.loads(line) for line in dlq.read_text(encoding="utf-8").splitlines()]
    assert len(letters) == len(POISON) == summary.counts["dead_letters"]
    assert all(letter["reason"] for letter in letters)


@pytest.mark.kafka
def test_poison_messages_from_kafka_with_recovery_do_not_stop_or_loop_the_flow(
        kafka_broker, kafka_topic_factory, tmp_path, store_url, store):
    good = [encode(m) for m in make_mentions(40, minutes=10, seed=32)]
    bad = [v for k, v in POISON.items() if k not in TOO_BIG_FOR_KAFKA]
    topic = kafka_topic_factory()
    kafka_broker.produce(topic, _interleave(good, bad))
    options = RunOptions(input=f"kafka://{kafka_broker.bootstrap}/{topic}?until=end",
                         store=store_url, alerts=str(tmp_path / "a.jsonl"),
                         dlq=str(tmp_path / "dlq.jsonl"), recovery=tmp_path / "recovery")
    first = launch(options)
    assert store.query("SELECT count() FROM mentions FINAL")[0][0] == 40
    assert first.counts["dead_letters"] == len(bad)
    launch(options)  # a restart resumes after the poison: nothing new, no crash
    assert store.query("SELECT count() FROM mentions FINAL")[0][0] == 40
    assert store.query("SELECT count() FROM dead_letters FINAL")[0][0] == len(bad)


_EXTREME_INTS = st.one_of(st.integers(-10, 10), st.integers(2**31 - 2, 2**33),
                          st.integers(10**9, 10**21), st.integers(-(2**70), 2**70))
_EXTREME_TEXT = st.one_of(st.text(max_size=30), st.text(alphabet=st.characters(codec=None),
                                                      max_size=30),
                          st.sampled_from(["", " ", "\x1f", "\x00", "甲\x1f乙", "\ud800", "'; DROP"]))
_TIMES = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.datetimes(min_value=datetime(2026, 11, 1), max_value=datetime(2026, 11, 30)))


def _maybe(draw, usual, extreme):
    """Mostly a usual value, sometimes an extreme one: most lines are good but one field."""
    return draw(extreme) if draw(st.integers(0, 3)) == 3 else usual


@st.composite
def _mention(draw, i: int):
    at = _maybe(draw, datetime(2026, 11, 20, 8, 0) + timedelta(seconds=i), _TIMES)
    offset = _maybe(draw, "+08:00", st.sampled_from(["Z", "-05:00", "", "+14:00"]))
    obj = {"id": _maybe(draw, f"p:{i}", _EXTREME_TEXT.map(lambda s, i=i: f"p:{i}:{s}")),
           "source": _maybe(draw, "weibo", _EXTREME_TEXT),
           "published_at": at.isoformat() + offset,
           "text": _maybe(draw, f"星汇支付 正常文本 {i}", _EXTREME_TEXT)}
    for name in ("title", "url", "lang", "parent_id", "brand"):
        if draw(st.booleans()):
            obj[name] = draw(_EXTREME_TEXT | st.integers() | st.just("星汇支付"))
    if draw(st.booleans()):
        obj["author"] = {"id": _maybe(draw, "u1", _EXTREME_TEXT),
                         "followers": _maybe(draw, 120, _EXTREME_INTS),
                         "verified": _maybe(draw, True, st.sampled_from([1, "yes", None]))}
    if draw(st.booleans()):
        obj["engagement"] = {k: _maybe(draw, 3, _EXTREME_INTS) for k in ("reposts", "comments", "likes")}
    return obj


@settings(max_examples=8, deadline=None, derandomize=True,
          phases=[Phase.explicit, Phase.generate],  # each example is a whole flow run: no shrinking
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=1).flatmap(
    lambda _: st.tuples(*[_mention(i) for i in range(30)])))
def test_extreme_values_in_every_field_are_stored_intact_or_dead_lettered(
        tmp_path_factory, chdb_dir, mentions):
    from yuqing.core.endpoints import parse_store
    from yuqing.sinks.clickhouse import Store

    tmp = tmp_path_factory.mktemp("extreme")
    lines = [json.dumps(m, ensure_ascii=False).encode("utf-8", "surrogatepass") for m in mentions]
    (tmp / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    database = f"extreme_{tmp.name.replace('-', '_')}"
    url = f"chdb://{chdb_dir}?database={database}"
    summary = launch(RunOptions(input=str(tmp / "in.jsonl"), store=url,
                                alerts=str(tmp / "a.jsonl"), dlq=str(tmp / "d.jsonl")))
    store = Store(parse_store(url))
    stored = dict(store.query(f"SELECT id, text FROM {database}.mentions FINAL"))
    assert stored, "the generator should give some good lines"
    store.close()
    dlq = tmp / "d.jsonl"  # lines counted by \n, not splitlines: \x85 and \u2028 are text
    dead = dlq.read_bytes().count(b"\n") if dlq.exists() else 0
    assert len(stored) + dead == len(mentions) == summary.counts.get("dead_letters", 0) + len(stored)
    for m in mentions:  # what was stored is byte-exact
        if m["id"] in stored:
            assert stored[m["id"]] == m["text"], (m["id"], m["text"], stored[m["id"]])
            assert datetime.fromisoformat(m["published_at"]).astimezone(UTC) <= (
                datetime.now(UTC) + timedelta(days=1))


def test_brands_beyond_the_limit_of_unconfigured_ones_are_dead_lettered(tmp_path, store_url, store):
    base = make_mentions(1, seed=33)[0]
    lines = []
    for i in range(30):  # 20 unknown brands, then a configured one, a few times each
        brand = f"新品牌{i % 20}" if i < 27 else "星汇支付"
        lines.append(encode({**base, "id": f"b:{i}", "brand": brand}))
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    launch(RunOptions(input=str(tmp_path / "in.jsonl"), store=store_url, max_brands=5,
                      alerts=str(tmp_path / "a.jsonl"), dlq=str(tmp_path / "d.jsonl")))
    brands = {b for (b,) in store.query("SELECT DISTINCT brand FROM mentions FINAL")}
    assert brands == {f"新品牌{i}" for i in range(5)} | {"星汇支付"}
    letters = [json.loads(x) for x in (tmp_path / "d.jsonl").read_text(encoding="utf-8").splitlines()]
    refused = [i for i in range(27) if i % 20 >= 5]  # brands 5-19 (ids 5-19, 25, 26)
    assert sorted(int(json.loads(x["raw"])["id"][2:]) for x in letters) == refused
    assert all(letter["reason"].startswith("brand: ") and "--max-brands" in letter["reason"]
               for letter in letters)


def test_a_watch_keeps_at_most_its_limit_of_sources():
    from yuqing.warning.silence import SilenceWatch

    watch = SilenceWatch("星汇支付", max_sources=8)
    t0 = datetime(2026, 11, 20, tzinfo=UTC)
    for i in range(1000):
        watch.observe(f"source-{i}", t0 + timedelta(seconds=i))
    assert len(watch.streams) <= 10


def test_a_step_that_fails_on_a_mention_dead_letters_it_with_the_step_s_name_and_goes_on(
        tmp_path, store_url, store, caplog):
    # a real flow with a real (unwise) setting that makes the risk score divide by zero
    (tmp_path / "warning.yaml").write_text("scorer: {min_negative: 0}\n", encoding="utf-8")
    mentions = make_mentions(300, minutes=60, seed=34)
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(encode(m) for m in mentions) + b"\n")
    summary = launch(RunOptions(input=str(tmp_path / "in.jsonl"), store=store_url,
                                warning_config=tmp_path / "warning.yaml",
                                alerts=str(tmp_path / "a.jsonl"), dlq=str(tmp_path / "d.jsonl")))
    assert store.query("SELECT count() FROM mentions FINAL")[0][0] == 300
    letters = [json.loads(x) for x in (tmp_path / "d.jsonl").read_text(encoding="utf-8").splitlines()]
    assert letters and summary.counts["dead_letters"] == len(letters)
    assert {x["origin"] for x in letters} == {"step:early_warning"}
    assert all(x["reason"].startswith("early_warning: ZeroDivisionError") for x in letters)
    assert json.loads(letters[0]["raw"])["id"].startswith("t:34:")  # the mention, whole
    tracebacks = [r for r in caplog.records if r.exc_info and "early_warning" in r.getMessage()]
    assert 1 <= len(tracebacks) <= 3  # the bug is in the log, a few times, not per mention
