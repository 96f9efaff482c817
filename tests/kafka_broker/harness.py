"""A real Apache Kafka broker for tests: KRaft, one node that is broker and controller.

The jars come from Maven Central (``pom.xml`` next to this file) and are cached
under ``<repo>/.cache/kafka-4.1.0/lib``. A broker is one JVM on loopback with
its data in a temporary directory that is removed when it stops::

    lib = ensure_kafka_jars(repo / ".cache")
    with KafkaBroker(lib) as kafka:
        kafka.create_topics(["mentions"], partitions=3)
        kafka.produce("mentions", [b"a", b"b"])
        assert sorted(kafka.consume_all("mentions")) == [b"a", b"b"]

Nothing is mocked: clients talk to ``kafka.bootstrap`` ("127.0.0.1:PORT")
exactly as they would talk to a production cluster. The JVM is stopped by
``stop()``, by the context manager, at interpreter exit, and (on Linux) by the
kernel if the Python process dies without cleaning up.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import fcntl
import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import weakref
from collections.abc import Iterable
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

KAFKA_VERSION = "4.1.0"
POM = Path(__file__).with_name("pom.xml")
MARKER = ".complete"
MVN_TIMEOUT = 900  # seconds; a first download is about 43 MB
WORKDIR_PREFIX = "yuqing-kafka-"  # + owner pid + "-" + random, in the system temp dir

# librdkafka reports every refused connection while the broker boots; keep
# client chatter in Python logging instead of on stderr.
_client_log = logging.getLogger("tests.kafka_broker.client")
_client_log.addHandler(logging.NullHandler())  # captured by pytest, never printed raw


class KafkaHarnessError(RuntimeError):
    """The test broker could not be provided; the message says what to fix."""


class _ExitedWhileStarting(KafkaHarnessError):
    """The JVM died before serving; worth one retry on fresh ports."""


def ensure_kafka_jars(cache_dir: Path) -> Path:
    """Return the directory of Kafka jars, fetching them with Maven if needed.

    ``cache_dir`` is the repository's ``.cache``; the jars go to
    ``cache_dir/kafka-4.1.0/lib``. A marker file holding the hash of
    ``pom.xml`` is written only after Maven succeeds, so an interrupted download
    or a changed pom is fetched again. A file lock keeps parallel test
    processes from downloading into the same directory at once.
    """
    lib = Path(cache_dir) / f"kafka-{KAFKA_VERSION}" / "lib"
    marker = lib / MARKER
    pom_hash = hashlib.sha256(POM.read_bytes()).hexdigest()
    if _marker_matches(marker, pom_hash):
        return lib

    lib.parent.mkdir(parents=True, exist_ok=True)
    with open(lib.parent / "download.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _marker_matches(marker, pom_hash):  # another process finished first
            return lib
        for tool, hint in (("java", "a JDK 17+"), ("mvn", "Apache Maven")):
            if shutil.which(tool) is None:
                raise KafkaHarnessError(
                    f"`{tool}` is not on PATH: install {hint} to fetch the test Kafka broker"
                )
        shutil.rmtree(lib, ignore_errors=True)
        command = [
            "mvn", "-q", "-B", "-f", str(POM),
            "dependency:copy-dependencies", f"-DoutputDirectory={lib}",
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, check=False, timeout=MVN_TIMEOUT
            )
        except subprocess.TimeoutExpired:
            raise KafkaHarnessError(
                f"fetching Kafka {KAFKA_VERSION} jars took over {MVN_TIMEOUT} s: {' '.join(command)}"
            ) from None
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip()[-3000:]
            raise KafkaHarnessError(
                f"fetching Kafka {KAFKA_VERSION} jars failed (exit {done.returncode}):"
                f" {' '.join(command)}\n{output}"
            )
        if not any(lib.glob(f"kafka_2.13-{KAFKA_VERSION}.jar")):
            raise KafkaHarnessError(f"Maven succeeded but {lib} holds no kafka_2.13 jar")
        marker.write_text(pom_hash + "\n")
    return lib


def _marker_matches(marker: Path, pom_hash: str) -> bool:
    try:
        return marker.read_text().strip() == pom_hash
    except FileNotFoundError:
        return False


def random_cluster_id() -> str:
    """A cluster id as Kafka writes one: a random UUID in URL-safe base64, no padding."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka avoids ids that look like CLI flags
            return text


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class KafkaBroker:
    """One Kafka 4.1 JVM in KRaft combined mode (broker + controller) on loopback.

    Parameters
    ----------
    lib_dir
        Directory of Kafka jars, as returned by :func:`ensure_kafka_jars`.
    heap
        JVM maximum heap (``-Xmx``). 512m is plenty for tests.
    startup_timeout
        Seconds to wait until an AdminClient can list topics.
    extra_config
        ``server.properties`` entries that override the defaults below.
    log_level
        SLF4J level of the broker log (``warn`` keeps start-up fast; ``info``
        writes about 2,000 lines and costs most of a second).
    """

    def __init__(
        self,
        lib_dir: Path,
        *,
        heap: str = "512m",
        startup_timeout: float = 60.0,
        extra_config: dict[str, str] | None = None,
        log_level: str = "warn",
    ) -> None:
        self.lib_dir = Path(lib_dir)
        self.heap = heap
        self.startup_timeout = startup_timeout
        self.extra_config = dict(extra_config or {})
        self.log_level = log_level
        self.port = 0
        self.controller_port = 0
        self.workdir: Path | None = None
        self.startup_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize | None = None

    # -- lifecycle ---------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """``bootstrap.servers`` for clients, e.g. ``"127.0.0.1:40123"``."""
        if not self.port:
            raise KafkaHarnessError("the broker is not started")
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id of the running JVM, or None."""
        return None if self._process is None else self._process.pid

    @property
    def log_path(self) -> Path:
        """File that receives the JVM's stdout and stderr."""
        if self.workdir is None:
            raise KafkaHarnessError("the broker is not started")
        return self.workdir / "kafka.log"

    def start(self) -> KafkaBroker:
        """Format storage, launch the JVM and wait until it serves metadata.

        If the JVM exits while starting (typically because another process
        took one of the chosen ports in between), it is tried once more on
        fresh ports.
        """
        if self._process is not None:
            return self
        if shutil.which("java") is None:
            raise KafkaHarnessError("`java` is not on PATH: install a JDK 17+ to run Kafka")
        if not any(self.lib_dir.glob("kafka_2.13-*.jar")):
            raise KafkaHarnessError(f"no Kafka jars in {self.lib_dir}: call ensure_kafka_jars()")
        began = time.monotonic()
        for attempt in (1, 2):
            try:
                self._launch()
                break
            except _ExitedWhileStarting:
                self.stop()
                if attempt == 2:
                    raise
            except BaseException:
                self.stop()
                raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _launch(self) -> None:
        _remove_orphaned_workdirs()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
        self.port, self.controller_port = free_port(), free_port()
        while self.controller_port == self.port:
            self.controller_port = free_port()
        config = self.workdir / "server.properties"
        config.write_text(
            "".join(f"{key}={value}\n" for key, value in self._server_properties().items())
        )
        self._format_storage(config)
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(
                self._java("kafka.Kafka", str(config), heap=self.heap),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                process_group=0,  # Ctrl-C reaches pytest only; its teardown stops us
                preexec_fn=_die_with_parent,
            )
        # Runs at stop(), at garbage collection or at interpreter exit
        # (weakref.finalize registers itself with atexit), whichever comes
        # first; it holds no reference to self.
        self._finalizer = weakref.finalize(self, _terminate, self._process, self.workdir)
        self._wait_until_ready()

    def stop(self) -> None:
        """Stop the JVM (SIGTERM, then SIGKILL after 10 s) and delete its data."""
        if self._finalizer is not None:
            self._finalizer()
        elif self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self._process = None
        self._finalizer = None
        self.port = self.controller_port = 0

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _server_properties(self) -> dict[str, str]:
        controller = f"127.0.0.1:{self.controller_port}"
        listeners = f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://{controller}"
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "listeners": listeners,
            "advertised.listeners": listeners,
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            # Kafka 4.x dynamic quorum; formatted with --standalone below.
            "controller.quorum.bootstrap.servers": controller,
            "log.dirs": str(self.workdir / "data"),
            # A single node cannot hold more than one replica of anything.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Internal topics default to 50 partitions, which makes the first
            # consumer group (or transaction) wait for 50 partition creations.
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.num.partitions": "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            # Small and few: two cores, short-lived data.
            "num.network.threads": "2",
            "num.io.threads": "2",
            "background.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "log.segment.bytes": str(16 * 1024 * 1024),
            "log.index.size.max.bytes": str(1024 * 1024),
            "log.cleaner.dedupe.buffer.size": str(2 * 1024 * 1024),
        }
        properties.update(self.extra_config)
        return properties

    def _java(self, main_class: str, *args: str, heap: str) -> list[str]:
        return [
            "java",
            f"-Xmx{heap}",
            "-Xms64m",
            "-XX:+UseSerialGC",  # two cores: no parallel GC threads competing with tests
            # C1 only: measured here, it starts faster and also moves short test
            # workloads faster than C1+C2, whose compiler threads compete for 2 cores.
            "-XX:TieredStopAtLevel=1",
            "-XX:-UsePerfData",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            # Used once pom.xml yields a working SLF4J binding: slf4j-simple 2.x
            # needs slf4j-api 2.x, while kafka_2.13 4.1.0 pulls in slf4j-api 1.7.36.
            "-Dorg.slf4j.simpleLogger.logFile=System.out",
            f"-Dorg.slf4j.simpleLogger.defaultLogLevel={self.log_level}",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
            "-cp",
            str(self.lib_dir / "*"),
            main_class,
            *args,
        ]

    def _format_storage(self, config: Path) -> None:
        command = self._java(
            "kafka.tools.StorageTool", "format", "--standalone",
            "--cluster-id", random_cluster_id(), "--config", str(config),
            heap="256m",
        )  # fmt: skip
        done = subprocess.run(
            command, capture_output=True, text=True, cwd=self.workdir, check=False, timeout=60
        )
        if done.returncode != 0:
            raise KafkaHarnessError(
                f"kafka-storage format failed (exit {done.returncode}):\n"
                f"{(done.stdout + done.stderr).strip()[-3000:]}"
            )

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        admin = self.admin()
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise _ExitedWhileStarting(
                    f"Kafka exited with code {self._process.returncode} while starting;"
                    f" log {self.log_path}:\n{self.log_excerpt()}"
                )
            try:
                metadata = admin.list_topics(timeout=1.0)
                if metadata.brokers:
                    return
            except KafkaException:
                pass
            if time.monotonic() > deadline:
                raise KafkaHarnessError(
                    f"Kafka did not answer on {self.bootstrap} within {self.startup_timeout:.0f} s;"
                    f" log {self.log_path}:\n{self.log_excerpt()}"
                )
            time.sleep(0.1)

    def log_excerpt(self, errors: int = 10, tail: int = 20) -> str:
        """The first error lines and the last lines of the JVM output, for messages."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except (FileNotFoundError, KafkaHarnessError):
            return "(no log)"
        markers = (" ERROR ", " FATAL ", "Exception:", "Caused by:")
        first_errors = [line for line in lines if any(m in line for m in markers)][:errors]
        parts = [*first_errors, "..."] if first_errors else []
        return "\n".join([*parts, *lines[-tail:]]) or "(empty log)"

    # -- client helpers ----------------------------------------------------

    def client_config(self, **overrides: object) -> dict[str, object]:
        """Base configuration for a confluent-kafka client of this broker."""
        return {"bootstrap.servers": self.bootstrap, "logger": _client_log, **overrides}

    def admin(self) -> AdminClient:
        return AdminClient(self.client_config())

    def create_topics(self, names: Iterable[str], partitions: int = 1) -> None:
        """Create topics and wait until every partition has a leader."""
        names = list(names)
        admin = self.admin()
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names],
            operation_timeout=30,
            request_timeout=30,
        )
        for future in futures.values():
            future.result(timeout=60)
        deadline = time.monotonic() + 30
        pending = set(names)
        while pending:
            metadata = admin.list_topics(timeout=5)
            for name in list(pending):
                topic = metadata.topics.get(name)
                if (
                    topic is not None
                    and topic.error is None
                    and len(topic.partitions) == partitions
                    and all(p.leader >= 0 for p in topic.partitions.values())
                ):
                    pending.discard(name)
            if pending and time.monotonic() > deadline:
                raise KafkaHarnessError(f"topics without leaders after 30 s: {sorted(pending)}")
            if pending:
                time.sleep(0.05)

    def produce(self, topic: str, values: list[bytes], key: bytes | None = None) -> None:
        """Write ``values`` to ``topic`` (all with ``key`` if given) and wait for acks.

        With a key, all records land in the key's partition, in order; without
        one, librdkafka's partitioner chooses (sticky per batch, so a small
        call may fill one partition). Raises if any record is not delivered.
        """
        producer = Producer(self.client_config(**{"acks": "all", "linger.ms": 5}))
        errors: list[KafkaError] = []

        def on_delivery(error: KafkaError | None, _message: object) -> None:
            if error is not None:
                errors.append(error)

        for value in values:
            while True:
                try:
                    producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                    break
                except BufferError:  # local queue full: let deliveries drain
                    producer.poll(0.1)
            producer.poll(0)
        remaining = producer.flush(30)
        if remaining or errors:
            raise KafkaHarnessError(
                f"producing to {topic!r}: {remaining} undelivered, errors: {errors[:3]}"
            )

    def consume_all(self, topic: str, timeout: float = 30.0) -> list[bytes]:
        """Every committed value in ``topic`` right now, in (partition, offset) order.

        Reads each partition from its start to the high watermark taken when
        the call begins, by assignment (no consumer group rebalance, no commit),
        so it returns as soon as the last record is in. Raises ``TimeoutError``
        if the records cannot all be read within ``timeout`` seconds.
        """
        consumer = Consumer(
            self.client_config(
                **{
                    "group.id": f"harness-{uuid.uuid4().hex}",
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                }
            )
        )
        try:
            metadata = consumer.list_topics(topic, timeout=10)
            described = metadata.topics.get(topic)
            if described is None or described.error is not None:
                raise KafkaHarnessError(
                    f"topic {topic!r} not found: {described and described.error}"
                )
            ends: dict[int, int] = {}
            starts: list[TopicPartition] = []
            for partition in described.partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=10
                )
                if high > low:
                    ends[partition] = high
                    starts.append(TopicPartition(topic, partition, low))
            if not starts:
                return []
            consumer.assign(starts)
            records: list[tuple[int, int, bytes]] = []
            unfinished = set(ends)
            deadline = time.monotonic() + timeout
            while unfinished:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"consume_all({topic!r}): read {len(records)} records, partitions"
                        f" {sorted(unfinished)} unfinished after {timeout} s"
                    )
                for message in consumer.consume(num_messages=1000, timeout=0.2):
                    if message.error() is not None:
                        raise KafkaException(message.error())
                    partition, offset = message.partition(), message.offset()
                    if offset < ends[partition]:
                        records.append((partition, offset, message.value()))
                # The position, not the last record, says when a partition is
                # done: transaction markers take offsets but carry no record.
                for position in consumer.position([TopicPartition(topic, p) for p in unfinished]):
                    if position.offset >= ends[position.partition]:
                        unfinished.discard(position.partition)
            records.sort(key=lambda record: record[:2])
            return [value for _, _, value in records]
        finally:
            consumer.close()


def _terminate(process: subprocess.Popen[bytes], workdir: Path) -> None:
    """Stop the JVM politely, then by force, and delete its directory."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    shutil.rmtree(workdir, ignore_errors=True)


def _remove_orphaned_workdirs() -> None:
    """Delete broker directories left by Python processes that were killed outright."""
    for path in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*-*"):
        owner = path.name.removeprefix(WORKDIR_PREFIX).split("-", 1)[0]
        if not owner.isdigit():
            continue
        try:
            os.kill(int(owner), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:  # alive, someone else's
            pass


_PR_SET_PDEATHSIG = 1
_prctl = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError, AttributeError):
        _prctl = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent() -> None:
    """In the child before exec: have the kernel SIGKILL the JVM if Python dies.

    Covers the cases where no Python cleanup runs (SIGKILL of pytest, a CI
    timeout). Note the signal follows the *thread* that started the JVM, so
    start brokers from a thread that lives as long as the broker (pytest's
    main thread does).
    """
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
