"""The `yuqing` console command: one entry point, a subcommand per job.

Each subcommand lives in its own module under `yuqing.commands` and exposes
`register(subparsers)`, which adds its parser and sets `func` to a callable
taking the parsed namespace and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Sequence

from yuqing import __version__
from yuqing.errors import FlowFailed, UserError

# Subcommand modules, in the order `yuqing --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "yuqing.commands.run",
    "yuqing.commands.sentiment",
    "yuqing.commands.score",
    "yuqing.commands.sql",
    "yuqing.commands.detect",
    "yuqing.commands.warn",
    "yuqing.commands.playbooks",
    "yuqing.commands.drill",
    "yuqing.commands.bus",
    "yuqing.commands.runner",
    "yuqing.commands.report",
)

log = logging.getLogger("yuqing")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message (and the traceback, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
               "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="yuqing",
        description="Yuqing Radar: real-time public-opinion monitoring and crisis response.",
    )
    parser.add_argument("--version", action="version", version=f"yuqing-radar {__version__}")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("YUQING_LOG_LEVEL", "INFO"),
        help="logging level: DEBUG, INFO, WARNING, ERROR (env YUQING_LOG_LEVEL; default INFO)",
    )
    parser.add_argument(
        "--log-format", choices=("text", "json"),
        default=os.environ.get("YUQING_LOG_FORMAT", "text"),
        help="text lines, or one JSON object per line for log collectors "
        "(env YUQING_LOG_FORMAT; default text)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user errors become one line on stderr and exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = tuple(sys.argv[1:] if argv is None else argv)  # to start a cluster's processes
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter() if args.log_format == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=str(args.log_level).upper(), handlers=[handler])
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        print(f"yuqing {args.command}: error: {err}", file=sys.stderr)
        return 2
    except FlowFailed as err:
        print(f"yuqing {args.command}: error: {err} (--log-level DEBUG shows where)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"yuqing {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
