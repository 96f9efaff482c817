"""`yuqing report`: the daily briefing and the incident review, as HTML + Markdown + PNG.

    yuqing report brief --date 2026-11-20 --out reports/
    yuqing report incident inc-e1d29cb2d145cb76 --out reports/
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from yuqing.core.endpoints import DEFAULT_STORE, parse_store
from yuqing.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="daily briefing or incident review as HTML, Markdown and PNG charts",
        description="Write reports from the store: the daily briefing (volume and sentiment per "
        "brand, incidents, top stories, emerging keywords, playbook activity) or one incident's "
        "review (timeline, evidence, what fired, task acknowledgements, time to first response).")
    parser.set_defaults(func=lambda _args: parser.print_help() or 2)
    kinds = parser.add_subparsers(dest="kind", metavar="KIND")

    brief = kinds.add_parser("brief", help="the daily briefing of one day",
                             description="Write brief-DATE.html, brief-DATE.md and PNG charts.")
    brief.add_argument("--date", required=True, help="the day, YYYY-MM-DD, in --tz")
    _common(brief)
    brief.set_defaults(func=run_brief)

    incident = kinds.add_parser("incident", help="the review of one incident",
                                description="Write incident-ID.html, incident-ID.md and a PNG timeline.")
    incident.add_argument("incident_id", metavar="ID", help="incident id, e.g. inc-e1d29cb2d145cb76")
    _common(incident)
    incident.set_defaults(func=run_incident)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="directory for the files (created)")
    p.add_argument("--store", default=os.environ.get("YUQING_STORE", DEFAULT_STORE),
                   help="chdb:///DIR or clickhouse://USER:PASS@HOST:8123/DB (env YUQING_STORE)")
    p.add_argument("--tz", default="Asia/Shanghai", help="time zone of the report (default Asia/Shanghai)")


def _open(args: argparse.Namespace):
    try:
        ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(f"--tz {args.tz!r}: unknown time zone; use a name like Asia/Shanghai") from None
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out}: is a file; give a directory")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UserError("reports need matplotlib: pip install matplotlib") from None
    from yuqing.sinks.clickhouse import Store

    spec = parse_store(args.store)
    if spec.kind == "chdb" and not (spec.path and spec.path.exists()):
        raise UserError(f"--store {args.store}: no such directory; run `yuqing run` first")
    store = Store(spec)
    if spec.kind == "chdb":  # an embedded store from an older run may lack newer tables
        store.ensure_schema()
    store.client.database = spec.database
    return store


def run_brief(args: argparse.Namespace) -> int:
    from yuqing.reports.brief import write_brief

    try:
        day = date.fromisoformat(args.date)
    except ValueError:
        raise UserError(f"--date {args.date!r}: expected YYYY-MM-DD, e.g. 2026-11-20") from None
    store = _open(args)
    started = time.perf_counter()
    try:
        files = write_brief(store, day, args.out, args.tz)
    finally:
        store.close()
    print(f"daily briefing {day}: {files.mentions:,} mentions, "
          f"{time.perf_counter() - started:.1f} s")
    for path in (files.html, files.markdown, *files.charts):
        print(f"  {path}")
    return 0


def run_incident(args: argparse.Namespace) -> int:
    from yuqing.reports.incident import write_review

    store = _open(args)
    try:
        files = write_review(store, args.incident_id, args.out, args.tz)
    finally:
        store.close()
    print(f"incident review {args.incident_id}")
    for path in (files.html, files.markdown, files.chart):
        print(f"  {path}")
    return 0
