"""The action bus's durable outbox: every event kept in SQLite until each runner has acknowledged it.

An event is appended once per idempotency key and gets the next `seq`, the
bus cursor. Per runner the outbox records which events it was sent, how
often, and how it acknowledged them; the runner's committed cursor is the
highest seq below which nothing it was sent is still open. Appends wake the
subscribers waiting in `wait` at once (a condition variable, no polling);
an append from another process is seen within `poll_interval`.

Incidents (latest snapshot, tier history), the states of their tasks and
analysts' feedback live in the same file, so one SQLite file is the whole
state of the bus. The file is in WAL mode; with the default
`synchronous="FULL"` a commit survives a crash of the process and of the machine.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

# Acknowledgement statuses: the numbers of yuqing.v1.AckStatus.
UNACKED, ACCEPTED, DONE, FAILED = 0, 1, 2, 3
# Task statuses: the numbers of yuqing.v1.TaskStatus.
TASK_TODO = 1
MAX_RETRY_BACKOFF = 300.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    payload BLOB NOT NULL,
    brand TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL DEFAULT '',
    tier INTEGER NOT NULL DEFAULT 0,
    departments TEXT NOT NULL DEFAULT '',
    priority REAL NOT NULL DEFAULT 0,
    incident_id TEXT NOT NULL DEFAULT '',
    enqueued_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_incident ON events (incident_id);
CREATE TABLE IF NOT EXISTS deliveries (
    runner TEXT NOT NULL,
    seq INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    delivered_at REAL NOT NULL,
    pending INTEGER NOT NULL DEFAULT 1,
    status INTEGER NOT NULL DEFAULT 0,
    retry INTEGER NOT NULL DEFAULT 0,
    retry_at REAL,
    detail TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL,
    PRIMARY KEY (runner, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_open ON deliveries (runner, pending);
CREATE TABLE IF NOT EXISTS runners (
    runner TEXT PRIMARY KEY,
    scanned INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS incidents (
    incident_id TEXT PRIMARY KEY,
    brand TEXT NOT NULL,
    category TEXT NOT NULL,
    tier INTEGER NOT NULL,
    state TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    updated_at REAL NOT NULL,
    resolved_at REAL
);
CREATE TABLE IF NOT EXISTS tier_changes (
    incident_id TEXT NOT NULL,
    from_tier INTEGER NOT NULL,
    to_tier INTEGER NOT NULL,
    risk_score REAL NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tier_changes_incident ON tier_changes (incident_id);
CREATE TABLE IF NOT EXISTS tasks (
    key TEXT NOT NULL,
    task_id TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    brand TEXT NOT NULL,
    department TEXT NOT NULL,
    status INTEGER NOT NULL,
    assignee TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    due_at REAL,
    updated_at REAL,
    PRIMARY KEY (key, task_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tasks_incident ON tasks (incident_id);
CREATE TABLE IF NOT EXISTS feedback (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    payload TEXT NOT NULL,
    received_at REAL NOT NULL
);
"""
_UPSERT_SCANNED = (
    "INSERT INTO runners (runner, scanned, updated_at) VALUES (?,?,?) ON CONFLICT(runner)"
    " DO UPDATE SET scanned = max(scanned, excluded.scanned), updated_at = excluded.updated_at"
)
_OPEN = "d.pending = 1"


@dataclass(frozen=True, slots=True)
class Task:
    """A task an activation creates, tracked until a runner reports it done."""

    task_id: str
    department: str
    due_at: float | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """What to append: the payload plus the attributes that subscriptions filter on."""

    key: str
    kind: str
    payload: bytes
    brand: str = ""
    category: str = ""
    tier: int = 0
    departments: tuple[str, ...] = ()
    priority: float = 0.0
    incident_id: str = ""
    tasks: tuple[Task, ...] = ()


@dataclass(frozen=True, slots=True)
class Event:
    """An event on the bus at position `seq`."""

    seq: int
    key: str
    kind: str
    payload: bytes
    brand: str
    category: str
    tier: int
    departments: tuple[str, ...]
    priority: float
    incident_id: str
    enqueued_at: float


@dataclass(frozen=True, slots=True)
class AckResult:
    committed: int
    duplicate: bool


