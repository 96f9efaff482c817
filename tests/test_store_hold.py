"""A held table writer: fewer, larger inserts, and nothing an epoch wrote left unstored."""

from __future__ import annotations

import time

import pytest

from yuqing.core.endpoints import parse_store
from yuqing.sinks import clickhouse, tables
from yuqing.sinks.clickhouse import ClickHouseSink
from yuqing.sinks.single_writer import _Writer


def _rows(n: int, start: int = 0) -> list[tuple]:
    return [(f"kafka:t/0@{i}", "not JSON", "x") for i in range(start, start + n)]


def _stored(store) -> int:
    return store.query("SELECT count() FROM dead_letters")[0][0]


def _writer(store_url, hold: float, written: list[int]):
    return ClickHouseSink(parse_store(store_url), tables.DEAD_LETTERS,
                          on_write=written.append).partition(hold=hold)


def test_held_rows_go_in_one_insert_when_the_epoch_ends(store, store_url):
    written: list[int] = []
    writer = _Writer(_writer(store_url, hold=60.0, written=written))
    writer.write_batch([_rows(3)])
    writer.write_batch([_rows(2, start=3)])
    assert _stored(store) == 0 and written == []  # waiting: a minute has not passed
    writer.snapshot()  # the end of an epoch: stored before it is committed
    assert _stored(store) == 5 and written == [5]
    writer.write_batch([_rows(1, start=5)])
    writer.close()  # the end of the run stores the rest
    assert _stored(store) == 6 and written == [5, 1]


def test_rows_that_waited_long_enough_are_stored_without_another_batch(store, store_url):
    written: list[int] = []
    writer = _writer(store_url, hold=0.2, written=written)
    try:
        writer.write_batch(_rows(4))
        deadline = time.monotonic() + 10
        while _stored(store) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _stored(store) == 4 and written == [4]
    finally:
        writer.close()


def test_a_full_hold_is_stored_at_once(store, store_url, monkeypatch):
    monkeypatch.setattr(clickhouse, "HOLD_ROWS", 10)
    writer = _writer(store_url, hold=60.0, written=[])
    try:
        writer.write_batch(_rows(6))
        assert _stored(store) == 0
        writer.write_batch(_rows(6, start=6))
        assert _stored(store) == 12
    finally:
        writer.close()


def test_without_a_hold_every_batch_is_one_insert(store, store_url):
    written: list[int] = []
    writer = _writer(store_url, hold=0.0, written=written)
    try:
        writer.write_batch(_rows(2))
        writer.write_batch(_rows(3, start=2))
        assert _stored(store) == 5 and written == [2, 3]
    finally:
        writer.close()


def test_an_insert_the_holding_thread_could_not_make_fails_the_flow_and_keeps_its_rows(
    store, store_url
):
    writer = _writer(store_url, hold=0.1, written=[])
    broken = [("kafka:t/0@0", "not JSON")]  # a column short: the insert fails
    writer.write_batch(broken)
    time.sleep(0.5)  # the holding thread tried and failed
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
        writer.write_batch(_rows(1))
    assert _stored(store) == 0
    with pytest.raises(Exception):  # noqa: B017 - the broken row is still there
        writer.close()
