"""Where data comes from and goes to: parsing the `--input/--store/--alerts/--dlq` specs.

Every spec a user types becomes a small typed object here, or a `UserError` that
names what is wrong and shows a form that works. Nothing connects yet; the
dataflow and sinks open what these describe.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from yuqing.errors import UserError

DEFAULT_STORE = "chdb://./var/clickhouse"
DEFAULT_DATABASE = "yuqing"


@dataclass(frozen=True)
class KafkaTopic:
    """A Kafka topic on a list of brokers, e.g. kafka://127.0.0.1:9092/mentions."""

    brokers: tuple[str, ...]
    topic: str
    stop_at_end: bool = False  # inputs only: end the run at the end of every partition

    @property
    def bootstrap(self) -> str:
        return ",".join(self.brokers)

    def __str__(self) -> str:
        return f"kafka://{self.bootstrap}/{self.topic}"


@dataclass(frozen=True)
class DemoInput:
    """The built-in generator of realistic mentions with labelled crises."""


@dataclass(frozen=True)
class StdinInput:
    """JSONL mentions on standard input."""


@dataclass(frozen=True)
class FileInput:
    """A JSONL file of mentions, one per line."""

    path: Path


InputSpec = DemoInput | StdinInput | FileInput | KafkaTopic


@dataclass(frozen=True)
class StoreSpec:
    """A ClickHouse store: embedded chDB on a directory, or a server over HTTP(S)."""

    kind: str  # "chdb" or "server"
    database: str = DEFAULT_DATABASE
    path: Path | None = None
    host: str = ""
    port: int = 8123
    username: str = "default"
    password: str = ""
    secure: bool = False

    def __str__(self) -> str:
        if self.kind == "chdb":
            return f"chdb://{self.path}?database={self.database}"
        scheme = "clickhouses" if self.secure else "clickhouse"
        return f"{scheme}://{self.username}@{self.host}:{self.port}/{self.database}"


@dataclass(frozen=True)
class FileOutput:
    """A JSONL file that records are appended to."""

    path: Path


OutputSpec = FileOutput | KafkaTopic


def parse_input(spec: str, flag: str = "--input") -> InputSpec:
    """`demo`, `-` (stdin), a JSONL path, or kafka://HOST:PORT/TOPIC[?until=end]."""
    if spec == "demo" and flag == "--input":
        return DemoInput()
    if spec == "-":
        return StdinInput()
    if spec.startswith("kafka:"):
        return parse_kafka(spec, what=flag, allow_until=True)
    if "://" in spec:
        raise UserError(
            f"{flag} {spec!r}: unknown scheme; use demo, -, a .jsonl path or kafka://HOST:PORT/TOPIC"
        )
    path = Path(spec)
    if not path.is_file():
        raise UserError(
            f"{flag} {spec!r}: no such file; give an existing JSONL file, '-' for stdin, "
            "'demo' or kafka://HOST:PORT/TOPIC"
        )
    return FileInput(path)


def parse_output(spec: str, flag: str) -> OutputSpec:
    """A JSONL path (parent folders are created) or kafka://HOST:PORT/TOPIC."""
    if spec.startswith("kafka:"):
        return parse_kafka(spec, what=flag, allow_until=False)
    if "://" in spec:
        raise UserError(f"{flag} {spec!r}: unknown scheme; use a .jsonl path or kafka://HOST:PORT/TOPIC")
    path = Path(spec)
    if path.is_dir():
        raise UserError(f"{flag} {spec!r} is a directory; give a file path such as {path / 'out.jsonl'}")
    return FileOutput(path)


def parse_kafka(spec: str, what: str, allow_until: bool) -> KafkaTopic:
    """kafka://HOST:PORT[,HOST:PORT...]/TOPIC, with ?until=end for finite replays."""
    parts = urlsplit(spec)
    example = "kafka://127.0.0.1:9092/mentions"
    if parts.scheme != "kafka" or not parts.netloc:
        raise UserError(f"{what} {spec!r}: expected {example}")
    brokers = tuple(b for b in parts.netloc.split(",") if b)
    for broker in brokers:
        host, _, port = broker.rpartition(":")
        if not host or not port.isdigit():
            raise UserError(f"{what} {spec!r}: broker {broker!r} needs HOST:PORT, e.g. {example}")
    topic = parts.path.strip("/")
    if not topic or "/" in topic:
        raise UserError(f"{what} {spec!r}: name one topic after the brokers, e.g. {example}")
    query = parse_qs(parts.query)
    until = query.pop("until", [""])[-1]
    if query:
        raise UserError(f"{what} {spec!r}: unknown option(s) {sorted(query)}; only ?until=end exists")
    if until not in ("", "end") or (until and not allow_until):
        raise UserError(f"{what} {spec!r}: ?until=end is the only option, and only for --input")
    return KafkaTopic(brokers, topic, stop_at_end=until == "end")


def parse_store(spec: str) -> StoreSpec:
    """chdb://DIR[?database=NAME] or clickhouse[s]://USER:PASS@HOST:PORT/DB."""
    parts = urlsplit(spec)
    query = parse_qs(parts.query)
    if parts.scheme == "chdb":
        raw_path = unquote(parts.netloc + parts.path)
        if not raw_path:
            raise UserError(f"--store {spec!r}: give a directory, e.g. chdb:///var/lib/yuqing")
        database = query.get("database", [DEFAULT_DATABASE])[-1]
        return StoreSpec(kind="chdb", path=Path(raw_path).resolve(), database=_database(database, spec))
    if parts.scheme in ("clickhouse", "clickhouses", "http", "https"):
        if not parts.hostname:
            raise UserError(f"--store {spec!r}: missing host, e.g. clickhouse://default:@127.0.0.1:8123/yuqing")
        secure = parts.scheme in ("clickhouses", "https")
        try:
            port = parts.port or (8443 if secure else 8123)
        except ValueError:
            raise UserError(f"--store {spec!r}: the port must be a number") from None
        return StoreSpec(
            kind="server",
            host=parts.hostname,
            port=port,
            username=unquote(parts.username or "default"),
            password=unquote(parts.password or os.environ.get("YUQING_CLICKHOUSE_PASSWORD", "")),
            database=_database(parts.path.strip("/") or DEFAULT_DATABASE, spec),
            secure=secure,
        )
    raise UserError(
        f"--store {spec!r}: use chdb:///DIR (embedded) or clickhouse://USER:PASS@HOST:8123/DB (server)"
    )


def _database(name: str, spec: str) -> str:
    if not name.replace("_", "").isalnum():
        raise UserError(f"--store {spec!r}: database {name!r} may hold only letters, digits and _")
    return name