@dataclass(frozen=True, slots=True)
class TaskState:
    key: str
    task_id: str
    incident_id: str
    brand: str
    department: str
    status: int
    assignee: str
    detail: str
    due_at: float | None
    updated_at: float | None


@dataclass(frozen=True, slots=True)
class DeliveryState:
    runner: str
    key: str
    seq: int
    status: int
    detail: str
    attempts: int
    updated_at: float


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """An incident as the bus knows it: latest snapshot, history, activations, tasks, deliveries."""

    incident_id: str
    snapshot: dict[str, Any]
    updated_at: float
    resolved_at: float | None
    tier_history: tuple[tuple[int, int, float, float], ...]  # (from, to, risk score, at)
    activation_keys: tuple[str, ...]
    tasks: tuple[TaskState, ...]
    deliveries: tuple[DeliveryState, ...]


class Outbox:
    """The bus's SQLite file; thread-safe (one connection behind a lock).

    >>> box = Outbox(":memory:")
    >>> box.append(Entry("inc-1/outage.generic/2", "activation", b"...", brand="星汇支付"))
    1
    >>> box.append(Entry("inc-1/outage.generic/2", "activation", b"..."))  # same key, same seq
    1
    >>> [e.key for e in box.after(0)]
    ['inc-1/outage.generic/2']
    >>> box.mark_delivered("bot", [1])
    {1: 1}
    >>> box.ack("bot", 1, DONE)
    AckResult(committed=1, duplicate=False)
    """

    def __init__(
        self, path: str | Path, *, synchronous: str = "FULL", poll_interval: float = 0.5
    ) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self.poll_interval = poll_interval
        self._db = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30
        )
        self._lock = threading.RLock()
        self._changed = threading.Condition(threading.Lock())
        self._closed = False
        self._kicks = 0
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.executescript(_SCHEMA)
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(tier_changes)")}
            if "seq" not in columns:  # outboxes made before changes were numbered
                self._db.execute("ALTER TABLE tier_changes ADD COLUMN seq INTEGER")
            self._db.execute(
                "CREATE UNIQUE INDEX IF NOT EXISTS tier_changes_once"
                " ON tier_changes (incident_id, seq)"
            )
            self._last = self._db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]

    # -- lifecycle ---------------------------------------------------------

    def close(self) -> None:
        """Wake every waiter and close the file."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        with self._lock:
            self._db.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _now(self) -> float:
        """The time a change is recorded at (a replica records the time its log gives)."""
        return time.time()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # -- events ------------------------------------------------------------

    def append(self, entry: Entry) -> int:
        """Put one event on the bus; returns its seq (the existing one when the key is known)."""
        return self.append_many([entry])[0]

    def append_many(self, entries: Iterable[Entry]) -> list[int]:
        """Append several events in one transaction (one disk sync); their seqs in order."""
        seqs = []
        now = self._now()
        with self._tx() as db:
            for e in entries:
                found = db.execute("SELECT seq FROM events WHERE key = ?", (e.key,)).fetchone()
                if found:
                    seqs.append(found[0])
                    continue
                cursor = db.execute(
                    "INSERT INTO events (key, kind, payload, brand, category, tier, departments,"
                    " priority, incident_id, enqueued_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        e.key,
                        e.kind,
                        e.payload,
                        e.brand,
                        e.category,
                        e.tier,
                        ",".join(e.departments),
                        e.priority,
                        e.incident_id,
                        now,
                    ),
                )
                seqs.append(cursor.lastrowid)
                db.executemany(
                    "INSERT OR IGNORE INTO tasks (key, task_id, incident_id, brand, department, status,"
                    " due_at) VALUES (?,?,?,?,?,?,?)",
                    [
                        (
                            e.key,
                            t.task_id,
                            e.incident_id,
                            e.brand,
                            t.department,
                            TASK_TODO,
                            t.due_at,
                        )
                        for t in e.tasks
                    ],
                )
        with self._changed:
            self._last = max(self._last, *seqs) if seqs else self._last
            self._changed.notify_all()
        return seqs

    def last_seq(self) -> int:
        """The newest seq on the bus (0 when empty)."""
        return self._last

    def after(self, cursor: int, limit: int = 256) -> list[Event]:
        """Events with seq > `cursor`, oldest first, at most `limit`."""
        rows = self._query(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (cursor, limit),
        )
        if rows and rows[-1][0] > self._last:  # appended by another process
            with self._changed:
                self._last = max(self._last, rows[-1][0])
        return [_event(r) for r in rows]

    def get(self, seq: int) -> Event | None:
        rows = self._query(f"SELECT {_EVENT_COLUMNS} FROM events WHERE seq = ?", (seq,))
        return _event(rows[0]) if rows else None

    def wait(self, after: int, timeout: float) -> bool:
        """Block until an event newer than `after` exists, `notify` is called, or `timeout` passes.

        Returns True when there is an event newer than `after`.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        with self._changed:
            kicks = self._kicks
        while True:
            with self._changed:
                while self._last <= after and not self._closed and self._kicks == kicks:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._changed.wait(min(left, self.poll_interval)):
                        break
                if self._last > after or self._closed or self._kicks != kicks:
                    return self._last > after
            if time.monotonic() >= deadline:
                return False
            self._refresh_last()  # another process may have appended

    def notify(self) -> None:
        """Wake every waiter (e.g. a subscription was superseded or the server stops)."""
        with self._changed:
            self._kicks += 1
            self._changed.notify_all()

    def _refresh_last(self) -> None:
        with self._lock:
            if self._closed:
                return
            last = self._db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
        with self._changed:
            self._last = max(self._last, last)

    # -- runners -----------------------------------------------------------

    def depth(self) -> dict[str, int]:
        """Per runner the bus has served: events on the bus after its committed cursor."""
        last = self.last_seq()
        runners = [r for (r,) in self._query("SELECT runner FROM runners ORDER BY runner")]
        return {r: max(0, last - (self.committed(r) or 0)) for r in runners}

    def committed(self, runner: str) -> int | None:
        """The runner's committed cursor; None for a runner the bus has never served."""
        rows = self._query("SELECT scanned FROM runners WHERE runner = ?", (runner,))
        if not rows:
            return None
        low = self._query(
            f"SELECT min(seq) FROM deliveries d WHERE runner = ? AND {_OPEN}", (runner,)
        )
        return rows[0][0] if low[0][0] is None else min(rows[0][0], low[0][0] - 1)

    def set_scanned(self, runner: str, seq: int) -> None:
        """Record that every event up to `seq` was either sent to the runner or not for it."""
        with self._tx() as db:
            db.execute(_UPSERT_SCANNED, (runner, seq, self._now()))

    def mark_delivered(self, runner: str, seqs: Sequence[int]) -> dict[int, int]:
        """Record that `seqs` are being sent to the runner now; the attempt number of each."""
        now = self._now()
        attempts: dict[int, int] = {}
        with self._tx() as db:
            for seq in seqs:
                db.execute(
                    "INSERT INTO deliveries (runner, seq, attempts, delivered_at, updated_at)"
                    " VALUES (?,?,1,?,?) ON CONFLICT(runner, seq) DO UPDATE SET"
                    " attempts = attempts + 1, delivered_at = excluded.delivered_at, pending = 1,"
                    " retry_at = NULL",
                    (runner, seq, now, now),
                )
                attempts[seq] = db.execute(
                    "SELECT attempts FROM deliveries WHERE runner = ? AND seq = ?", (runner, seq)
                ).fetchone()[0]
            if seqs:
                db.execute(_UPSERT_SCANNED, (runner, max(seqs), now))
        return attempts

    def is_acked(self, runner: str, seqs: Sequence[int]) -> set[int]:
        """Those of `seqs` the runner has acknowledged (and not asked to get again)."""
        if not seqs:
            return set()
        marks = ",".join("?" * len(seqs))
        rows = self._query(
            f"SELECT seq FROM deliveries d WHERE runner = ? AND seq IN ({marks}) AND NOT {_OPEN}",
            (runner, *seqs),
        )
        return {r[0] for r in rows}

    def open_deliveries(self, runner: str, upto: int | None = None) -> list[Event]:
        """Events sent to the runner and not acknowledged (or failed with retry), up to seq `upto`."""
        rows = self._query(
            f"SELECT {_EVENT_COLUMNS_E} FROM deliveries d JOIN events e ON e.seq = d.seq"
            f" WHERE d.runner = ? AND {_OPEN} AND d.seq <= ? ORDER BY d.seq",
            (runner, self._last if upto is None else upto),
        )
        return [_event(r) for r in rows]

    def due_redeliveries(
        self, runner: str, ack_timeout: float, now: float | None = None
    ) -> list[Event]:
        """Open deliveries whose ack is overdue (`ack_timeout` after sending) or whose retry time came."""
        now = time.time() if now is None else now
        rows = self._query(
            f"SELECT {_EVENT_COLUMNS_E} FROM deliveries d JOIN events e ON e.seq = d.seq"
            " WHERE d.runner = ? AND d.pending = 1 AND ((d.retry_at IS NULL AND d.delivered_at <= ?)"
            " OR d.retry_at <= ?) ORDER BY d.seq",
            (runner, now - ack_timeout, now),
        )
        return [_event(r) for r in rows]

    def next_due(self, runner: str, ack_timeout: float) -> float | None:
        """Epoch seconds when the runner's next redelivery falls due; None when nothing is open."""
        rows = self._query(
            "SELECT min(coalesce(d.retry_at, d.delivered_at + ?))"
            f" FROM deliveries d WHERE d.runner = ? AND {_OPEN}",
            (ack_timeout, runner),
        )
        return rows[0][0]

    def ack(
        self,
        runner: str,
        seq: int,
        status: int,
        detail: str = "",
        *,
        retry: bool = False,
        retry_base: float = 1.0,
    ) -> AckResult:
        """Record the runner's acknowledgement of `seq`; FAILED with `retry` schedules a redelivery.

        The redelivery waits `retry_base` × 2^(attempts-1) seconds, at most five minutes.
        Raises KeyError when the event was never sent to this runner.
        """
        now = self._now()
        retry = bool(retry and status == FAILED)
        with self._tx() as db:
            row = db.execute(
                "SELECT status, retry, attempts, detail FROM deliveries"
                " WHERE runner = ? AND seq = ?",
                (runner, seq),
            ).fetchone()
            if row is None:
                raise KeyError(seq)
            duplicate = row[0] != UNACKED and (row[0], bool(row[1]), row[3]) == (
                status,
                retry,
                detail,
            )
            retry_at = (
                now + min(retry_base * 2 ** max(0, row[2] - 1), MAX_RETRY_BACKOFF)
                if retry
                else None
            )
            db.execute(
                "UPDATE deliveries SET pending = ?, status = ?, retry = ?, retry_at = ?,"
                " detail = ?, updated_at = ? WHERE runner = ? AND seq = ?",
                (int(retry), status, int(retry), retry_at, detail, now, runner, seq),
            )
        if retry:
            self.notify()
        return AckResult(self.committed(runner) or 0, duplicate)

    def delivery_states(self, seq: int) -> list[DeliveryState]:
        rows = self._query(
            "SELECT d.runner, e.key, d.seq, d.status, d.detail, d.attempts, d.updated_at"
            " FROM deliveries d JOIN events e ON e.seq = d.seq WHERE d.seq = ?"
            " ORDER BY d.runner",
            (seq,),
        )
        return [DeliveryState(*r) for r in rows]

    # -- incidents and tasks -----------------------------------------------

    def record_incident(self, snapshot: Mapping[str, Any], *, at: float | None = None) -> None:
        """Keep the incident's latest snapshot; a change of tier is added to its history.

        `snapshot` is the plain mapping of `yuqing.playbooks.render` (incident_id,
        brand, category, tier, state, risk_score, …; datetimes allowed).
        """
        now = self._now() if at is None else at
        incident_id = str(snapshot["incident_id"])
        tier = int(snapshot.get("tier") or 0)
        state = str(snapshot.get("state") or "open")
        text = json.dumps(snapshot, ensure_ascii=False, default=_json_default)
        change = snapshot.get("change_seq")
        # the change's event time (a resolution has no tier_since; its last_seen is the change)
        changed_at = _epoch(snapshot.get("tier_since")) or _epoch(snapshot.get("last_seen")) or now
        with self._tx() as db:
            old = db.execute(
                "SELECT tier FROM incidents WHERE incident_id = ?", (incident_id,)
            ).fetchone()
            if change is not None:  # numbered changes: a replayed one is recorded once
                previous = int(snapshot.get("change_previous_tier") or 0)
                if previous != tier:
                    db.execute(
                        "INSERT OR IGNORE INTO tier_changes (incident_id, from_tier, to_tier,"
                        " risk_score, at, seq) VALUES (?,?,?,?,?,?)",
                        (
                            incident_id,
                            previous,
                            tier,
                            float(snapshot.get("risk_score") or 0.0),
                            changed_at,
                            int(change),
                        ),
                    )
            elif old is None or old[0] != tier:
                db.execute(
                    "INSERT INTO tier_changes (incident_id, from_tier, to_tier, risk_score, at)"
                    " VALUES (?,?,?,?,?)",
                    (
                        incident_id,
                        old[0] if old else 0,
                        tier,
                        float(snapshot.get("risk_score") or 0.0),
                        _epoch(snapshot.get("tier_since")) or now,
                    ),
                )
            db.execute(
                "INSERT INTO incidents VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(incident_id) DO UPDATE SET"
                " brand = excluded.brand, category = excluded.category, tier = excluded.tier,"
                " state = excluded.state, snapshot = excluded.snapshot, updated_at = excluded.updated_at,"
                " resolved_at = coalesce(excluded.resolved_at, incidents.resolved_at)",
                (
                    incident_id,
                    str(snapshot.get("brand") or ""),
                    str(snapshot.get("category") or ""),
                    tier,
                    state,
                    text,
                    now,
                    now if state == "resolved" else None,
                ),
            )

    def incident(self, incident_id: str) -> IncidentRecord | None:
        rows = self._query(
            "SELECT incident_id, snapshot, updated_at, resolved_at FROM incidents"
            " WHERE incident_id = ?",
            (incident_id,),
        )
        return self._incident_record(rows[0]) if rows else None

    def incidents(
        self,
        *,
        brands: Sequence[str] = (),
        categories: Sequence[str] = (),
        states: Sequence[str] = (),
        min_tier: int = 0,
        updated_since: float | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[IncidentRecord]:
        """Incidents, most recently updated first; empty filters mean all."""
        where, params = ["tier >= ?"], [min_tier]
        for column, values in (("brand", brands), ("category", categories), ("state", states)):
            if values:
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        if updated_since is not None:
            where.append("updated_at >= ?")
            params.append(updated_since)
        rows = self._query(
            "SELECT incident_id, snapshot, updated_at, resolved_at FROM incidents WHERE "
            + " AND ".join(where)
            + " ORDER BY updated_at DESC, incident_id LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [self._incident_record(r) for r in rows]

    def _incident_record(self, row: tuple) -> IncidentRecord:
        incident_id = row[0]
        history = self._query(
            "SELECT from_tier, to_tier, risk_score, at FROM tier_changes"
            " WHERE incident_id = ? ORDER BY coalesce(seq, 0), rowid",
            (incident_id,),
        )
        keys = self._query(
            "SELECT key FROM events WHERE incident_id = ? AND kind = 'activation' ORDER BY seq",
            (incident_id,),
        )
        tasks = self._query(
            f"SELECT {_TASK_COLUMNS} FROM tasks WHERE incident_id = ?"
            " ORDER BY due_at, key, task_id",
            (incident_id,),
        )
        deliveries = self._query(
            "SELECT d.runner, e.key, d.seq, d.status, d.detail, d.attempts, d.updated_at"
            " FROM events e JOIN deliveries d ON d.seq = e.seq WHERE e.incident_id = ?"
            " ORDER BY d.seq, d.runner",
            (incident_id,),
        )
        return IncidentRecord(
            incident_id,
            json.loads(row[1]),
            row[2],
            row[3],
            tuple(map(tuple, history)),
            tuple(k[0] for k in keys),
            tuple(TaskState(*t) for t in tasks),
            tuple(DeliveryState(*d) for d in deliveries),
        )

    def task(self, key: str, task_id: str) -> TaskState | None:
        rows = self._query(
            f"SELECT {_TASK_COLUMNS} FROM tasks WHERE key = ? AND task_id = ?", (key, task_id)
        )
        return TaskState(*rows[0]) if rows else None

    def update_task(
        self,
        key: str,
        task_id: str,
        status: int,
        *,
        assignee: str = "",
        detail: str = "",
        updated_at: float | None = None,
    ) -> tuple[TaskState, bool] | None:
        """Set a task's status; an update older than the recorded one is ignored (applied=False).

        None when the activation has no such task.
        """
        at = self._now() if updated_at is None else updated_at
        with self._tx() as db:
            row = db.execute(
                "SELECT updated_at FROM tasks WHERE key = ? AND task_id = ?", (key, task_id)
            ).fetchone()
            if row is None:
                return None
            applied = row[0] is None or at >= row[0]
            if applied:
                db.execute(
                    "UPDATE tasks SET status = ?, assignee = ?, detail = ?, updated_at = ?"
                    " WHERE key = ? AND task_id = ?",
                    (status, assignee, detail, at, key, task_id),
                )
        state = self.task(key, task_id)
        assert state is not None
        return state, applied

    # -- feedback ----------------------------------------------------------

    def add_feedback(self, feedback: Mapping[str, Any]) -> int:
        """Keep one analyst label; returns its position for `feedback_after`."""
        text = json.dumps(feedback, ensure_ascii=False, default=_json_default)
        with self._tx() as db:
            return db.execute(
                "INSERT INTO feedback (payload, received_at) VALUES (?, ?)", (text, self._now())
            ).lastrowid

    def feedback_after(self, cursor: int, limit: int = 1000) -> list[tuple[int, dict[str, Any]]]:
        """Feedback newer than `cursor` as (position, label), oldest first: what the model learns from."""
        rows = self._query(
            "SELECT seq, payload FROM feedback WHERE seq > ? ORDER BY seq LIMIT ?", (cursor, limit)
        )
        return [(seq, json.loads(payload)) for seq, payload in rows]

    # -- change feed for the metrics store -----------------------------------

    def deliveries_changed_since(self, since: float, limit: int = 50_000) -> list[tuple]:
        """Deliveries updated after `since` (epoch s), joined with their event, oldest first.

        Rows: runner, seq, key, kind, incident_id, brand, category, tier,
        departments (comma-joined), attempts, status, detail, enqueued_at,
        delivered_at, updated_at. Feeds the `deliveries` table in ClickHouse.
        """
        return self._query(
            "SELECT d.runner, d.seq, e.key, e.kind, e.incident_id, e.brand, e.category, e.tier,"
            " e.departments, d.attempts, d.status, d.detail, e.enqueued_at, d.delivered_at,"
            " d.updated_at FROM deliveries d JOIN events e ON e.seq = d.seq"
            " WHERE d.updated_at > ? ORDER BY d.updated_at LIMIT ?",
            (since, limit),
        )

    def tasks_changed_since(self, since: float, limit: int = 50_000) -> list[tuple]:
        """Tasks created or updated after `since` (epoch s), oldest first (columns of `tasks`).

        A task never updated counts as changed when its activation was enqueued.
        """
        return self._query(
            "SELECT t.key, t.task_id, t.incident_id, t.brand, t.department, t.status, t.assignee,"
            " t.detail, t.due_at, coalesce(t.updated_at, e.enqueued_at) AS changed"
            " FROM tasks t JOIN events e ON e.key = t.key WHERE changed > ?"
            " ORDER BY changed LIMIT ?",
            (since, limit),
        )


_EVENT_FIELDS = (
    "seq",
    "key",
    "kind",
    "payload",
    "brand",
    "category",
    "tier",
    "departments",
    "priority",
    "incident_id",
    "enqueued_at",
)
_EVENT_COLUMNS = ", ".join(_EVENT_FIELDS)
_EVENT_COLUMNS_E = ", ".join(f"e.{c}" for c in _EVENT_FIELDS)
_TASK_COLUMNS = (
    "key, task_id, incident_id, brand, department, status, assignee, detail, due_at, updated_at"
)


def _event(row: tuple) -> Event:
    values = list(row)
    values[7] = tuple(d for d in values[7].split(",") if d)
    values[3] = bytes(values[3])
    return Event(*values)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _epoch(value: Any) -> float | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value.timestamp() if value.tzinfo else value.replace(tzinfo=None).timestamp()
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
