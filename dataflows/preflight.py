"""Open or check every destination before the flow starts, so a mistake is one line, at once.

Without these checks an unreachable broker hangs the start and an unwritable
file fails deep inside Bytewax with a Rust panic; here each one becomes a
`UserError` naming the flag, what is wrong and what to do.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path

from yuqing.bus.outbox import Outbox
from yuqing.bus.replicated import open_shared
from yuqing.core.endpoints import InputSpec, KafkaTopic, OutputSpec
from yuqing.dataflows.kafka_source import topic_partitions
from yuqing.errors import UserError


def check_output(spec: OutputSpec, flag: str) -> None:
    """A JSONL file we can append to (parents made), or a Kafka topic the broker has."""
    if isinstance(spec, KafkaTopic):
        topic_partitions(spec, flag)
        return
    path = spec.path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab"):
            pass
    except OSError as err:
        raise UserError(
            f"{flag} {path}: cannot write there ({_why(path, err)}); give a writable file path"
        ) from None


def check_input(spec: InputSpec | None, flag: str) -> None:
    """A Kafka input topic must answer within seconds; files were checked when parsed."""
    if isinstance(spec, KafkaTopic):
        topic_partitions(spec, flag)


def open_outbox(path: str | Path, kafka: Mapping[str, str] | None = None) -> Outbox:
    """The outbox, or a `UserError` when its file cannot be made or is not an outbox.

    `kafka://HOST:PORT/TOPIC` opens a replica of the bus log (`yuqing.bus.replicated`)
    with the librdkafka settings `kafka`.
    """
    replica = open_shared(path, kafka)
    if replica is not None:
        return replica
    path = Path(path)
    if str(path) != ":memory:":
        target = path
        if target.is_dir():
            raise UserError(f"--outbox {path}: is a directory; give a file such as {target / 'outbox.sqlite3'}")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(
                f"--outbox {path}: cannot make its folder ({_why(target, err)}); "
                "give a writable file path"
            ) from None
    try:
        return Outbox(path)
    except (OSError, sqlite3.Error) as err:
        raise UserError(
            f"--outbox {path}: cannot open it as an outbox ({err}); give a writable "
            "file path (a new one is made)"
        ) from None



def _why(path: Path, err: OSError) -> str:
    """The plain reason, naming the file that stands where a folder should be."""
    for parent in Path(path).parents:
        if parent.exists():
            return f"{parent} is a file, not a folder" if not parent.is_dir() else (
                err.strerror or str(err))
    return err.strerror or str(err)
