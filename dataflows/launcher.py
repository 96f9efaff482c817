"""Turn `yuqing run` options into a running dataflow and a summary of what it did."""

from __future__ import annotations

import gc
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path

from bytewax.errors import BytewaxRuntimeError
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.run import cli_main

from yuqing.bus.auth import ServerTLS, TokenFile, exposure_problem
from yuqing.bus.outbox import Outbox
from yuqing.bus.replicated import is_shared
from yuqing.bus.server import BusServer
from yuqing.core.endpoints import (
    DEFAULT_STORE,
    FileOutput,
    KafkaTopic,
    kafka_settings,
    parse_input,
    parse_output,
    parse_store,
)
from yuqing.dataflows.cluster import Members, Membership, loopback_addresses, parse_addresses
from yuqing.dataflows.drain import Drain
from yuqing.dataflows.kafka_source import DEFAULT_GROUP, LIVE_GATHER
from yuqing.dataflows.metrics_recorder import MetricsRecorder
from yuqing.dataflows.preflight import check_input, check_output, open_outbox
from yuqing.dataflows.progress import (
    LATE_WARN_MIN,
    LATE_WARN_SHARE,
    ProgressLog,
    late_advice,
    late_share,
)
from yuqing.dataflows.radar import FlowConfig, build_flow
from yuqing.dataflows.sources import KafkaOptions
from yuqing.dataflows.status import RunStatus, serve_status
from yuqing.dataflows.tally import Tally
from yuqing.errors import FlowFailed, UserError
from yuqing.evaluation.demo import DemoConfig
from yuqing.playbooks.library import PlaybookLibrary
from yuqing.playbooks.tickets import CustomerMap
from yuqing.sinks.bus_mirror import BusMirror
from yuqing.sinks.clickhouse import EmbeddedMemoryPurge, Store
from yuqing.sinks.jsonl import base_lengths
from yuqing.sinks.schema import Retention
from yuqing.warning.config import WarningConfig

log = logging.getLogger("yuqing.run")


@dataclass(frozen=True)
class RunOptions:
    """The run's settings as the user gave them (specs still as strings)."""

    input: str = "demo"
    store: str = DEFAULT_STORE
    alerts: str = "var/alerts.jsonl"
    dlq: str = "var/dead_letters.jsonl"
    recovery: Path | None = None
    snapshot_interval: timedelta = timedelta(seconds=10)
    window: timedelta = timedelta(minutes=1)
    lateness: timedelta = timedelta(seconds=30)
    brand_files: tuple[Path, ...] = ()
    max_brands: int = 1000  # unconfigured brands watched at most; mentions of more are dead letters
    user_dicts: tuple[Path, ...] = ()
    lexicons: tuple[Path, ...] = ()
    engine: str = "jieba"
    feedback: str | None = None
    workers: int = 1
    progress_every: float = 10.0
    metrics_every: float = 15.0  # seconds between samples of the run's metrics in the store; 0: off
    store_hold: float = 1.0  # seconds rows wait for one insert into the embedded store; 0: each batch
    playbooks: tuple[Path, ...] = ()
    warning_config: Path | None = None
    customers: Path | None = None
    outbox: str | Path = ":memory:"  # a SQLite file or kafka://…/TOPIC; the CLI's default is var/outbox.sqlite3
    bus: str = "off"  # HOST:PORT of the in-process gRPC action bus; the CLI's default is on
    tokens: Path | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    insecure_plaintext: bool = False  # allow --tokens without TLS off loopback
    http: str = "off"  # HOST:PORT of /healthz and /metrics
    kafka_group: str = DEFAULT_GROUP
    kafka_start: str = "committed"  # committed | earliest | latest, without a snapshot
    kafka_config: Path | None = None  # librdkafka key=value settings for every Kafka endpoint
    kafka_gather: float = LIVE_GATHER.total_seconds()  # seconds a partition waits after a short poll
    retention: Retention = field(default_factory=Retention)  # table TTLs, set on every start
    processes: int = 1  # --processes N: a cluster of N processes on this machine
    process_id: int | None = None  # Bytewax's -i: this process in a cluster across machines
    addresses: str | None = None  # Bytewax's -a: "host:port;host:port" of every process
    argv: tuple[str, ...] = ()  # the command line, to start processes 1..N-1 with
    ack_timeout: float = 30.0
    demo_hours: float = 6.0
    demo_rate: float = 2.0
    demo_seed: int = 7


