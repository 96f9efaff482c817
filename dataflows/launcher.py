"""Turn `yuqing run` options into a running dataflow and a summary of what it did."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path

from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.run import cli_main

from yuqing.bus.auth import ServerTLS, TokenFile, exposure_problem
from yuqing.bus.outbox import Outbox
from yuqing.bus.server import BusServer
from yuqing.core.endpoints import (
    DEFAULT_STORE,
    FileOutput,
    KafkaTopic,
    parse_input,
    parse_output,
    parse_store,
)
from yuqing.dataflows.radar import FlowConfig, build_flow
from yuqing.dataflows.status import RunStatus, serve_status
from yuqing.dataflows.tally import Tally
from yuqing.errors import UserError
from yuqing.evaluation.demo import DemoConfig
from yuqing.playbooks.library import PlaybookLibrary
from yuqing.playbooks.tickets import CustomerMap
from yuqing.sinks.bus_mirror import BusMirror
from yuqing.sinks.clickhouse import Store
from yuqing.sinks.jsonl import base_lengths
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
    playbooks: tuple[Path, ...] = ()
    warning_config: Path | None = None
    customers: Path | None = None
    outbox: Path = Path(":memory:")  # the CLI's default is var/outbox.sqlite3
    bus: str = "off"  # HOST:PORT of the in-process gRPC action bus; the CLI's default is on
    tokens: Path | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    insecure_plaintext: bool = False  # allow --tokens without TLS off loopback
    http: str = "off"  # HOST:PORT of /healthz and /metrics
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

    def render(self, seconds: float) -> str:
        c, cfg, t = self.counts, self.config, self.totals
        lines = [
            f"Yuqing Radar run finished in {seconds:.1f} s (input: {cfg.input.__class__.__name__})",
            f"  mentions written     {c.get('mentions', 0):>8,}   duplicates skipped "
            f"{c.get('duplicates', 0):,}, late for windows {c.get('late', 0):,}",
            f"  dead letters         {c.get('dead_letters', 0):>8,}   -> {_where(cfg.dlq)}",
            f"  windows written      {c.get('windows', 0):>8,}   -> table window_metrics",
            f"  incidents            {t.get('incidents', 0):>8,}   "
            f"({c.get('incident_changes', 0):,} state changes) -> table incidents",
            f"  playbook activations {t.get('activations', 0):>8,}   "
            f"complaint tickets {c.get('tickets', 0):,} -> outbox {cfg.outbox.path}",
            f"  alert stream         {c.get('alerts', 0):>8,}   -> {_where(cfg.alerts)}",
        ]
        learned = {k[9:]: v for k, v in c.items() if k.startswith("feedback_")}
        if learned:
            lines.append(
                "  feedback             " + ", ".join(f"{k} {v}" for k, v in learned.items())
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


def _where(spec) -> str:
    return str(spec.path) if isinstance(spec, FileOutput) else str(spec)


def make_config(options: RunOptions, outbox: Outbox | None = None) -> FlowConfig:
    """Validate every spec up front so mistakes surface before anything starts.

    An invalid playbook library, warning config or customer map stops here,
    with the file and field named, before any data moves.
    """
    source = parse_input(options.input)
    live = isinstance(source, KafkaTopic) and not source.stop_at_end  # runs until stopped
    return FlowConfig(
        input=source,
        store=parse_store(options.store),
        alerts=parse_output(options.alerts, "--alerts"),
        dlq=parse_output(options.dlq, "--dlq"),
        window=options.window,
        lateness=options.lateness,
        brand_files=options.brand_files,
        max_brands=options.max_brands,
        user_dicts=options.user_dicts,
        lexicons=options.lexicons,
        engine=options.engine,
        feedback=None if options.feedback is None else parse_input(options.feedback, "--feedback"),
        demo=DemoConfig(
            hours=options.demo_hours, base_per_minute=options.demo_rate, seed=options.demo_seed
        ),
        tally=Tally(options.progress_every),
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
    )


def recovery_config(directory: Path | None) -> RecoveryConfig | None:
    """Bytewax recovery in DIR, initialising the partition store on first use."""
    if directory is None:
        return None
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UserError(f"--recovery {directory}: not a directory; give a folder path")
    if not directory.exists() or not any(directory.glob("part-*.sqlite3")):
        directory.mkdir(parents=True, exist_ok=True)
        init_db_dir(directory, 1)
        log.info("initialised recovery store in %s", directory)
    else:
        log.info("resuming from recovery store in %s", directory)
    return RecoveryConfig(str(directory))


def start_status(options: RunOptions, cfg: FlowConfig, outbox: Outbox):
    """The `/healthz` and `/metrics` server of `--http HOST:PORT`, unless it is off."""
    if options.http == "off":
        return None
    host, _, port = options.http.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--http {options.http!r}: give HOST:PORT (e.g. 127.0.0.1:9108) or off")
    topic = cfg.input if isinstance(cfg.input, KafkaTopic) else None
    cfg.status = RunStatus(
        cfg.tally, outbox, watermarks=partial(high_watermarks, topic) if topic else None
    )
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


def launch(options: RunOptions) -> RunSummary:
    """Prepare the store and the bus, run the flow to its end, and summarise."""
    outbox = Outbox(options.outbox)
    server = mirror = status_http = None
    try:
        cfg = make_config(options, outbox)
        recovery = recovery_config(options.recovery)
        if options.recovery is not None:  # outputs a killed run wrote before any snapshot
            files = [s.path for s in (cfg.alerts, cfg.dlq) if isinstance(s, FileOutput)]
            cfg.jsonl_bases = base_lengths(options.recovery, files)
        store = Store(cfg.store)
        store.ensure_schema()
        store.close()
        server = start_bus(options, outbox)
        mirror = BusMirror(outbox, cfg.store).start()
        status_http = start_status(options, cfg, outbox)
        log.info(
            "running: input=%s store=%s alerts=%s dlq=%s",
            options.input,
            cfg.store,
            options.alerts,
            options.dlq,
        )
        flow = build_flow(cfg)
        stop_heartbeat = cfg.tally.heartbeat()
        if cfg.status is not None:
            cfg.status.state = "running"
        try:
            cli_main(
                flow,
                workers_per_process=options.workers,
                epoch_interval=options.snapshot_interval,
                recovery_config=recovery,
            )
            if cfg.status is not None:
                cfg.status.state = "finished"
        except BaseException:
            if cfg.status is not None:
                cfg.status.state = "failed"
            raise
        finally:
            stop_heartbeat.set()
    finally:
        if status_http is not None:
            status_http.shutdown()
        if mirror is not None:
            mirror.stop()
        if server is not None:
            server.stop(grace=1.0)
        outbox.close()
    return summarise(cfg, server.address if server else "")


def summarise(cfg: FlowConfig, bus: str = "") -> RunSummary:
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
    store.close()
    return RunSummary(cfg, cfg.tally.as_dict(), totals, incidents, bus)
