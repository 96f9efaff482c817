"""A destination in every process: item `(process key, value)` reaches that process only.

Some state is per process, not per worker or per key: the sentiment board
every worker thread of a process scores with. To change it everywhere, the
flow sends one copy of an item per process (`to_every_process`); this sink
has one partition per process, listed only by that process, so Bytewax
places each partition in its own process and routes each copy home.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

Apply = Callable[[list[Any]], None]


def process_key(process_id: int) -> str:
    """The partition of one process (zero-padded: Bytewax orders partitions by name)."""
    return f"process-{process_id:04d}"


def to_every_process(value: Any, processes: int) -> list[tuple[str, Any]]:
    """One copy of `value` per process of the cluster, keyed for this sink."""
    return [(process_key(p), value) for p in range(processes)]


class _Local(StatefulSinkPartition[Any, None]):
    def __init__(self, apply: Apply) -> None:
        self._apply = apply

    def write_batch(self, values: list[Any]) -> None:
        self._apply(values)

    def snapshot(self) -> None:
        return None  # what it applies is rebuilt from the senders' own state


class ProcessLocalSink(FixedPartitionedSink[Any, None]):
    """One partition per process; `apply` runs in the process the item was sent to."""

    def __init__(self, process_id: int, apply: Apply) -> None:
        self.process_id, self.apply = process_id, apply

    def list_parts(self) -> list[str]:
        return [process_key(self.process_id)]

    def part_fn(self, item_key: str) -> int:
        return int(item_key.rsplit("-", 1)[1])

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _Local:
        return _Local(self.apply)