@dataclass
class RunSummary:
    """What a run did, for people: counts, where the data is, what to run next."""

    config: FlowConfig
    counts: dict[str, int]
    totals: dict[str, int]
    incidents: list[tuple]
    bus: str = ""
    stopped_by: str = ""  # the signal that drained the run, if one did
    exit_code: int = 0
    process: int = 0  # this process's id in a cluster; only process 0 reads the store

    def render(self, seconds: float) -> str:
        c, cfg, t = self.counts, self.config, self.totals
        ended = f"stopped by {self.stopped_by} (drained)" if self.stopped_by else "finished"
        if self.process:
            board = cfg.board
            model = (f"; sentiment model: {board.learned:,} labels learned "
                     f"(model {board.fingerprint()})" if board is not None and board.learned else "")
            return (f"Yuqing Radar process {self.process} {ended} in {seconds:.1f} s{model}; "
                    "process 0 prints the run's summary")
        lines = [
            f"Yuqing Radar run {ended} in {seconds:.1f} s (input: {cfg.input.__class__.__name__})",
            f"  mentions written     {c.get('mentions', 0):>8,}   duplicates skipped "
            f"{c.get('duplicates', 0):,}, late for windows {_late(c)}",
            f"  dead letters         {c.get('dead_letters', 0):>8,}   -> {_where(cfg.dlq)}",
            f"  windows written      {c.get('windows', 0):>8,}   -> table window_metrics",
            f"  incidents            {t.get('incidents', 0):>8,}   "
            f"({c.get('incident_changes', 0):,} state changes) -> table incidents",
            f"  playbook activations {t.get('activations', 0):>8,}   "
            f"complaint tickets {c.get('tickets', 0):,} -> outbox {cfg.outbox.path}",
            f"  alert stream         {c.get('alerts', 0):>8,}   -> {_where(cfg.alerts)}",
        ]
        share, late, _ = late_share(c)
        if late >= LATE_WARN_MIN and share >= LATE_WARN_SHARE:
            lines.append(
                f"  note: {share:.1%} of mentions missed their window (not in window_metrics); "
                + late_advice(cfg.lateness)
            )
        learned = {k[9:]: v for k, v in c.items() if k.startswith("feedback_")}
        if learned:
            lines.append(
                "  feedback             " + ", ".join(f"{k} {v}" for k, v in learned.items())
            )
        board = cfg.board
        if board is not None and board.learned:
            lines.append(
                f"  sentiment model      {board.learned:>8,}   labels learned "
                f"(model {board.fingerprint()}; every worker scores with it)"
            )
        for brand, category, tier, opened_at, peak in self.incidents[:10]:
            lines.append(
                f"    {opened_at:%Y-%m-%d %H:%M} UTC  {brand} {category}: peak tier "
                f"{tier} (risk {peak:.0f})"
            )
        lines.append(
            f"  store: {cfg.store}  ({t.get('mentions', 0):,} mentions, "
            f"{t.get('window_metrics', 0):,} windows, {t.get('alerts', 0):,} "
            f"alert records in total)"
        )
        if self.bus:
            lines.append(
                f"  action bus served on {self.bus} while running; serve the outbox again "
                f"with: yuqing bus serve --outbox {cfg.outbox.path}"
            )
        query = (
            "SELECT brand, sum(mentions) AS mentions, sum(negative) AS negative "
            "FROM window_metrics FINAL GROUP BY brand ORDER BY mentions DESC"
        )
        lines.append(f'  look: yuqing sql --store "{cfg.store}" "{query}"')
        return "\n".join(lines)


def _late(counts: dict[str, int]) -> str:
    share, late, _ = late_share(counts)
    return f"{late:,} ({share:.1%})" if late else "0"


def _where(spec) -> str:
    return str(spec.path) if isinstance(spec, FileOutput) else str(spec)


