"""`yuqing sql`: run one query against the store (handy for chDB, which one process owns)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from yuqing.core.endpoints import DEFAULT_STORE, parse_store
from yuqing.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sql",
        help="run a SQL query against the store and print the rows",
        description="Run one query against the store. Tables live in the store's database "
        "(default yuqing), which is the session's current database. "
        "Use FINAL to see deduplicated rows.",
    )
    p.add_argument("query", help='e.g. "SELECT brand, sum(mentions) FROM window_metrics FINAL GROUP BY brand"')
    p.add_argument("--store", default=os.environ.get("YUQING_STORE", DEFAULT_STORE),
                   help="chdb:///DIR or clickhouse://USER:PASS@HOST:8123/DB (env YUQING_STORE)")
    p.add_argument("--format", choices=("tsv", "jsonl"), default="tsv", help="output format")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from clickhouse_connect.driver.exceptions import ClickHouseError

    from yuqing.sinks.clickhouse import Store

    spec = parse_store(args.store)
    if spec.kind == "chdb" and not (spec.path and spec.path.exists()):
        raise UserError(f"--store {args.store}: no such directory; run `yuqing run` first")
    store = Store(spec)
    try:
        store.client.command(f"CREATE DATABASE IF NOT EXISTS {spec.database}")
        store.client.database = spec.database
        result = store.client.query(args.query)
    except ClickHouseError as err:
        first = str(err).strip().splitlines()[0]
        raise UserError(f"query failed: {first}") from None
    out = sys.stdout
    if args.format == "tsv":
        out.write("\t".join(result.column_names) + "\n")
        for row in result.result_rows:
            out.write("\t".join(str(v) for v in row) + "\n")
    else:
        for row in result.result_rows:
            out.write(json.dumps(dict(zip(result.column_names, row, strict=True)),
                                 ensure_ascii=False, default=str) + "\n")
    store.close()
    return 0
