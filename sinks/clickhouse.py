"""ClickHouse through clickhouse-connect: the same code for embedded chDB and a server.

`Store` opens a client for a `StoreSpec`, creates the schema idempotently and
inserts whole batches with column lists (never one INSERT per row).
`ClickHouseSink` is the Bytewax sink: each worker writes its batches to one table.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

import clickhouse_connect
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError, ProgrammingError

from yuqing.core.endpoints import StoreSpec
from yuqing.errors import UserError
from yuqing.sinks.schema import Retention, migrate
from yuqing.sinks.tables import ALL_TABLES, Table

log = logging.getLogger(__name__)


def _rows_are_never_dataframes() -> None:
    """Spare the start-up a pandas import (~0.5 s of CPU, ~60 MB) that nothing here uses.

    clickhouse-connect imports pandas at the first insert only to ask whether
    the rows are a DataFrame; ours are lists of columns and no query asks for
    a DataFrame. Unless pandas is loaded already (then the question is free),
    tell the driver it is absent.
    """
    if "pandas" not in sys.modules:
        from clickhouse_connect.driver import options

        options.pd = None
        options.pd_time_test = None


_rows_are_never_dataframes()


class Store:
    """A connection to the metrics store plus the schema it needs."""

    def __init__(self, spec: StoreSpec) -> None:
        self.spec = spec
        self.client = _connect(spec)

    def ensure_schema(
        self, tables: Sequence[Table] = ALL_TABLES, retention: Retention | None = None
    ) -> list[str]:
        """Create or migrate every table (see `sinks/schema.py`); safe to run on every start.

        With `retention` the tables' TTLs are set to it; without, they are left alone.
        Returns what changed, in words.
        """
        return migrate(self.client, self.spec.database, tables, retention)

    def insert(self, table: Table, rows: Sequence[Sequence[Any]]) -> None:
        """One batched INSERT with an explicit column list.

        The rows go as columns, transposed by `zip` in C: the driver's own
        transpose of row-oriented data is a Python loop per value.
        """
        if rows:
            self.client.insert(
                f"{self.spec.database}.{table.name}", list(zip(*rows, strict=True)),
                column_names=list(table.columns), column_oriented=True,
            )

    def query(self, sql: str, parameters: dict | None = None) -> list[tuple]:
        return self.client.query(sql, parameters=parameters).result_rows

    def close(self) -> None:
        self.client.close()


CONNECT_TIMEOUT = 5  # seconds a server gets to answer before the start fails


def _connect(spec: StoreSpec):
    with _quiet_http_retries():
        return _open_client(spec)


QUIET_LOGGERS = ("urllib3.connectionpool", "clickhouse_connect.driver._backend.http_sync",
                 "clickhouse_connect.driver.httpclient")


@contextmanager
def _quiet_http_retries():
    """The HTTP driver logs a warning per retry; the one-line error says it all."""
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _reason(err: Exception) -> str:
    """What went wrong connecting, in a few words rather than the driver's retry trail."""
    text = str(err)
    for needle, words in (("Connection refused", "connection refused"),
                          ("Name or service not known", "unknown host"),
                          ("Temporary failure in name resolution", "unknown host"),
                          ("timed out", f"no answer within {CONNECT_TIMEOUT} s"),
                          ("Authentication failed", "authentication failed"),
                          ("AUTHENTICATION_FAILED", "authentication failed")):
        if needle in text:
            return words
    return text.strip().splitlines()[0] if text.strip() else type(err).__name__


def _open_client(spec: StoreSpec):
    try:
        if spec.kind == "chdb":
            assert spec.path is not None
            spec.path.mkdir(parents=True, exist_ok=True)
            client = clickhouse_connect.get_client(interface="chdb", path=str(spec.path))
        else:
            client = clickhouse_connect.get_client(
                host=spec.host,
                port=spec.port,
                username=spec.username,
                password=spec.password,
                secure=spec.secure,
                database="default",
                connect_timeout=CONNECT_TIMEOUT,
            )
    except (OperationalError, ProgrammingError, ClickHouseError) as err:
        first_line = _reason(err)
        hint = (
            "is another yuqing process using this chdb directory? chDB allows one process "
            "per directory"
            if spec.kind == "chdb"
            else "is the server up and the password right?"
        )
        raise UserError(f"--store {spec}: cannot open ({first_line}); {hint}") from None
    except OSError as err:
        raise UserError(f"--store {spec}: cannot open ({err}); check the path or host") from None
    return client


HOLD_ROWS = 2_000  # rows that, waiting, go in at once: a replay's big batches are not held