def make_config(options: RunOptions, outbox: Outbox | None = None,
                settings: dict[str, str] | None = None) -> FlowConfig:
    """Validate every spec up front so mistakes surface before anything starts.

    An invalid playbook library, warning config or customer map stops here,
    with the file and field named, before any data moves.
    """
    if settings is None:  # `launch` passes the settings it read already
        settings = kafka_settings(options.kafka_config)
    source = _with(parse_input(options.input), settings)
    live = isinstance(source, KafkaTopic) and not source.stop_at_end  # runs until stopped
    feedback = None if options.feedback is None else parse_input(options.feedback, "--feedback")
    return FlowConfig(
        input=source,
        store=parse_store(options.store),
        alerts=_with(parse_output(options.alerts, "--alerts"), settings),
        dlq=_with(parse_output(options.dlq, "--dlq"), settings),
        window=options.window,
        lateness=options.lateness,
        brand_files=options.brand_files,
        max_brands=options.max_brands,
        user_dicts=options.user_dicts,
        lexicons=options.lexicons,
        engine=options.engine,
        feedback=_with(feedback, settings),
        demo=DemoConfig(
            hours=options.demo_hours, base_per_minute=options.demo_rate, seed=options.demo_seed
        ),
        tally=Tally(),
        library=PlaybookLibrary.load(options.playbooks),
        warning=(
            WarningConfig.from_yaml(options.warning_config)
            if options.warning_config
            else WarningConfig()
        ),
        customers=CustomerMap.load(options.customers) if options.customers else CustomerMap(),
        outbox=outbox if outbox is not None else Outbox(":memory:"),
        tick=timedelta(seconds=30) if live else None,
        bus_feedback=live,
        recovering=options.recovery is not None,
        store_hold=options.store_hold,
        kafka=KafkaOptions(group=options.kafka_group, start=options.kafka_start,
                           recovery=options.recovery,
                           gather=timedelta(seconds=options.kafka_gather)),
    )


def _with(spec, settings: dict[str, str]):
    """A Kafka endpoint with the run's client settings under its own; anything else as is."""
    return spec.with_settings(settings) if isinstance(spec, KafkaTopic) else spec


def preflight(cfg: FlowConfig) -> None:
    """Every destination and Kafka topic checked before the flow starts (one line if not)."""
    check_input(cfg.input, "--input")
    check_input(cfg.feedback, "--feedback")
    check_output(cfg.alerts, "--alerts")
    check_output(cfg.dlq, "--dlq")


def membership(options: RunOptions) -> Membership:
    """This process in its cluster: `--processes N` here, or Bytewax's `-i/-a` across machines."""
    if options.processes < 1:
        raise UserError("--processes must be 1 or more")
    if options.processes > 1 and options.process_id is None:
        if options.input == "-":
            raise UserError("--processes: stdin reaches one process only; give a file, "
                            "a Kafka topic or demo")
        return Membership(0, loopback_addresses(options.processes))
    return parse_addresses(options.addresses, options.process_id)


def recovery_config(
    directory: Path | None, member: Membership | None = None, workers: int = 1
) -> RecoveryConfig | None:
    """Bytewax recovery in DIR, initialising the partition store on first use.

    In a cluster the owner makes the store (a partition per worker) before the
    other processes start; on one machine they share the folder.
    """
    if directory is None:
        return None
    member = member or Membership()
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UserError(f"--recovery {directory}: not a directory; give a folder path")
    if not member.owner:
        if not any(directory.glob("part-*.sqlite3")):
            raise UserError(f"--recovery {directory}: no recovery store; process 0 makes it "
                            "on its first start (start it first, or share the folder)")
        return RecoveryConfig(str(directory))
    if not directory.exists() or not any(directory.glob("part-*.sqlite3")):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            init_db_dir(directory, member.count * workers)
        except (OSError, RuntimeError) as err:
            why = next(
                (f"{p} is a file, not a folder" for p in directory.parents
                 if p.exists() and not p.is_dir()),
                getattr(err, "strerror", None) or str(err),
            )
            raise UserError(
                f"--recovery {directory}: cannot make the recovery store there ({why}); "
                "give a writable folder path"
            ) from None
        log.info("initialised recovery store in %s", directory)
    else:
        log.info("resuming from recovery store in %s", directory)
    return RecoveryConfig(str(directory))


def start_status(options: RunOptions, cfg: FlowConfig, outbox: Outbox):
    """The run's status; served on `--http HOST:PORT` (unless off), returns that server."""
    topic = cfg.input if isinstance(cfg.input, KafkaTopic) else None
    cfg.status = RunStatus(
        cfg.tally, outbox, watermarks=partial(high_watermarks, topic) if topic else None
    )
    if options.http == "off":
        return None
    host, _, port = options.http.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--http {options.http!r}: give HOST:PORT (e.g. 127.0.0.1:9108) or off")
    try:
        return serve_status(host, int(port), cfg.status)
    except OSError as err:
        raise UserError(
            f"--http {options.http}: cannot listen ({err.strerror}); pick another port, or off"
        ) from None


