"""One dataflow on several processes: who owns what, and the processes `--processes N` starts.

Bytewax runs the same dataflow in every process of a cluster (`-i/--process-id`
and `-a/--addresses`, or BYTEWAX_PROCESS_ID / BYTEWAX_ADDRESSES). Kafka
partitions and keyed state (by brand) spread over all workers. Process 0 is
the owner: it prepares the store, opens the embedded chDB store and the SQLite
outbox (each allows one process), serves the action bus and `--http`, and
prints the summary; the sinks for those route every item to it. `--processes N`
on one machine picks N loopback ports and starts processes 1..N-1 as
children of process 0, which forwards SIGTERM/Ctrl-C to them.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from yuqing.errors import UserError

log = logging.getLogger("yuqing.run")


@dataclass(frozen=True)
class Membership:
    """This process's place in the cluster (a lone process is id 0 of 1)."""

    process_id: int = 0
    addresses: tuple[str, ...] = ()

    @property
    def owner(self) -> bool:
        return self.process_id == 0

    @property
    def count(self) -> int:
        return max(1, len(self.addresses))

    @property
    def clustered(self) -> bool:
        return self.count > 1


def parse_addresses(text: str | None, process_id: int | None) -> Membership:
    """`-a "h1:p1;h2:p2"` and `-i N` as a Membership, checked."""
    if process_id is None and not text:
        return Membership()
    if process_id is None or not text:
        raise UserError("give --process-id and --addresses together (or --processes N)")
    addresses = tuple(a.strip() for a in text.split(";") if a.strip())
    for address in addresses:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise UserError(f"--addresses {text!r}: give HOST:PORT;HOST:PORT;…")
    if not 0 <= process_id < len(addresses):
        raise UserError(
            f"--process-id {process_id}: give 0 to {len(addresses) - 1} for "
            f"{len(addresses)} addresses"
        )
    return Membership(process_id, addresses)


def loopback_addresses(n: int) -> tuple[str, ...]:
    """N free loopback ports for a cluster on this machine."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return tuple(f"127.0.0.1:{s.getsockname()[1]}" for s in sockets)
    finally:
        for s in sockets:
            s.close()


class Members:
    """The child processes 1..N-1 of a `--processes N` run."""

    def __init__(self, argv: Sequence[str], addresses: tuple[str, ...]) -> None:
        self.children: list[subprocess.Popen] = []
        for process_id in range(1, len(addresses)):
            command = [sys.executable, "-m", "yuqing.cli", *argv,
                       "--process-id", str(process_id), "--addresses", ";".join(addresses)]
            self.children.append(subprocess.Popen(command))
        log.info("cluster of %d processes on %s; started processes 1..%d",
                 len(addresses), ";".join(addresses), len(addresses) - 1)

    def signal(self, sig: signal.Signals) -> None:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(sig)

    def wait(self, timeout: float = 120.0) -> list[tuple[int, int]]:
        """Wait for every child; returns (process id, exit code) of those that failed."""
        failed = []
        for process_id, child in enumerate(self.children, start=1):
            try:
                code = child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                code = child.wait()
            if code not in (0, 130, 143):
                failed.append((process_id, code))
        return failed

    def stop(self, grace: float = 10.0) -> None:
        """End the children still running (after a failure): SIGTERM, then SIGKILL."""
        self.signal(signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(grace)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
