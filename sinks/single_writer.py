"""A destination only one process may open: every item goes to one partition, in that process.

The embedded chDB store and the SQLite outbox each allow one process per
file. When the dataflow runs on several processes, Bytewax asks each worker
which partitions it can reach (`list_parts`); only the process that owns the
destination names the one partition, so Bytewax places it there and routes
every item to it. On one process this is simply one writer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition, StatelessSinkPartition


class _Writer(StatefulSinkPartition[Any, None]):
    def __init__(self, inner: StatelessSinkPartition) -> None:
        self._inner = inner

    def write_batch(self, values: list[list[Any]]) -> None:
        self._inner.write_batch([item for bundle in values for item in bundle])

    def snapshot(self) -> None:
        flush = getattr(self._inner, "flush", None)
        if flush is not None:  # rows a writer holds are stored before the epoch is committed
            flush()
        return None  # the destination itself is idempotent by key

    def close(self) -> None:
        self._inner.close()


class SingleWriterSink(FixedPartitionedSink[Any, None]):
    """One partition named `name`, listed only where `owner` is true.

    Items are (key, list of values): each worker sends its batch as one item,
    so crossing to the owning process costs once per batch, not once per row.
    """

    def __init__(self, name: str, build: Callable[[], StatelessSinkPartition], owner: bool) -> None:
        self.name, self.build, self.owner = name, build, owner

    def list_parts(self) -> list[str]:
        return [self.name] if self.owner else []

    def part_fn(self, item_key: str) -> int:
        return 0

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _Writer:
        return _Writer(self.build())
