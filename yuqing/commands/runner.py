"""`yuqing runner`: reference action runners that subscribe to the action bus.

`console` prints each delivery, `webhook URL --format …` posts it to a chat
robot or HTTP endpoint, `exec -- CMD` runs a command per delivery with the
event as JSON on stdin. Each acknowledges only after its action succeeded.
See docs/action_bus.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
from pathlib import Path

from yuqing.bus.auth import ClientTLS
from yuqing.bus.client import Handler, RunnerClient, RunnerState
from yuqing.commands import HelpFormatter
from yuqing.errors import UserError
from yuqing.playbooks.activation import department
from yuqing.playbooks.schema import CATEGORIES, DEPARTMENTS
from yuqing.proto import action_bus_pb2
from yuqing.runners.webhook import FORMATS

log = logging.getLogger("yuqing.runner")
DEFAULT_BUS = "127.0.0.1:50151"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "runner",
        help="run an action runner: console, webhook or exec",
        description="Subscribe to the action bus and act on each activation and ticket. "
        "See docs/action_bus.md.",
    )
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    console = kinds.add_parser("console", help="print each delivery readably",
                             description="Print each delivery readably.",
                               formatter_class=HelpFormatter)
    _common(console)
    console.set_defaults(func=run_console)

    webhook = kinds.add_parser("webhook", help="post each delivery to a chat robot or HTTP endpoint",
                             description="Post each delivery to a chat robot or HTTP endpoint.",
                               formatter_class=HelpFormatter)
    webhook.add_argument("url", metavar="URL", help="webhook URL (the robot's address)")
    webhook.add_argument("--format", choices=FORMATS, default="generic",
                         help="message format of the receiving tool")
    webhook.add_argument("--secret", default=os.environ.get("YUQING_WEBHOOK_SECRET", ""),
                         help="signing secret: DingTalk 加签 / Feishu 签名校验 / generic HMAC "
                         "(env YUQING_WEBHOOK_SECRET)")
    webhook.add_argument("--attempts", type=int, default=4, help="posts per delivery before giving up")
    webhook.add_argument("--backoff", type=float, default=1.0, metavar="SECONDS",
                         help="first retry delay; doubles per attempt (at most 30 s)")
    _common(webhook)
    webhook.set_defaults(func=run_webhook)

    exec_ = kinds.add_parser("exec", help="run a command per delivery, the event as JSON on stdin",
                             description="Run a command per delivery, the event as JSON on stdin.",
                             formatter_class=HelpFormatter)
    exec_.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                       help="kill the command after this long (the delivery comes again later)")
    _common(exec_)
    exec_.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD [ARG ...]",
                       help="the command to run; exit 0 = done, 75 = try again later, else failed")
    exec_.set_defaults(func=run_exec)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", default=os.environ.get("YUQING_BUS", DEFAULT_BUS),
                   help="action bus HOST:PORT (env YUQING_BUS)")
    p.add_argument("--runner-id", default=os.environ.get("YUQING_RUNNER_ID", ""),
                   help="this runner's stable id, as in the token file (env YUQING_RUNNER_ID)")
    p.add_argument("--token", default=os.environ.get("YUQING_RUNNER_TOKEN", ""),
                   help="bearer token (env YUQING_RUNNER_TOKEN; prefer the variable to the flag)")
    p.add_argument("--departments", default="", help="comma list: " + ", ".join(DEPARTMENTS))
    p.add_argument("--categories", default="", help="comma list of category ids")
    p.add_argument("--brands", default="", help="comma list of brand names")
    p.add_argument("--min-tier", type=int, default=0, choices=(0, 1, 2, 3),
                   help="only activations at this tier or higher (tickets always pass)")
    p.add_argument("--kinds", default="", help="comma list: activation, ticket (default both)")
    p.add_argument("--start", choices=("earliest", "latest"), default="earliest",
                   help="where a runner new to the bus starts")
    p.add_argument("--state", type=Path, default=None,
                   help="cursor and handled keys (default var/runner-ID.jsonl)")
    p.add_argument("--tls-ca", help="CA certificate (PEM) to trust the bus with; turns TLS on")
    p.add_argument("--tls-cert", help="client certificate (PEM) for mutual TLS")
    p.add_argument("--tls-key", help="client private key (PEM) for mutual TLS")
    p.add_argument("--tls-server-name", default="", help="expected name in the bus certificate")


def build_filter(args: argparse.Namespace) -> action_bus_pb2.Filter:
    departments = _list(args.departments)
    for d in departments:
        if d not in DEPARTMENTS:
            raise UserError(f"--departments: unknown {d!r}; use {', '.join(DEPARTMENTS)}")
    categories = _list(args.categories)
    for c in categories:
        if c not in CATEGORIES:
            raise UserError(f"--categories: unknown {c!r}; use {', '.join(CATEGORIES)}")
    kinds = []
    for k in _list(args.kinds):
        if k not in ("activation", "ticket"):
            raise UserError(f"--kinds: unknown {k!r}; use activation, ticket")
        kinds.append(action_bus_pb2.PayloadKind.Value(f"PAYLOAD_KIND_{k.upper()}"))
    return action_bus_pb2.Filter(departments=[department(d) for d in departments], categories=categories,
                                 brands=_list(args.brands), min_tier=args.min_tier, kinds=kinds)


def client_from_args(args: argparse.Namespace) -> RunnerClient:
    if not args.runner_id:
        raise UserError("give --runner-id (or env YUQING_RUNNER_ID), the id in the bus's token file")
    tls = None
    if args.tls_ca or args.tls_cert or args.tls_key:
        tls = ClientTLS(args.tls_ca, args.tls_cert, args.tls_key, args.tls_server_name)
    state = RunnerState(args.state or Path("var") / f"runner-{args.runner_id}.jsonl")
    start = (action_bus_pb2.START_POSITION_LATEST if args.start == "latest"
             else action_bus_pb2.START_POSITION_EARLIEST)
    return RunnerClient(args.server, args.runner_id, token=args.token, filter=build_filter(args),
                        state=state, tls=tls, start=start)


def serve(args: argparse.Namespace, handler: Handler) -> int:
    client = client_from_args(args)
    previous = signal.signal(signal.SIGTERM, lambda *_: client.stop())
    log.info("runner %s subscribing to %s", args.runner_id, args.server)
    try:
        client.run(handler)
    finally:
        signal.signal(signal.SIGTERM, previous)
        client.close()
    return 0


def run_console(args: argparse.Namespace) -> int:
    from yuqing.runners.console import ConsoleRunner

    return serve(args, ConsoleRunner())


def run_webhook(args: argparse.Namespace) -> int:
    from yuqing.runners.webhook import WebhookRunner

    if args.attempts < 1:
        raise UserError("--attempts: give 1 or more")
    return serve(args, WebhookRunner(args.url, args.format, args.secret, attempts=args.attempts,
                                     backoff=args.backoff))


def run_exec(args: argparse.Namespace) -> int:
    from yuqing.runners.exec import ExecRunner

    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not command:
        raise UserError("give the command after --, e.g. yuqing runner exec --runner-id ops -- ./notify.sh")
    if shutil.which(command[0]) is None:
        raise UserError(f"command {command[0]!r} not found or not executable; give a path or a "
                        "program on PATH")
    return serve(args, ExecRunner(command, timeout=args.timeout))


def _list(text: str) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]