def high_watermarks(
    topic: KafkaTopic, partitions: list[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    """Each partition's high watermark, asked of the broker with a short timeout (for the lag)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": topic.bootstrap,
            "group.id": "yuqing-lag",
            "enable.auto.commit": False,
            "socket.timeout.ms": 2000,
        }
    )
    out = {}
    try:
        for name, partition in partitions:
            try:
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(name, partition), timeout=2.0
                )
                out[(name, partition)] = high
            except Exception:  # the lag of a partition the broker cannot answer for is unknown
                continue
    finally:
        consumer.close()
    return out


def start_bus(options: RunOptions, outbox: Outbox) -> BusServer | None:
    """The in-process gRPC action bus over the outbox, unless `--bus off`."""
    if options.bus == "off":
        return None
    host, _, port = options.bus.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--bus {options.bus!r}: give HOST:PORT (e.g. 127.0.0.1:50151) or off")
    if bool(options.tls_cert) != bool(options.tls_key):
        raise UserError("give both --tls-cert and --tls-key, or neither")
    problem = exposure_problem(
        host,
        bool(options.tokens),
        bool(options.tls_cert),
        allow_plaintext=options.insecure_plaintext,
    )
    if problem:
        raise UserError(
            f"--bus {options.bus}: {problem}; give --tokens FILE (make entries with "
            "`yuqing bus token`) and --tls-cert/--tls-key, or --insecure-plaintext "
            "to send tokens in the clear"
        )
    auth = TokenFile(options.tokens) if options.tokens else None
    tls = (
        ServerTLS(options.tls_cert, options.tls_key, options.tls_client_ca)
        if options.tls_cert
        else None
    )
    server = BusServer(
        outbox, host=host, port=int(port), auth=auth, tls=tls, ack_timeout=options.ack_timeout
    )
    try:
        server.start()
    except OSError as err:
        raise UserError(
            f"--bus {options.bus}: cannot listen ({err}); another yuqing may be "
            "running: pick another port, 127.0.0.1:0 for any, or --bus off"
        ) from None
    log.info("action bus listening on %s (outbox %s)", server.address, options.outbox)
    return server


GC_THRESHOLDS = (20_000, 20, 20)  # allocations before a young collection; young, middle per older


@contextmanager
def calm_collector():
    """Spare the flow most of the cyclic garbage collector's work.

    The flow allocates millions of short-lived objects (parsed mentions,
    tokens, rows) and keeps long-lived state (models, dictionaries, stories,
    windows) that holds no cycles worth finding. With Python's default
    thresholds (700, 10, 10) the collector walked that state every few
    thousand mentions: 12 % of a process's samples in a 2-process run. The
    objects built at start-up move to the permanent generation (`gc.freeze`),
    and collections come 30x less often. Measured back to back: 3,465 ->
    3,904 and 3,850 -> 4,387 mentions/s per core (rjieba, real Weibo texts).
    """
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:  # a process that runs more than one flow (the tests) gets its collector back
        gc.set_threshold(*before)
        gc.unfreeze()


def launch(options: RunOptions) -> RunSummary:
    """Check every endpoint, prepare the store and the bus, run the flow to its end, summarise.

    SIGTERM and Ctrl-C drain the flow (see `drain`); the summary then says so
    and carries the exit code 143 or 130.
    """
    member = membership(options)
    settings = kafka_settings(options.kafka_config)
    shared = is_shared(options.outbox)  # a bus log: every process appends to its own replica
    outbox = open_outbox(options.outbox, settings) if member.owner or shared else Outbox(":memory:")
    server = mirror = status_http = recorder = purge = members = store = None
    try:
        cfg = make_config(options, outbox, settings)
        cfg.owner = member.owner
        cfg.shared_outbox = shared
        cfg.process_id, cfg.processes = member.process_id, member.count
        preflight(cfg)
        recovery = recovery_config(options.recovery, member, options.workers)
        if options.recovery is not None:  # outputs a killed run wrote before any snapshot
            files = [s.path for s in (cfg.alerts, cfg.dlq) if isinstance(s, FileOutput)]
            cfg.jsonl_bases = base_lengths(options.recovery, files)
        if member.clustered and options.process_id is None:  # --processes N: start the others
            # before this one's store and bus, so that their start-ups (imports, dictionary,
            # models) overlap: no process runs the flow before every one has joined
            members = Members(options.argv, member.addresses)
        if member.owner:
            # Kept open for the summary: an embedded store that stays open keeps its engine
            # warm, so the sinks' connections and the summary's start in ~10 ms, not ~35.
            store = Store(cfg.store)
            store.ensure_schema(retention=options.retention)
            purge = EmbeddedMemoryPurge(cfg.store).start()
            server = start_bus(options, outbox)
            mirror = BusMirror(outbox, cfg.store).start()
            status_http = start_status(options, cfg, outbox)
            if options.metrics_every > 0 and cfg.status is not None:
                recorder = MetricsRecorder(cfg.status, cfg.store, options.metrics_every).start()
        log.info(
            "running: input=%s store=%s alerts=%s dlq=%s",
            options.input,
            cfg.store,
            options.alerts,
            options.dlq,
        )
        flow = build_flow(cfg)
        progress = ProgressLog(
            cfg.tally, cfg.position, options.progress_every, cfg.lateness
        ).start()
        if cfg.status is not None:
            cfg.status.state = "running"
        drain = Drain(cfg.stop, recovering=recovery is not None,
                      forward=members.signal if members is not None else None)
        cluster = (
            {"process_id": member.process_id, "addresses": list(member.addresses)}
            if member.clustered else {}
        )
        try:
            with drain, calm_collector():
                cli_main(
                    flow,
                    workers_per_process=options.workers,
                    epoch_interval=options.snapshot_interval,
                    recovery_config=recovery,
                    **cluster,
                )
            failed = members.wait() if members is not None else []
            if failed:
                raise FlowFailed("the flow stopped: " + ", ".join(
                    f"process {i} exited with code {code}" for i, code in failed))
            if cfg.status is not None:
                cfg.status.state = "finished"
        except BytewaxRuntimeError as err:
            if cfg.status is not None:
                cfg.status.state = "failed"
            raise flow_failure(err) from None
        except BaseException as err:
            if cfg.status is not None:
                cfg.status.state = "failed"
            if member.clustered and type(err).__name__ == "PanicException":
                raise FlowFailed(
                    "the flow stopped: another process of the cluster stopped; restart every "
                    "process (with --recovery they resume from the last snapshot)"
                ) from None
            raise
        finally:
            progress.stop()
    except BaseException:
        if store is not None:
            store.close()  # no summary follows
        raise
    finally:
        if members is not None:
            members.stop()
        if recorder is not None:
            recorder.stop()
        if purge is not None:
            purge.stop()
        if status_http is not None:
            status_http.shutdown()
        if mirror is not None:
            mirror.stop()
        if server is not None:
            server.stop(grace=1.0)
        outbox.close()
    if store is None:
        summary = RunSummary(cfg, cfg.tally.as_dict(), {}, [], process=member.process_id)
    else:
        try:
            summary = summarise(cfg, server.address if server else "", store)
        finally:
            store.close()
    if drain.received is not None:
        summary.stopped_by, summary.exit_code = drain.received.name, drain.exit_code
    return summary


def flow_failure(err: BaseException) -> Exception:
    """What failed inside the flow, as one line: our own error, or the innermost cause."""
    log.debug("the flow failed", exc_info=err)
    seen, cause = set(), err
    while True:
        if isinstance(cause, UserError):
            return cause
        inner = cause.__cause__ or cause.__context__
        if inner is None or id(inner) in seen:
            break
        seen.add(id(cause))
        cause = inner
    if isinstance(cause, OSError):
        return UserError(f"the flow stopped: {cause}")
    first = str(cause).strip().splitlines()[-1:] or [type(cause).__name__]
    return FlowFailed(f"the flow stopped: {type(cause).__name__}: {first[0]}")


def summarise(cfg: FlowConfig, bus: str = "", store: Store | None = None) -> RunSummary:
    """What the run wrote, from the store (``store`` if open, else a connection of its own)."""
    own = store is None
    if own:
        store = Store(cfg.store)
    db = cfg.store.database
    totals = {
        table: store.query(f"SELECT count() FROM {db}.{table} FINAL")[0][0]
        for table in ("mentions", "window_metrics", "alerts", "dead_letters", "activations")
    }
    totals["incidents"] = store.query(f"SELECT uniqExact(incident_id) FROM {db}.incidents")[0][0]
    incidents = store.query(
        f"SELECT brand, category, max(peak_tier) AS tier, min(opened_at) AS opened,"
        f" max(peak_score) FROM {db}.incidents FINAL WHERE NOT false_alarm"
        f" GROUP BY incident_id, brand, category HAVING tier >= 2 ORDER BY opened LIMIT 10"
    )
    if own:
        store.close()
    return RunSummary(cfg, cfg.tally.as_dict(), totals, incidents, bus)
