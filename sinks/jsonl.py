"""Append-only JSONL file output with exactly-once lines across restarts.

The file is one Bytewax partition whose snapshot is its byte length; on resume
the file is cut back to the snapshotted length, so lines written after the last
snapshot are written again exactly once instead of twice. A run killed before
its first snapshot has no length to go back to; with `base` (the file's
length when the recovery store was created, kept beside it) the file is cut
back to that instead, so a consumer never reads a line twice.
"""

from __future__ import annotations

import json
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

    def __init__(self, path: Path, on_write: Callable[[int], None] | None = None,
                 base: int | None = None) -> None:
        self.path = Path(path)
        self.on_write = on_write
        self.base = base

    def list_parts(self) -> list[str]:
        return [str(self.path)]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _JsonlPartition:
        resume_at = resume_state if resume_state is not None else self.base
        return _JsonlPartition(self.path, resume_at, self.on_write)


def base_lengths(recovery: Path, paths: list[Path]) -> dict[str, int]:
    """Each file's length when the recovery store first saw it, recorded in the store's folder.

    The first start with a recovery folder records the files' lengths; every
    later start reads them back, so a run killed before its first snapshot
    can cut its outputs back to where that run began.
    """
    record = Path(recovery) / "yuqing-jsonl-base.json"
    try:
        known = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    changed = False
    for path in paths:
        key = str(Path(path).resolve())
        if key not in known:
            known[key] = Path(path).stat().st_size if Path(path).exists() else 0
            changed = True
    if changed:
        record.write_text(json.dumps(known, ensure_ascii=False), encoding="utf-8")
    return {key: known[str(Path(key).resolve())] for key in map(str, paths)}
