"""Bring a store's tables to the wanted schema while a server keeps serving them.

Every start runs `migrate`. It creates what is missing and changes only what
differs, each change one that ClickHouse applies while readers (Grafana) and
other writers go on:

- later-added columns: ``ADD COLUMN IF NOT EXISTS``;
- codecs: ``MODIFY COLUMN … CODEC`` (new parts use it; merges recompress the rest);
- retention: ``MODIFY TTL`` / ``REMOVE TTL``;
- a new partition key, which ClickHouse cannot alter: a copy under a new name,
  an atomic ``EXCHANGE TABLES``, then a second copy of whatever writers added
  to the old table meanwhile (the ReplacingMergeTree collapses rows copied
  twice), then the old table is dropped.

A second run finds nothing to do and changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from yuqing.sinks.tables import Table

log = logging.getLogger(__name__)

REPARTITION_SUFFIX = "__repartition"


@dataclass(frozen=True)
class Retention:
    """Days a row is kept after it was written (0 keeps it forever).

    Mentions hold texts and author names, personal data that should not be kept
    longer than needed; dead letters hold raw input. Aggregates and the incident
    record (window metrics, incidents, alerts, activations) are kept longer, for
    year-on-year comparison and post-incident review. Pipeline metrics serve
    the operators' dashboard and only need the recent past.
    """

    mentions: int = 180
    dead_letters: int = 30
    records: int = 730
    metrics: int = 30  # the run's own metrics (lag, rates, outbox depth) sampled into the store

    def days(self, table: Table) -> int:
        return getattr(self, table.keep) if table.keep else 0


def migrate(client, database: str, tables: Sequence[Table],
            retention: Retention | None = None) -> list[str]:
    """Create or change `tables` in `database`; returns what was done, in words.

    With `retention` None the TTLs of existing tables are left as they are (a
    report reading the store must not undo what `yuqing run` set); new tables
    get the default retention.
    """
    client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    done: list[str] = []
    for table in tables:
        done += _migrate_table(client, database, table, retention)
    created = [line.split()[1] for line in done if line.startswith("created ")]
    if created:  # a new store: one line, not one per table
        kept = retention or Retention()
        log.info("store %s: created tables %s (rows kept: mentions %d d, dead letters %d d, "
                 "records %d d, metrics %d d; 0 = forever)", database, ", ".join(created),
                 kept.mentions, kept.dead_letters, kept.records, kept.metrics)
    for line in done:
        if not line.startswith("created "):
            log.info("store %s: %s", database, line)
    return done


def _migrate_table(client, db: str, table: Table, retention: Retention | None) -> list[str]:
    stored = _stored(client, db, table.name)
    if stored is None:
        days = (retention or Retention()).days(table)
        client.command(table.create_sql(db, days))
        return [f"created {table.name}" + (f" (rows kept {days} days)" if days else "")]
    done = []
    present = _columns(client, db, table.name)
    for column in table.added:
        if column.split()[0] not in present:
            client.command(f"ALTER TABLE {db}.{table.name} ADD COLUMN IF NOT EXISTS {column}")
            done.append(f"added column {table.name}.{column.split()[0]}")
    partition_key, engine_full = stored
    if table.partition_by and partition_key != table.partition_by:
        done.append(_repartition(client, db, table, retention, engine_full))
        engine_full = _stored(client, db, table.name)[1]
    else:
        _finish_repartition(client, db, table)
    present = _columns(client, db, table.name)
    for column, codec in table.codecs().items():
        if column in present and present[column] != codec:
            client.command(f"ALTER TABLE {db}.{table.name} MODIFY COLUMN {column} {codec}")
            done.append(f"{table.name}.{column} now compressed with {codec}")
    if retention is not None and table.expires:
        done += _retain(client, db, table, retention.days(table), engine_full)
    return done


def _retain(client, db: str, table: Table, days: int, engine_full: str) -> list[str]:
    have = _ttl(engine_full)
    want = table.ttl_expression(days) if days else ""
    if have == want:
        return []
    if want:
        client.command(f"ALTER TABLE {db}.{table.name} MODIFY TTL {want}")
        return [f"{table.name} rows now kept {days} days after {table.expires}"]
    client.command(f"ALTER TABLE {db}.{table.name} REMOVE TTL")
    return [f"{table.name} rows now kept forever"]


def _repartition(client, db: str, table: Table, retention: Retention | None,
                 engine_full: str) -> str:
    started = time.monotonic()
    name, copy = f"{db}.{table.name}", f"{db}.{table.name}{REPARTITION_SUFFIX}"
    client.command(f"DROP TABLE IF EXISTS {copy}")  # a copy a crash left before its exchange
    have = _ttl(engine_full)
    days = retention.days(table) if retention is not None else _days(have)
    client.command(table.create_sql(db, days).replace(name, copy, 1))
    columns = ", ".join(_columns(client, db, table.name))
    client.command(f"INSERT INTO {copy} ({columns}) SELECT {columns} FROM {name}")
    rows = client.query(f"SELECT count() FROM {copy}").result_rows[0][0]
    client.command(f"EXCHANGE TABLES {name} AND {copy}")
    _finish_repartition(client, db, table)
    return (f"{table.name} repartitioned by {table.partition_by} "
            f"({rows:,} rows copied in {time.monotonic() - started:.1f} s)")


def _finish_repartition(client, db: str, table: Table) -> None:
    """Copy what the old table got since the first copy, then drop it (after the exchange)."""
    old = f"{db}.{table.name}{REPARTITION_SUFFIX}"
    if _stored(client, db, table.name + REPARTITION_SUFFIX) is None:
        return
    kept = _columns(client, db, table.name)
    columns = ", ".join(c for c in _columns(client, db, table.name + REPARTITION_SUFFIX)
                        if c in kept)
    client.command(f"INSERT INTO {db}.{table.name} ({columns}) SELECT {columns} FROM {old}")
    client.command(f"DROP TABLE {old}")


def _stored(client, db: str, name: str) -> tuple[str, str] | None:
    rows = client.query(
        "SELECT partition_key, engine_full FROM system.tables WHERE database = {db:String} "
        "AND name = {name:String}",
        parameters={"db": db, "name": name},
    ).result_rows
    return (rows[0][0], rows[0][1]) if rows else None


def _columns(client, db: str, name: str) -> dict[str, str]:
    """Column -> its CODEC(...) clause ('' for the default), in table order."""
    rows = client.query(
        "SELECT name, compression_codec FROM system.columns WHERE database = {db:String} "
        "AND table = {name:String} ORDER BY position",
        parameters={"db": db, "name": name},
    ).result_rows
    return dict(rows)


def _ttl(engine_full: str) -> str:
    if " TTL " not in engine_full:
        return ""
    return engine_full.split(" TTL ", 1)[1].split(" SETTINGS ", 1)[0].strip()


def _days(ttl: str) -> int:
    """The days of a TTL this module wrote (`… + toIntervalDay(N)`), else 0."""
    marker = "toIntervalDay("
    if marker not in ttl:
        return 0
    return int(ttl.split(marker, 1)[1].split(")", 1)[0])
