"""The run's own metrics, sampled into the store for Grafana's pipeline dashboard.

`/metrics` needs a Prometheus server to keep a history; many teams that run
this service have Grafana on ClickHouse and nothing else. So every few seconds
the same samples `/metrics` serves (counters, Kafka lag per partition, outbox
depth per runner, sink batch timings) are appended to `pipeline_metrics`, and
once more when the run ends, so even a short replay leaves a record.
"""

from __future__ import annotations

import logging
import socket
import threading
from datetime import UTC, datetime

from yuqing.core.endpoints import StoreSpec
from yuqing.dataflows.status import RunStatus
from yuqing.sinks import tables
from yuqing.sinks.clickhouse import Store

log = logging.getLogger("yuqing.status")


class MetricsRecorder:
    """Appends a sample of every metric to `pipeline_metrics` every `every` seconds."""

    def __init__(self, status: RunStatus, store: StoreSpec, every: float,
                 process: str | None = None) -> None:
        self.status, self.spec, self.every = status, store, every
        self.process = process or socket.gethostname()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed = False

    def rows(self, at: datetime | None = None) -> list[tuple]:
        at = at or datetime.now(UTC)
        return [
            (at, self.process, family.name, {k: str(v) for k, v in labels.items()}, float(value))
            for family in self.status.families()
            for labels, value in family.samples
        ]

    def record(self, store: Store) -> None:
        try:
            store.insert(tables.PIPELINE_METRICS, self.rows())
        except Exception as err:  # the dashboard misses a sample; the flow goes on
            if not self._failed:
                log.warning("could not record pipeline metrics in the store: %s", err)
            self._failed = True

    def start(self) -> MetricsRecorder:
        def loop() -> None:
            store = Store(self.spec)
            try:
                while not self._stop.wait(self.every):
                    self.record(store)
                self.record(store)  # the last state, also for runs shorter than `every`
            finally:
                store.close()

        self._thread = threading.Thread(target=loop, name="metrics-recorder", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
