"""Schema migrations on a live store: partitions, codecs, retention, and a second start that does nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from yuqing.core.endpoints import parse_store
from yuqing.dataflows.launcher import RunOptions, launch
from yuqing.sinks import tables
from yuqing.sinks.clickhouse import Store
from yuqing.sinks.schema import REPARTITION_SUFFIX, Retention

# The three tables as the release before this one created them: no partitions, no codecs, no TTL.
PREVIOUS_RELEASE = {
    "dead_letters": """(origin String, reason String, raw String,
        received_at DateTime64(3, 'UTC') DEFAULT now64(3))
        ENGINE = ReplacingMergeTree ORDER BY origin""",
    "alerts": """(key String, kind LowCardinality(String), brand LowCardinality(String),
        at DateTime64(3, 'UTC'), summary String, payload String)
        ENGINE = ReplacingMergeTree ORDER BY key""",
    "activations": """(key String, incident_id String, brand LowCardinality(String),
        category LowCardinality(String), tier UInt8, playbook_id LowCardinality(String),
        playbook_version UInt32, match_rank UInt8, departments Array(LowCardinality(String)),
        created_at DateTime64(3, 'UTC'), payload String)
        ENGINE = ReplacingMergeTree ORDER BY (brand, key)""",
}


def _open(store_url: str) -> Store:
    store = Store(parse_store(store_url))
    store.client.command(f"CREATE DATABASE IF NOT EXISTS {store.spec.database}")
    return store


def _old_store(store_url: str) -> Store:
    store = _open(store_url)
    db = store.spec.database
    for name, ddl in PREVIOUS_RELEASE.items():
        store.client.command(f"CREATE TABLE {db}.{name} {ddl}")
    t0 = datetime(2026, 10, 30, tzinfo=UTC)
    store.insert(tables.DEAD_LETTERS, [(f"in.jsonl@{i}", "not JSON", "{x") for i in range(5)])
    store.insert(tables.ALERTS, [
        (f"a{i}", "incident", "星汇支付", t0 + timedelta(days=i), "opened", "{}") for i in range(4)
    ])
    store.insert(tables.ACTIVATIONS, [
        (f"inc/p/{i}", "inc", "星汇支付", "outage", 2, "p", 1, 1, ["it_ops"],
         t0 + timedelta(days=i), "{}") for i in range(3)
    ])
    return store


def _table(store: Store, name: str) -> tuple[str, str]:
    return store.query(
        "SELECT partition_key, engine_full FROM system.tables WHERE database = {db:String} "
        "AND name = {name:String}", {"db": store.spec.database, "name": name})[0]


def _codec(store: Store, table: str, column: str) -> str:
    return store.query(
        "SELECT compression_codec FROM system.columns WHERE database = {db:String} "
        "AND table = {t:String} AND name = {c:String}",
        {"db": store.spec.database, "t": table, "c": column})[0][0]


def test_a_store_of_the_previous_release_is_migrated_in_place_and_keeps_its_rows(store_url):
    store = _old_store(store_url)
    db = store.spec.database
    done = store.ensure_schema(retention=Retention())
    assert "alerts repartitioned by toYYYYMM(at) (4 rows copied" in " ".join(done)
    for name, key, count in (("dead_letters", "toYYYYMM(received_at)", 5),
                             ("alerts", "toYYYYMM(at)", 4),
                             ("activations", "toYYYYMM(created_at)", 3)):
        partition_key = _table(store, name)[0]
        assert partition_key == key
        assert store.query(f"SELECT count() FROM {db}.{name} FINAL")[0][0] == count
        assert not store.query(f"EXISTS TABLE {db}.{name}{REPARTITION_SUFFIX}")[0][0]
    assert store.query(f"SELECT count(DISTINCT partition) FROM system.parts WHERE "
                       f"database = '{db}' AND table = 'alerts' AND active")[0][0] == 2
    assert _codec(store, "alerts", "payload") == "CODEC(ZSTD(3))"
    assert _codec(store, "mentions", "text") == "CODEC(ZSTD(3))"
    assert "TTL toDateTime(received_at) + toIntervalDay(30)" in _table(store, "dead_letters")[1]
    assert "TTL toDateTime(written_at) + toIntervalDay(730)" in _table(store, "alerts")[1]
    assert store.ensure_schema(retention=Retention()) == []  # the next start changes nothing
    store.close()


def test_a_repartition_cut_short_after_its_exchange_is_finished_on_the_next_start(store_url):
    store = _old_store(store_url)
    db = store.spec.database
    store.ensure_schema()
    # as if the process died after the exchange: the old table still holds a row written meanwhile
    store.client.command(f"CREATE TABLE {db}.alerts{REPARTITION_SUFFIX} {PREVIOUS_RELEASE['alerts']}")
    store.client.command(f"INSERT INTO {db}.alerts{REPARTITION_SUFFIX} (key, kind, brand, at, "
                         f"summary, payload) VALUES ('late', 'incident', 'x', now64(3), 's', '{{}}')")
    store.ensure_schema()
    assert store.query(f"SELECT count() FROM {db}.alerts FINAL")[0][0] == 5
    assert not store.query(f"EXISTS TABLE {db}.alerts{REPARTITION_SUFFIX}")[0][0]
    store.close()


def test_rows_past_their_retention_are_dropped_and_a_replayed_day_is_not(store_url):
    store = _open(store_url)
    db = store.spec.database
    store.ensure_schema(retention=Retention(mentions=2))
    columns = (*tables.MENTIONS.columns, "ingested_at")
    now = datetime.now(UTC)
    replayed = datetime(2015, 6, 1, tzinfo=UTC)  # an old day replayed now: kept
    rows = [
        (f"weibo:{i}", "weibo", "星汇支付", replayed, "正文", "", "", "zh", "u", "名字", 0, 0, 0, 0,
         0, "", 0.0, "neutral", "other", [], "", [], at)
        for i, at in enumerate((now - timedelta(days=5), now - timedelta(days=1), now))
    ]
    store.client.insert(f"{db}.mentions", rows, column_names=list(columns))
    store.client.command(f"OPTIMIZE TABLE {db}.mentions FINAL")
    kept = store.query(f"SELECT id FROM {db}.mentions ORDER BY id")
    assert kept == [("weibo:1",), ("weibo:2",)]
    assert store.ensure_schema(retention=Retention(mentions=0)) == [
        "mentions rows now kept forever"]
    assert store.ensure_schema() == []  # a report's start leaves the run's retention alone
    store.close()


def test_the_run_sets_the_retention_it_is_given(tmp_path, store_url):
    (tmp_path / "in.jsonl").write_text("")
    launch(RunOptions(input=str(tmp_path / "in.jsonl"), store=store_url, bus="off",
                      alerts=str(tmp_path / "a.jsonl"), dlq=str(tmp_path / "d.jsonl"),
                      outbox=tmp_path / "o.sqlite3", retention=Retention(7, 3, 0)))
    store = Store(parse_store(store_url))
    assert "toIntervalDay(7)" in _table(store, "mentions")[1]
    assert "toIntervalDay(3)" in _table(store, "dead_letters")[1]
    assert " TTL " not in _table(store, "incidents")[1]
    store.close()


def test_the_embedded_engine_hands_freed_memory_back_while_a_run_goes_on(store_url):
    from yuqing.sinks.clickhouse import EmbeddedMemoryPurge

    store = _open(store_url)
    store.client.command("SYSTEM JEMALLOC PURGE")  # what the purge thread runs: chDB has jemalloc
    purge = EmbeddedMemoryPurge(store.spec, every=0.05).start()
    assert purge._thread is not None and purge._thread.is_alive()
    purge.stop()
    assert not purge._thread.is_alive()
    server = EmbeddedMemoryPurge(parse_store("clickhouse://u:p@127.0.0.1:1/db")).start()
    assert server._thread is None, "a server manages its own memory"
    store.close()
