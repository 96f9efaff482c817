"""`yuqing bus`: serve the action bus on its own, and make runner tokens.

`yuqing bus serve` serves the outbox file the flow writes (see docs/action_bus.md);
`yuqing bus token` prints a new token and the line for the token file.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from yuqing.commands import HelpFormatter
from yuqing.errors import UserError

log = logging.getLogger("yuqing.bus")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bus",
        help="serve the action bus, make runner tokens",
        description="The gRPC action bus that runners subscribe to. See docs/action_bus.md.",
    )
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    serve = verbs.add_parser("serve", help="serve the action bus over an outbox file",
                             description="Serve the action bus over an outbox file.",
                             formatter_class=HelpFormatter)
    serve.add_argument("--outbox", default="var/outbox.sqlite3",
                       help="the outbox the flow appends to: a SQLite file, or the bus log "
                       "kafka://HOST:PORT/TOPIC that several replicas serve (docs/action_bus.md)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=50151, help="port to listen on (0: any free port)")
    serve.add_argument("--tokens", type=Path, help="token file (YAML); without it the bus is open")
    serve.add_argument("--tls-cert", help="server certificate (PEM); turns TLS on")
    serve.add_argument("--tls-key", help="server private key (PEM)")
    serve.add_argument("--tls-client-ca", help="CA (PEM) that client certificates must chain to (mTLS)")
    serve.add_argument("--ack-timeout", type=float, default=30.0, metavar="SECONDS",
                       help="send an unacknowledged delivery again after this long")
    serve.add_argument("--insecure-open", action="store_true",
                       help="allow an open bus (no --tokens) on a non-loopback address")
    serve.add_argument("--insecure-plaintext", action="store_true",
                       help="allow --tokens without TLS on a non-loopback address (tokens in clear)")
    serve.set_defaults(func=run_serve)

    token = verbs.add_parser("token", help="make a runner token and its token-file entry",
                             description="Make a runner token and its token-file entry.")
    token.add_argument("runner_id", metavar="RUNNER_ID", help="the runner's stable id")
    token.add_argument("--stdin", action="store_true",
                       help="hash the token read from stdin instead of making a new one")
    token.add_argument("--departments", default="", help="comma list for the entry's scope")
    token.add_argument("--brands", default="", help="comma list for the entry's scope")
    token.set_defaults(func=run_token)


def run_serve(args: argparse.Namespace) -> int:
    from yuqing.bus.auth import ServerTLS, TokenFile, exposure_problem
    from yuqing.bus.server import BusServer
    from yuqing.core.endpoints import kafka_settings
    from yuqing.dataflows.preflight import open_outbox

    if bool(args.tls_cert) != bool(args.tls_key):
        raise UserError("give both --tls-cert and --tls-key, or neither")
    if args.tls_client_ca and not args.tls_cert:
        raise UserError("--tls-client-ca needs --tls-cert and --tls-key (mutual TLS runs over TLS)")
    problem = exposure_problem(args.host, bool(args.tokens), bool(args.tls_cert),
                               allow_open=args.insecure_open,
                               allow_plaintext=args.insecure_plaintext)
    if problem:
        raise UserError(f"--host {args.host}: {problem}; give --tokens FILE and --tls-cert/--tls-key "
                        "(or --insecure-open / --insecure-plaintext if you mean it)")
    auth = TokenFile(args.tokens) if args.tokens else None
    tls = ServerTLS(args.tls_cert, args.tls_key, args.tls_client_ca) if args.tls_cert else None
    outbox = open_outbox(args.outbox, kafka_settings())  # a bad path: the flow's one-line error
    server = BusServer(outbox, host=args.host, port=args.port, auth=auth, tls=tls,
                       ack_timeout=args.ack_timeout)
    try:
        server.start()
    except OSError as err:
        outbox.close()
        raise UserError(f"{err}; is another bus running there? pick another --port") from None
    done = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(f"action bus serving {args.outbox} on {server.address}", file=sys.stderr, flush=True)
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop(grace=2.0)
        outbox.close()
    return 0


def run_token(args: argparse.Namespace) -> int:
    from yuqing.bus.auth import hash_token, new_token

    if args.stdin:
        token = sys.stdin.readline().strip()
        if len(token) < 24:
            raise UserError("the token on stdin is shorter than 24 characters; use a long random "
                            "token (run without --stdin to make one)")
    else:
        token = new_token()
        print(f"# token for {args.runner_id} (give it to the runner as YUQING_RUNNER_TOKEN; "
              "it is not stored anywhere):")
        print(f"# {token}")
    print("runners:")
    print(f"  {args.runner_id}:")
    print(f"    token_sha256: {hash_token(token)}")
    for field in ("departments", "brands"):
        values = [v.strip() for v in getattr(args, field).split(",") if v.strip()]
        if values:
            print(f"    {field}: [{', '.join(values)}]")
    return 0
