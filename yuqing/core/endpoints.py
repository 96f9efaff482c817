"""Where data comes from and goes to: parsing the `--input/--store/--alerts/--dlq` specs.

Every spec a user types becomes a small typed object here, or a `UserError` that
names what is wrong and shows a form that works. Nothing connects yet; the
dataflow and sinks open what these describe.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
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
    settings: tuple[tuple[str, str], ...] = ()  # librdkafka client settings (SASL, SSL, client.id…)

    @property
    def bootstrap(self) -> str:
        return ",".join(self.brokers)

    def client_config(self, **extra: object) -> dict[str, object]:
        """The librdkafka configuration for this endpoint: brokers, its settings, then `extra`."""
        return {"bootstrap.servers": self.bootstrap, **dict(self.settings), **extra}

    def with_settings(self, defaults: dict[str, str]) -> KafkaTopic:
        """This endpoint with `defaults` (from a file or the environment) under its own settings."""
        return replace(self, settings=tuple({**defaults, **dict(self.settings)}.items()))

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


# librdkafka setting names are dotted lower-case words; the flow owns these ones.
_SETTING_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*")
RESERVED_SETTINGS = frozenset({
    "bootstrap.servers", "group.id", "enable.auto.commit", "enable.partition.eof",
    "auto.offset.reset", "logger", "on_delivery", "error_cb", "stats_cb",
})
ENV_PREFIX = "YUQING_KAFKA_"


def kafka_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Client settings for every Kafka endpoint: a properties file, then `YUQING_KAFKA_*` variables.

    The file holds `key=value` lines (`#` comments), as Kafka's `client.properties`
    does. A variable `YUQING_KAFKA_SASL_PASSWORD=…` sets `sasl.password`, keeping
    secrets out of URLs and files. The run's own variables (`YUQING_KAFKA_GROUP`,
    `YUQING_KAFKA_START`, `YUQING_KAFKA_CONFIG`) are not client settings.
    """
    settings: dict[str, str] = {}
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise UserError(f"--kafka-config {path}: cannot read ({err.strerror})") from None
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith(("#", "!")):
                continue
            key, sep, value = line.partition("=")
            key = key.strip()
            if not sep or not _SETTING_NAME.fullmatch(key) or key in RESERVED_SETTINGS:
                raise UserError(
                    f"--kafka-config {path}:{number}: expected key=value with a librdkafka "
                    f"setting (e.g. security.protocol=SASL_SSL), got {raw.strip()!r}"
                )
            settings[key] = value.strip()
    env = os.environ if environ is None else environ
    own = {"GROUP", "START", "CONFIG"}
    for name, value in sorted(env.items()):
        if name.startswith(ENV_PREFIX) and name[len(ENV_PREFIX):] not in own:
            key = name[len(ENV_PREFIX):].lower().replace("_", ".")
            if key in RESERVED_SETTINGS:
                raise UserError(f"{name}: {key} is set by the run itself; remove the variable")
            settings[key] = value
    return settings


def parse_kafka(spec: str, what: str, allow_until: bool) -> KafkaTopic:
    """kafka://HOST:PORT[,HOST:PORT...]/TOPIC[?until=end][&SETTING=VALUE...].

    `until=end` ends an input at the end of every partition (a finite replay);
    any other option is a librdkafka client setting for this endpoint only.
    """
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
    if until not in ("", "end") or (until and not allow_until):
        raise UserError(f"{what} {spec!r}: ?until=end ends a replay, and only for --input")
    settings = {}
    for key, values in query.items():
        if not _SETTING_NAME.fullmatch(key) or key in RESERVED_SETTINGS:
            raise UserError(
                f"{what} {spec!r}: {key!r} is not a client setting we pass on; give librdkafka "
                "settings such as ?client.id=radar&security.protocol=SASL_SSL "
                f"(not {', '.join(sorted(RESERVED_SETTINGS))})"
            )
        settings[key] = values[-1]
    return KafkaTopic(brokers, topic, stop_at_end=until == "end", settings=tuple(settings.items()))


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
