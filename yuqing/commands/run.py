"""`yuqing run`: run the one dataflow until its input ends (or forever, for Kafka).

Exit codes: 0 when the input ended, 2 for a mistake in flags, files or
endpoints (one line on stderr), 130 after Ctrl-C and 143 after SIGTERM (the
flow drained first: sinks flushed, state snapshotted, summary printed), 1 for
a failure inside the flow.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from datetime import timedelta
from pathlib import Path

from yuqing.commands import HelpFormatter
from yuqing.core.endpoints import DEFAULT_STORE
from yuqing.errors import UserError
from yuqing.sinks.schema import Retention

log = logging.getLogger("yuqing.run")


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


KEEP = {  # --keep-* flag (a Retention field) -> what it keeps; defaults come from Retention
    "mentions": "mentions (texts and author names: personal data)",
    "dead_letters": "dead letters (raw refused input)",
    "records": "window metrics, incidents, alerts and activations",
    "metrics": "the run's own metrics in pipeline_metrics",
}


def _flag(group, flag: str, env: str, *, default=None, many: bool = False, help: str, **kw) -> None:
    """A flag that its environment variable can also set (``many``: paths joined by os.pathsep)."""
    if many:
        value = os.environ.get(env)
        kw["action"] = "append"
        kw["default"] = (
            [kw.get("type", str)(v) for v in value.split(os.pathsep) if v] if value else []
        )
        help = f"{help} (repeatable; env {env}, paths joined by '{os.pathsep}')"
    else:
        kw["default"] = os.environ.get(env, default)
        help = f"{help} (env {env})"
    group.add_argument(flag, help=help, **kw)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="run the dataflow: mentions in, metrics/alerts out",
        description="Run the Yuqing Radar dataflow. A finite input (demo, file, stdin, "
        "kafka://...?until=end) ends the run after every window is flushed. SIGTERM or Ctrl-C "
        "drains the flow (sinks flushed, a last snapshot with --recovery) and exits 143 or 130; "
        "a second one stops at once. Every flag can also be set by the environment variable "
        "named in its help.",
        formatter_class=HelpFormatter,
    )
    _flag(
        p,
        "--input",
        "YUQING_INPUT",
        default="demo",
        help="demo | PATH.jsonl | - (stdin) | kafka://HOST:PORT/TOPIC[?until=end]",
    )
    _flag(
        p,
        "--store",
        "YUQING_STORE",
        default=DEFAULT_STORE,
        help="chdb:///DIR[?database=NAME] or clickhouse://USER:PASS@HOST:8123/DB",
    )
    _flag(
        p,
        "--alerts",
        "YUQING_ALERTS",
        default="var/alerts.jsonl",
        help="PATH.jsonl or kafka://HOST:PORT/TOPIC",
    )
    _flag(
        p,
        "--dlq",
        "YUQING_DLQ",
        default="var/dead_letters.jsonl",
        help="dead-letter output: PATH.jsonl or kafka://HOST:PORT/TOPIC",
    )
    _flag(
        p,
        "--recovery",
        "YUQING_RECOVERY",
        type=Path,
        help="directory for Bytewax recovery snapshots; restarts resume from it (off by default)",
    )
    _flag(
        p,
        "--snapshot-interval",
        "YUQING_SNAPSHOT_INTERVAL",
        type=float,
        default="10",
        metavar="SECONDS",
        help="how often state is snapshotted (with --recovery)",
    )
    _flag(
        p,
        "--window",
        "YUQING_WINDOW",
        type=int,
        default="60",
        metavar="SECONDS",
        help="length of the event-time metric windows",
    )
    _flag(
        p,
        "--lateness",
        "YUQING_LATENESS",
        type=int,
        default="30",
        metavar="SECONDS",
        help="how long a window waits for late mentions before it closes",
    )
    _flag(
        p,
        "--brands",
        "YUQING_BRANDS",
        type=Path,
        many=True,
        help="extra brand dictionary YAML (see yuqing/data/brands.yaml)",
    )
    _flag(
        p,
        "--max-brands",
        "YUQING_MAX_BRANDS",
        type=int,
        default="1000",
        metavar="N",
        help="brands not in the brand dictionary that are watched, at most; mentions naming "
        "further ones are dead-lettered",
    )
    _flag(
        p,
        "--feedback",
        "YUQING_FEEDBACK",
        help="analysts' labels and verdicts: PATH.jsonl or kafka://HOST:PORT/feedback "
        "(off by default)",
    )
    _flag(
        p,
        "--engine",
        "YUQING_ENGINE",
        default="jieba",
        choices=("jieba", "rjieba", "auto"),
        help="segmentation engine: jieba (reference), rjieba (fast), auto (rjieba when installed)",
    )
    _flag(
        p,
        "--user-dict",
        "YUQING_USER_DICTS",
        type=Path,
        many=True,
        help="extra jieba user dictionary",
    )
    _flag(
        p,
        "--lexicon",
        "YUQING_LEXICONS",
        type=Path,
        many=True,
        help="extra risk lexicon YAML (see yuqing/data/risk_lexicon.yaml)",
    )
    _flag(
        p,
        "--workers",
        "YUQING_WORKERS",
        type=int,
        default="1",
        help="worker threads in this process (scale out with processes instead: "
        "python -m bytewax.run -i/-a)",
    )
    kafka = p.add_argument_group(
        "Kafka",
        "Client settings (SASL, SSL, client.id, ...) for every Kafka endpoint come from "
        "--kafka-config, then YUQING_KAFKA_<SETTING> variables (YUQING_KAFKA_SASL_PASSWORD sets "
        "sasl.password), then the endpoint URL's own options (kafka://H:P/T?client.id=x).",
    )
    _flag(
        kafka,
        "--kafka-group",
        "YUQING_KAFKA_GROUP",
        default="yuqing-radar",
        metavar="GROUP",
        help="consumer group the input and feedback topics commit their offsets to "
        "(one epoch behind the snapshots), so lag tools see it",
    )
    _flag(
        kafka,
        "--kafka-start",
        "YUQING_KAFKA_START",
        default="committed",
        choices=("committed", "earliest", "latest"),
        help="where a partition without a --recovery snapshot starts: the group's committed "
        "offset (the beginning where it has none), the beginning, or the end",
    )
    _flag(
        kafka,
        "--kafka-gather",
        "YUQING_KAFKA_GATHER",
        type=float,
        default="0.05",
        metavar="SECONDS",
        help="how long a partition whose poll found a few messages (not a full batch) waits "
        "before asking again: a live stream's mentions go through in batches of this much "
        "time. Longer costs less CPU per mention and adds up to this much latency; 0 asks at once",
    )
    _flag(
        kafka,
        "--kafka-config",
        "YUQING_KAFKA_CONFIG",
        type=Path,
        metavar="FILE",
        help="librdkafka client settings as key=value lines (like Kafka's client.properties)",
    )
    keep = p.add_argument_group(
        "ClickHouse retention",
        "Days a row is kept after it was written (0: forever), set as table TTLs on every "
        "start. Replayed days are kept as long as live ones.",
    )
    kept = Retention()
    for name, text in KEEP.items():
        _flag(
            keep,
            f"--keep-{name.replace('_', '-')}",
            f"YUQING_KEEP_{name.upper()}",
            type=int,
            default=str(getattr(kept, name)),
            metavar="DAYS",
            help=text,
        )
    link = p.add_argument_group("early warning and linkage")
    _flag(
        link,
        "--playbooks",
        "YUQING_PLAYBOOKS",
        type=Path,
        many=True,
        help="extra playbook folder, added to the shipped library; an invalid library stops "
        "the start",
    )
    _flag(
        link,
        "--warning-config",
        "YUQING_WARNING_CONFIG",
        type=Path,
        help="YAML with tier thresholds per brand/category (see docs/early_warning.md)",
    )
    _flag(
        link,
        "--customers",
        "YUQING_CUSTOMERS",
        type=Path,
        help="YAML mapping source:author_id to customer ids, for complaint tickets",
    )
    _flag(
        link,
        "--outbox",
        "YUQING_OUTBOX",
        default="var/outbox.sqlite3",
        help="durable outbox of activations and tickets: a SQLite file, or in a cluster the "
        "bus log kafka://HOST:PORT/TOPIC every process appends to (docs/action_bus.md)",
    )
    _flag(
        link,
        "--bus",
        "YUQING_BUS",
        default="127.0.0.1:50151",
        help="HOST:PORT of the gRPC action bus served while running, or off",
    )
    _flag(
        link, "--tokens", "YUQING_TOKENS", type=Path, help="runner token file (YAML, hashed tokens)"
    )
    _flag(link, "--tls-cert", "YUQING_TLS_CERT", help="bus server certificate (PEM); turns TLS on")
    _flag(link, "--tls-key", "YUQING_TLS_KEY", help="bus server private key (PEM)")
    _flag(
        link,
        "--tls-client-ca",
        "YUQING_TLS_CLIENT_CA",
        help="CA that runner certificates must chain to (mTLS)",
    )
    link.add_argument(
        "--insecure-plaintext",
        action="store_true",
        default=_env("YUQING_BUS_INSECURE_PLAINTEXT", "") == "1",
        help="serve --tokens without TLS off loopback: tokens cross the network "
        "in the clear (env YUQING_BUS_INSECURE_PLAINTEXT=1)",
    )
    _flag(
        p,
        "--http",
        "YUQING_HTTP",
        default="off",
        metavar="HOST:PORT",
        help="serve /healthz (for probes) and /metrics (Prometheus) while running, or off",
    )
    scale = p.add_argument_group(
        "scaling out",
        "Threads (--workers) share one interpreter lock; processes do not. Process 0 owns the "
        "embedded store, the outbox, the bus and --http, and prints the summary; Kafka "
        "partitions and brands spread over every worker. See docs/cluster.md.",
    )
    _flag(
        scale,
        "--processes",
        "YUQING_PROCESSES",
        type=int,
        default="1",
        metavar="N",
        help="run the dataflow on N processes on this machine (this one is process 0)",
    )
    _flag(
        scale,
        "--process-id",
        "BYTEWAX_PROCESS_ID",
        type=int,
        metavar="I",
        help="across machines: this process's id, 0 to N-1 (as Bytewax's -i)",
    )
    _flag(
        scale,
        "--addresses",
        "BYTEWAX_ADDRESSES",
        metavar="H:P;H:P",
        help="across machines: every process's host:port, in id order (as Bytewax's -a)",
    )
    _flag(
        p,
        "--progress-every",
        "YUQING_PROGRESS_EVERY",
        type=float,
        default="10",
        metavar="SECONDS",
        help="log a progress line this often",
    )
    _flag(
        p,
        "--metrics-every",
        "YUQING_METRICS_EVERY",
        type=float,
        default="15",
        metavar="SECONDS",
        help="sample the run's metrics (lag, rates, outbox depth) into the store's "
        "pipeline_metrics table this often, for Grafana; 0 turns it off",
    )
    _flag(
        p,
        "--store-hold",
        "YUQING_STORE_HOLD",
        type=float,
        default="1",
        metavar="SECONDS",
        help="let rows for the embedded store wait up to this long and insert them together: "
        "a live stream's small batches would each make a part for the engine to merge "
        "(dashboards see rows this much later; 0 inserts every batch)",
    )
    demo = p.add_argument_group("demo input")
    _flag(
        demo,
        "--demo-hours",
        "YUQING_DEMO_HOURS",
        type=float,
        default="6",
        help="simulated hours of traffic",
    )
    _flag(
        demo,
        "--demo-rate",
        "YUQING_DEMO_RATE",
        type=float,
        default="2",
        help="background mentions per minute per brand at the daily average",
    )
    _flag(
        demo,
        "--demo-seed",
        "YUQING_DEMO_SEED",
        type=int,
        default="7",
        help="random seed (same seed, same data)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from yuqing.dataflows.launcher import RunOptions, launch

    if (
        args.window <= 0
        or args.lateness < 0
        or args.snapshot_interval <= 0
        or args.workers < 1
        or args.max_brands < 0
        or min(args.metrics_every, args.store_hold, args.kafka_gather,
               *(getattr(args, f"keep_{name}") for name in KEEP)) < 0
    ):
        raise UserError(
            "--window, --snapshot-interval and --workers must be positive, "
            "--lateness, --max-brands, --metrics-every, --store-hold, --kafka-gather and --keep-* "
            "zero or more"
        )
    options = RunOptions(
        input=args.input,
        store=args.store,
        alerts=args.alerts,
        dlq=args.dlq,
        recovery=args.recovery,
        snapshot_interval=timedelta(seconds=args.snapshot_interval),
        window=timedelta(seconds=args.window),
        lateness=timedelta(seconds=args.lateness),
        brand_files=tuple(args.brands),
        max_brands=args.max_brands,
        user_dicts=tuple(args.user_dict),
        lexicons=tuple(args.lexicon),
        engine=args.engine,
        feedback=args.feedback,
        workers=args.workers,
        progress_every=args.progress_every,
        metrics_every=args.metrics_every,
        store_hold=args.store_hold,
        processes=args.processes,
        process_id=args.process_id,
        addresses=args.addresses,
        argv=getattr(args, "argv", ()),
        playbooks=tuple(args.playbooks),
        warning_config=args.warning_config,
        customers=args.customers,
        outbox=args.outbox,
        bus=args.bus,
        tokens=args.tokens,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        insecure_plaintext=args.insecure_plaintext,
        http=args.http,
        kafka_group=args.kafka_group,
        kafka_start=args.kafka_start,
        kafka_gather=args.kafka_gather,
        kafka_config=args.kafka_config,
        retention=Retention(**{name: getattr(args, f"keep_{name}") for name in KEEP}),
        demo_hours=args.demo_hours,
        demo_rate=args.demo_rate,
        demo_seed=args.demo_seed,
    )
    started = time.perf_counter()
    summary = launch(options)
    print(summary.render(time.perf_counter() - started))
    return summary.exit_code
