"""The action bus as flow outputs: incidents, activations and tickets into the durable outbox.

Appending is idempotent by key (the outbox returns the known cursor for a
repeated key), so Bytewax's at-least-once replays after a restart publish
nothing twice. One write_batch is one SQLite transaction (one disk sync).
"""

from __future__ import annotations

from collections.abc import Callable

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from yuqing.bus.outbox import Outbox
from yuqing.bus.server import entry_of
from yuqing.proto import activation_pb2

BusMessage = activation_pb2.Activation | activation_pb2.Ticket


class _OutboxPartition(StatelessSinkPartition[BusMessage]):
    def __init__(self, outbox: Outbox, on_write: Callable[[int], None] | None) -> None:
        self._outbox = outbox
        self._on_write = on_write

    def write_batch(self, items: list[BusMessage]) -> None:
        self._outbox.append_many(entry_of(message) for message in items)
        if self._on_write:
            self._on_write(len(items))


class OutboxSink(DynamicSink[BusMessage]):
    """Publishes activations and tickets to the bus's outbox (shared with the gRPC server)."""

    def __init__(self, outbox: Outbox, on_write: Callable[[int], None] | None = None) -> None:
        self.outbox = outbox
        self.on_write = on_write

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _OutboxPartition:
        return _OutboxPartition(self.outbox, self.on_write)


class _IncidentPartition(StatelessSinkPartition[dict]):
    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def write_batch(self, items: list[dict]) -> None:
        for snapshot in items:
            self._outbox.record_incident(snapshot)


class IncidentRecordSink(DynamicSink[dict]):
    """Keeps each incident's latest snapshot in the outbox for ListIncidents/GetIncident."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _IncidentPartition:
        return _IncidentPartition(self.outbox)
