"""Copies the bus's delivery and task states from the outbox into ClickHouse for Grafana.

The outbox (SQLite) is the source of truth for delivery; dashboards read
ClickHouse. A background thread copies rows changed since the last copy every
`interval` seconds; the tables are ReplacingMergeTree(updated_at), so a row
copied twice, or copied again after it changed, collapses to its latest state.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from yuqing.bus.outbox import Outbox
from yuqing.core.endpoints import StoreSpec
from yuqing.sinks import tables
from yuqing.sinks.clickhouse import Store

log = logging.getLogger(__name__)

ACK_STATUS = {0: "unacked", 1: "accepted", 2: "done", 3: "failed"}
TASK_STATUS = {0: "unknown", 1: "todo", 2: "in_progress", 3: "done", 4: "blocked", 5: "cancelled"}


def _time(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


class BusMirror:
    """Background copier outbox -> ClickHouse `deliveries` and `tasks`."""

    def __init__(self, outbox: Outbox, store: StoreSpec, interval: float = 2.0) -> None:
        self.outbox = outbox
        self.spec = store
        self.interval = interval
        self._since = {"deliveries": 0.0, "tasks": 0.0}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._store: Store | None = None

    def start(self) -> BusMirror:
        self._store = Store(self.spec)
        self._thread = threading.Thread(target=self._loop, name="bus-mirror", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread after one last copy, so a finished run leaves complete tables."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        self.copy_once()
        if self._store is not None:
            self._store.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.copy_once()
            except Exception:  # keep mirroring; the outbox stays the source of truth
                log.exception("copying bus states to ClickHouse failed; retrying")

    def copy_once(self) -> int:
        store = self._store or Store(self.spec)
        copied = 0
        rows = self.outbox.deliveries_changed_since(self._since["deliveries"])
        if rows:
            store.insert(tables.DELIVERIES, [
                (r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7],
                 [d for d in r[8].split(",") if d], r[9], ACK_STATUS.get(r[10], str(r[10])), r[11],
                 _time(r[12]), _time(r[13]), _time(r[14])) for r in rows])
            self._since["deliveries"] = rows[-1][14]
            copied += len(rows)
        rows = self.outbox.tasks_changed_since(self._since["tasks"])
        if rows:
            store.insert(tables.TASKS, [
                (r[0], r[1], r[2], r[3], r[4], TASK_STATUS.get(r[5], str(r[5])), r[6] or "",
                 r[7] or "", _time(r[8]), _time(r[9])) for r in rows])
            self._since["tasks"] = rows[-1][9]
            copied += len(rows)
        return copied
