"""`yuqing run`: run the one dataflow until its input ends (or forever, for Kafka)."""

from __future__ import annotations

import argparse
import logging
import os
import time
from datetime import timedelta
from pathlib import Path

from yuqing.core.endpoints import DEFAULT_STORE
from yuqing.errors import UserError

log = logging.getLogger("yuqing.run")


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="run the dataflow: mentions in, metrics/alerts out",
        description="Run the Yuqing Radar dataflow. A finite input (demo, file, stdin, "
        "kafka://...?until=end) ends the run after every window is flushed.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--input", default=_env("YUQING_INPUT", "demo"),
                   help="demo | PATH.jsonl | - (stdin) | kafka://HOST:PORT/TOPIC[?until=end] "
                   "(env YUQING_INPUT)")
    p.add_argument("--store", default=_env("YUQING_STORE", DEFAULT_STORE),
                   help="chdb:///DIR[?database=NAME] or clickhouse://USER:PASS@HOST:8123/DB "
                   "(env YUQING_STORE)")
    p.add_argument("--alerts", default=_env("YUQING_ALERTS", "var/alerts.jsonl"),
                   help="PATH.jsonl or kafka://HOST:PORT/TOPIC (env YUQING_ALERTS)")
    p.add_argument("--dlq", default=_env("YUQING_DLQ", "var/dead_letters.jsonl"),
                   help="dead-letter output: PATH.jsonl or kafka://HOST:PORT/TOPIC (env YUQING_DLQ)")
    p.add_argument("--recovery", type=Path, default=os.environ.get("YUQING_RECOVERY"),
                   help="directory for Bytewax recovery snapshots; restarts resume from it "
                   "(env YUQING_RECOVERY; off by default)")
    p.add_argument("--snapshot-interval", type=float, default=10.0, metavar="SECONDS",
                   help="how often state is snapshotted (with --recovery)")
    p.add_argument("--window", type=int, default=60, metavar="SECONDS",
                   help="length of the event-time metric windows")
    p.add_argument("--lateness", type=int, default=30, metavar="SECONDS",
                   help="how long a window waits for late mentions before it closes")
    p.add_argument("--brands", type=Path, action="append", default=[],
                   help="extra brand dictionary YAML (repeatable; see yuqing/data/brands.yaml)")
    p.add_argument("--max-brands", type=int, default=int(_env("YUQING_MAX_BRANDS", "1000")),
                   metavar="N", help="brands not in the brand dictionary that are watched, at "
                   "most; mentions naming further ones are dead-lettered "
                   "(env YUQING_MAX_BRANDS, default 1000)")
    p.add_argument("--feedback", default=os.environ.get("YUQING_FEEDBACK"),
                   help="analysts' labels and verdicts: PATH.jsonl or kafka://HOST:PORT/feedback "
                   "(env YUQING_FEEDBACK; off by default)")
    p.add_argument("--engine", choices=("jieba", "rjieba", "auto"),
                   default=_env("YUQING_ENGINE", "jieba"),
                   help="segmentation engine: jieba (reference), rjieba (fast), auto "
                   "(rjieba when installed) (env YUQING_ENGINE)")
    p.add_argument("--user-dict", type=Path, action="append", default=[],
                   help="extra jieba user dictionary (repeatable)")
    p.add_argument("--lexicon", type=Path, action="append", default=[],
                   help="extra risk lexicon YAML (repeatable; see yuqing/data/risk_lexicon.yaml)")
    p.add_argument("--workers", type=int, default=1,
                   help="worker threads in this process (scale out with processes instead: "
                   "python -m bytewax.run -i/-a)")
    link = p.add_argument_group("early warning and linkage")
    link.add_argument("--playbooks", type=Path, action="append", default=[],
                      help="extra playbook folder (repeatable), added to the shipped library; "
                      "an invalid library stops the start")
    link.add_argument("--warning-config", type=Path,
                      default=os.environ.get("YUQING_WARNING_CONFIG"),
                      help="YAML with tier thresholds per brand/category (see docs/early_warning.md)")
    link.add_argument("--customers", type=Path,
                      help="YAML mapping source:author_id to customer ids, for complaint tickets")
    link.add_argument("--outbox", type=Path, default=Path(_env("YUQING_OUTBOX", "var/outbox.sqlite3")),
                      help="durable outbox of activations and tickets (env YUQING_OUTBOX)")
    link.add_argument("--bus", default=_env("YUQING_BUS", "127.0.0.1:50151"),
                      help="HOST:PORT of the gRPC action bus served while running, or off "
                      "(env YUQING_BUS)")
    link.add_argument("--tokens", type=Path, help="runner token file (YAML, hashed tokens)")
    link.add_argument("--tls-cert", help="bus server certificate (PEM); turns TLS on")
    link.add_argument("--tls-key", help="bus server private key (PEM)")
    link.add_argument("--tls-client-ca", help="CA that runner certificates must chain to (mTLS)")
    link.add_argument("--insecure-plaintext", action="store_true",
                      default=_env("YUQING_BUS_INSECURE_PLAINTEXT", "") == "1",
                      help="serve --tokens without TLS off loopback: tokens cross the network "
                      "in the clear (env YUQING_BUS_INSECURE_PLAINTEXT=1)")
    p.add_argument("--progress-every", type=float, default=10.0, metavar="SECONDS",
                   help="log a progress line with the counts this often")
    demo = p.add_argument_group("demo input")
    demo.add_argument("--demo-hours", type=float, default=6.0, help="simulated hours of traffic")
    demo.add_argument("--demo-rate", type=float, default=2.0,
                      help="background mentions per minute per brand at the daily average")
    demo.add_argument("--demo-seed", type=int, default=7, help="random seed (same seed, same data)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from yuqing.dataflows.launcher import RunOptions, launch

    if (args.window <= 0 or args.lateness < 0 or args.snapshot_interval <= 0 or args.workers < 1
            or args.max_brands < 0):
        raise UserError("--window, --snapshot-interval and --workers must be positive, "
                        "--lateness and --max-brands zero or more")
    options = RunOptions(
        input=args.input, store=args.store, alerts=args.alerts, dlq=args.dlq,
        recovery=args.recovery, snapshot_interval=timedelta(seconds=args.snapshot_interval),
        window=timedelta(seconds=args.window), lateness=timedelta(seconds=args.lateness),
        brand_files=tuple(args.brands), max_brands=args.max_brands,
        user_dicts=tuple(args.user_dict),
        lexicons=tuple(args.lexicon), engine=args.engine, feedback=args.feedback,
        workers=args.workers, progress_every=args.progress_every,
        playbooks=tuple(args.playbooks), warning_config=args.warning_config,
        customers=args.customers, outbox=args.outbox, bus=args.bus, tokens=args.tokens,
        tls_cert=args.tls_cert, tls_key=args.tls_key, tls_client_ca=args.tls_client_ca,
        insecure_plaintext=args.insecure_plaintext,
        demo_hours=args.demo_hours, demo_rate=args.demo_rate, demo_seed=args.demo_seed,
    )
    started = time.perf_counter()
    summary = launch(options)
    print(summary.render(time.perf_counter() - started))
    return 0