class _TablePartition(StatelessSinkPartition[Sequence[Any]]):
    """One table's writer: one INSERT per batch, or per ``hold`` seconds of batches.

    A live stream comes in small batches (at 2,000 mentions/s, ~34 inserts a
    second into `mentions`): each insert makes a part, and the engine spent as
    much CPU merging them as the flow did on the mentions. Held, rows wait up
    to ``hold`` seconds (or until `HOLD_ROWS` wait) and go in one insert. A
    thread inserts what waited too long when no batch comes; `flush` (the
    single writer's snapshot, at each epoch's end) and `close` insert the
    rest, so that what an epoch wrote is stored before the epoch is
    committed. An insert that fails keeps its rows and fails the next call
    from the flow, as an insert always did.
    """

    def __init__(
        self,
        spec: StoreSpec,
        table: Table,
        on_write: Callable[[int], None] | None,
        on_batch: Callable[[str, float], None] | None = None,
        hold: float = 0.0,
    ):
        self._store = Store(spec)
        self._table = table
        self._on_write = on_write
        self._on_batch = on_batch
        self._hold = hold
        self._rows: list[Sequence[Any]] = []
        self._since: float | None = None  # when the oldest waiting row came
        self._lock = threading.Lock()
        self._failed: Exception | None = None  # of the holding thread, raised in the flow's
        self._closing = threading.Event()
        self._holder: threading.Thread | None = None

    def write_batch(self, items: list[Sequence[Any]]) -> None:
        if self._hold <= 0:
            self._insert(items)
            return
        with self._lock:
            self._raise_failure()
            self._rows.extend(items)
            if self._since is None:
                self._since = time.monotonic()
            if len(self._rows) >= HOLD_ROWS or self._waited_enough():
                self._insert_waiting()
        if self._holder is None:
            self._holder = threading.Thread(target=self._hold_loop, daemon=True,
                                            name=f"hold-{self._table.name}")
            self._holder.start()

    def flush(self) -> None:
        """Insert every row that waits (and fail with what the holding thread met)."""
        with self._lock:
            self._raise_failure()
            self._insert_waiting()

    def _hold_loop(self) -> None:
        while not self._closing.wait(self._hold / 4):
            with self._lock:
                if self._failed is None and self._waited_enough():
                    try:
                        self._insert_waiting()
                    except Exception as err:  # kept for the flow's next call
                        self._failed = err

    def _waited_enough(self) -> bool:
        return self._since is not None and time.monotonic() - self._since >= self._hold

    def _raise_failure(self) -> None:
        if self._failed is not None:
            err, self._failed = self._failed, None
            raise err

    def _insert_waiting(self) -> None:
        if self._rows:
            self._insert(self._rows)  # on failure the rows stay
        self._rows, self._since = [], None

    def _insert(self, rows: list[Sequence[Any]]) -> None:
        started = time.perf_counter()
        self._store.insert(self._table, rows)
        if self._on_batch:
            self._on_batch(self._table.name, time.perf_counter() - started)
        if self._on_write:
            self._on_write(len(rows))

    def close(self) -> None:
        self._closing.set()
        if self._holder is not None:
            self._holder.join()
        try:
            self.flush()
        finally:
            self._store.close()


class ClickHouseSink(DynamicSink[Sequence[Any]]):
    """Writes row tuples (in `table.columns` order) to one table, a batch per insert.

    Rows must carry deterministic keys: the table's ReplacingMergeTree collapses
    the repeats that at-least-once delivery produces after a restart.
    """

    def __init__(
        self,
        spec: StoreSpec,
        table: Table,
        on_write: Callable[[int], None] | None = None,
        on_batch: Callable[[str, float], None] | None = None,
    ):
        self.spec = spec
        self.table = table
        self.on_write = on_write
        self.on_batch = on_batch  # (table, seconds) per batch, for /metrics

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _TablePartition:
        return self.partition()

    def partition(self, hold: float = 0.0) -> _TablePartition:
        """A writer of its own (its own client), for this sink or a single-writer one.

        ``hold`` > 0 only where something calls its `flush` at each epoch's end
        (the single writer does): Bytewax gives a sink of its own no such call.
        """
        return _TablePartition(self.spec, self.table, self.on_write, self.on_batch, hold)


class EmbeddedMemoryPurge:
    """Hands the embedded engine's freed memory back to the system every `every` seconds.

    chDB's allocator (jemalloc) keeps the pages that inserts and merges freed;
    over a long run they add tens of MB to the process (measured: 446 MB after
    150,000 inserted mentions, 373 MB after a purge; the 400k-mention soak's
    RSS fell from about 758 to 710 MB). A ClickHouse server manages its own
    memory, so this runs for `chdb://` stores only.
    """

    def __init__(self, spec: StoreSpec, every: float = 10.0) -> None:
        self.spec, self.every = spec, every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> EmbeddedMemoryPurge:
        if self.spec.kind == "chdb" and self.every > 0:
            self._thread = threading.Thread(target=self._loop, name="chdb-purge", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        store = Store(self.spec)
        try:
            while not self._stop.wait(self.every):
                try:
                    store.client.command("SYSTEM JEMALLOC PURGE")
                except Exception as err:  # an engine built without jemalloc: nothing to purge
                    log.debug("no jemalloc purge: %s", err)
                    return
        finally:
            store.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
