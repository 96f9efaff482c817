"""Replays of a Kafka topic in subprocesses, and what they leave behind, for restart tests.

An interrupted replay (killed or drained, then resumed) must leave the same
tables, alert stream and incident history as an uninterrupted one; these
helpers make the topic, the command line and the comparison.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

from store_fixtures import sql_in_subprocess

COMPARED = {  # every table the flow writes, without the columns that hold the wall clock
    "mentions": "* EXCEPT ingested_at", "window_metrics": "* EXCEPT written_at",
    "dead_letters": "* EXCEPT received_at", "alerts": "* EXCEPT written_at",
    "incidents": "* EXCEPT written_at", "activations": "* EXCEPT written_at",
}


def run_args(source: str, store: str, folder: Path) -> list[str]:
    """`yuqing run` with recovery, outputs and its own consumer group, all in `folder`."""
    return [sys.executable, "-m", "yuqing.cli", "run", "--input", source, "--store", store,
            "--recovery", str(folder / "recovery"), "--snapshot-interval", "0.2",
            "--alerts", str(folder / "alerts.jsonl"), "--dlq", str(folder / "dlq.jsonl"),
            "--progress-every", "0.1", "--bus", "127.0.0.1:0",
            # rows held a moment only (the default holds a second): the kill and drain tests
            # send their signal once rows show as written, which must be mid-replay
            "--store-hold", "0.05",
            "--outbox", str(folder / "outbox.sqlite3"),
            "--kafka-group", f"g-{folder.name}"]  # its own group: no offsets of other runs


def produce_demo_by_brand(broker, topic: str, hours: float = 12, rate: float = 3.0) -> None:
    """The demo stream on `topic`, keyed by brand as a deployment would partition it."""
    from yuqing.evaluation.demo import DemoConfig, DemoGenerator
    from yuqing.text.brands import BrandMatcher

    brands = BrandMatcher.default()
    by_brand: dict[bytes | None, list[bytes]] = {}
    for line in DemoGenerator(DemoConfig(hours=hours, base_per_minute=rate)):
        try:
            obj = json.loads(line)
            brand = (obj.get("brand") or brands.match(obj.get("text", "")) or "").encode()
        except ValueError:
            brand = None  # a malformed line: any partition
        by_brand.setdefault(brand or None, []).append(line)
    for brand, lines in by_brand.items():
        broker.produce(topic, lines, key=brand)


def tables(store: str) -> dict[str, list]:
    """Every table the flow writes, in a stable order."""
    return {name: sql_in_subprocess(store, f"SELECT {columns} FROM {name} FINAL ORDER BY ALL")
            for name, columns in COMPARED.items()}


def history(outbox: Path | str) -> dict[str, list]:
    """Each incident's tier changes as the outbox (a SQLite file or a bus log) recorded them."""
    from yuqing.bus.replicated import open_shared

    replica = open_shared(outbox)
    if replica is not None:
        try:
            return history_of(replica._db)
        finally:
            replica.close()
    db = sqlite3.connect(outbox)
    try:
        return history_of(db)
    finally:
        db.close()


def event_keys(outbox: Path | str) -> list[str]:
    """The keys of every event on an outbox, sorted."""
    from yuqing.bus.outbox import Outbox
    from yuqing.bus.replicated import open_shared

    box = open_shared(outbox) or Outbox(outbox)
    try:
        return sorted(e.key for e in box.after(0, limit=1_000_000))
    finally:
        box.close()


def history_of(db: sqlite3.Connection) -> dict[str, list]:
    rows = db.execute("SELECT incident_id, from_tier, to_tier, risk_score, at FROM tier_changes"
                      " ORDER BY incident_id, coalesce(seq, 0), rowid").fetchall()
    out: dict[str, list] = {}
    for incident_id, *change in rows:
        out.setdefault(incident_id, []).append(tuple(change))
    return out
