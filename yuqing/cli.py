"""The `yuqing` console command: one entry point, a subcommand per job.

Each subcommand lives in its own module under `yuqing.commands` and exposes
`register(subparsers)`, which adds its parser and sets `func` to a callable
taking the parsed namespace and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from yuqing import __version__
from yuqing.errors import UserError

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
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user errors become one line on stderr and exit code 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    logging.basicConfig(
        level=str(args.log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        print(f"yuqing {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"yuqing {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
