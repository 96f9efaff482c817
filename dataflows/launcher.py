"""Turn `yuqing run` options into a running dataflow and a summary of what it did."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.run import cli_main

from yuqing.dataflows.radar import FlowConfig, build_flow
from yuqing.dataflows.tally import Tally
from yuqing.demo import DemoConfig
from yuqing.endpoints import FileOutput, parse_input, parse_output, parse_store
from yuqing.errors import UserError
from yuqing.sinks.clickhouse import Store

log = logging.getLogger("yuqing.run")


@dataclass(frozen=True)
class RunOptions:
    """The run's settings as the user gave them (specs still as strings)."""

    input: str = "demo"
    store: str = "chdb://./var/clickhouse"
    alerts: str = "var/alerts.jsonl"
    dlq: str = "var/dead_letters.jsonl"
    recovery: Path | None = None
    snapshot_interval: timedelta = timedelta(seconds=10)
    window: timedelta = timedelta(minutes=1)
    lateness: timedelta = timedelta(seconds=30)
    brand_files: tuple[Path, ...] = ()
    user_dicts: tuple[Path, ...] = ()
    lexicons: tuple[Path, ...] = ()
    engine: str = "jieba"
    feedback: str | None = None
    workers: int = 1
    progress_every: float = 10.0
    demo_hours: float = 6.0
    demo_rate: float = 2.0
    demo_seed: int = 7


@dataclass
class RunSummary:
    """What a run did, for people: counts, where the data is, what to run next."""

    config: FlowConfig
    counts: dict[str, int]
    totals: dict[str, int]
    alerts: list[tuple]

    def render(self, seconds: float) -> str:
        c, cfg = self.counts, self.config
        lines = [
            f"Yuqing Radar run finished in {seconds:.1f} s (input: {cfg.input.__class__.__name__})",
            f"  mentions written     {c.get('mentions', 0):>8,}   duplicates skipped "
            f"{c.get('duplicates', 0):,}, late for windows {c.get('late', 0):,}",
            f"  dead letters         {c.get('dead_letters', 0):>8,}   -> {_where(cfg.dlq)}",
            f"  windows written      {c.get('windows', 0):>8,}   -> {cfg.store} table window_metrics",
            f"  alerts raised        {c.get('alerts', 0):>8,}   -> {_where(cfg.alerts)}",
        ]
        for _brand, at, summary in self.alerts[:10]:
            lines.append(f"    {at:%Y-%m-%d %H:%M} UTC  {summary}")
        lines.append(
            f"  store totals: {self.totals.get('mentions', 0):,} mentions, "
            f"{self.totals.get('window_metrics', 0):,} windows, "
            f"{self.totals.get('alerts', 0):,} alerts, "
            f"{self.totals.get('dead_letters', 0):,} dead letters"
        )
        query = "SELECT brand, sum(mentions) FROM window_metrics FINAL GROUP BY brand"
        lines.append(f'  look: yuqing sql --store "{_store_flag(cfg)}" "{query}"')
        return "\n".join(lines)


def _where(spec) -> str:
    return str(spec.path) if isinstance(spec, FileOutput) else str(spec)


def _store_flag(cfg: FlowConfig) -> str:
    s = cfg.store
    return f"chdb://{s.path}?database={s.database}" if s.kind == "chdb" else str(s)


def make_config(options: RunOptions) -> FlowConfig:
    """Validate every spec up front so mistakes surface before anything starts."""
    return FlowConfig(
        input=parse_input(options.input),
        store=parse_store(options.store),
        alerts=parse_output(options.alerts, "--alerts"),
        dlq=parse_output(options.dlq, "--dlq"),
        window=options.window,
        lateness=options.lateness,
        brand_files=options.brand_files,
        user_dicts=options.user_dicts,
        lexicons=options.lexicons,
        engine=options.engine,
        feedback=None if options.feedback is None else parse_input(options.feedback, "--feedback"),
        demo=DemoConfig(hours=options.demo_hours, base_per_minute=options.demo_rate,
                        seed=options.demo_seed),
        tally=Tally(options.progress_every),
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


def launch(options: RunOptions) -> RunSummary:
    """Prepare the store, run the flow to its end, and summarise."""
    cfg = make_config(options)
    recovery = recovery_config(options.recovery)
    store = Store(cfg.store)
    store.ensure_schema()
    store.close()
    log.info("running: input=%s store=%s alerts=%s dlq=%s", options.input, cfg.store,
             options.alerts, options.dlq)
    flow = build_flow(cfg)
    cli_main(flow, workers_per_process=options.workers, epoch_interval=options.snapshot_interval,
             recovery_config=recovery)
    return summarise(cfg)


def summarise(cfg: FlowConfig) -> RunSummary:
    store = Store(cfg.store)
    db = cfg.store.database
    totals = {
        table: store.query(f"SELECT count() FROM {db}.{table} FINAL")[0][0]
        for table in ("mentions", "window_metrics", "alerts", "dead_letters")
    }
    alerts = store.query(f"SELECT brand, at, summary FROM {db}.alerts FINAL ORDER BY at LIMIT 10")
    store.close()
    return RunSummary(cfg, cfg.tally.as_dict(), totals, alerts)
