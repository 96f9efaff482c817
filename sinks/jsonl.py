"""Append-only JSONL file output with exactly-once lines across restarts.

The file is one Bytewax partition whose snapshot is its byte length; on resume
the file is cut back to the snapshotted length, so lines written after the last
snapshot are written again exactly once instead of twice.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

from yuqing.errors import UserError


class _JsonlPartition(StatefulSinkPartition[bytes, int]):
    def __init__(self, path: Path, resume_at: int | None, on_write: Callable[[int], None] | None):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "ab")  # noqa: SIM115 - kept open for the run
        except OSError as err:
            raise UserError(f"cannot write {path}: {err.strerror}; choose a writable path") from None
        if resume_at is not None and resume_at <= self._file.tell():
            self._file.truncate(resume_at)
            self._file.seek(resume_at)
        self._on_write = on_write

    def write_batch(self, items: list[bytes]) -> None:
        self._file.write(b"".join(line + b"\n" for line in items))
        self._file.flush()
        if self._on_write:
            self._on_write(len(items))

    def snapshot(self) -> int:
        self._file.flush()
        os.fsync(self._file.fileno())
        return self._file.tell()

    def close(self) -> None:
        self._file.close()


class JsonlSink(FixedPartitionedSink[bytes, int]):
    """Writes encoded JSON lines (bytes, no newline) to one file."""

    def __init__(self, path: Path, on_write: Callable[[int], None] | None = None) -> None:
        self.path = Path(path)
        self.on_write = on_write

    def list_parts(self) -> list[str]:
        return [str(self.path)]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _JsonlPartition:
        return _JsonlPartition(self.path, resume_state, self.on_write)
