"""A runner's side of the action bus: subscribe, act on each delivery once, acknowledge, resume.

`RunnerClient.run(handler)` keeps a Subscribe stream open (reconnecting with
back-off when the bus goes away), hands each delivery to `handler`, and
acknowledges it with the handler's `Outcome` only after the handler
returned. A delivery whose key was already handled (DONE or ACCEPTED) is
acknowledged again without acting twice. The cursor and the recently handled
keys are kept in a small JSON state file, so after a restart the runner
resumes after its cursor and still recognises redelivered events.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from yuqing.bus.auth import ClientTLS, bearer_metadata
from yuqing.bus.outbox import ACCEPTED, DONE, FAILED
from yuqing.errors import UserError
from yuqing.proto import (
    ACTIVATION_SCHEMA_VERSION,
    TICKET_SCHEMA_VERSION,
    action_bus_pb2,
    action_bus_pb2_grpc,
)

log = logging.getLogger(__name__)
bus = action_bus_pb2
CHANNEL_OPTIONS = (
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
)
_FATAL = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED,
          grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ABORTED, grpc.StatusCode.UNIMPLEMENTED)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the runner did with a delivery: the ack status, a detail, and whether to get it again."""

    status: int = DONE
    detail: str = ""
    retry: bool = False

    @classmethod
    def done(cls, detail: str = "") -> Outcome:
        return cls(DONE, detail)

    @classmethod
    def failed(cls, detail: str, *, retry: bool = False) -> Outcome:
        return cls(FAILED, detail, retry)


Handler = Callable[[bus.Delivery], Outcome]


def delivery_key(delivery: bus.Delivery) -> str:
    """The idempotency key of an activation or the ticket key of a ticket."""
    if delivery.WhichOneof("payload") == "ticket":
        return delivery.ticket.ticket_key
    return delivery.activation.idempotency_key


class RunnerState:
    """The runner's cursor and its last `keep` handled keys, in a JSON-lines file (or nowhere).

    Each handled delivery appends one line `[cursor, key, status, detail]`, so
    saving costs the same however many keys are kept; the file is rewritten
    (atomically) when it holds twice `keep` lines.
    """

    def __init__(self, path: str | Path | None = None, *, keep: int = 10_000) -> None:
        self.path = Path(path) if path else None
        self.keep = keep
        self.cursor: int | None = None
        self.seen: OrderedDict[str, tuple[int, str]] = OrderedDict()
        self._lines = 0
        self._pending: list[str] = []
        if self.path and self.path.exists():
            try:
                for line in self.path.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        cursor, key, status, detail = json.loads(line)
                        self._remember(int(cursor), str(key), int(status), str(detail))
                        self._lines += 1
            except (OSError, ValueError, TypeError) as err:
                raise UserError(f"runner state {self.path}: unreadable ({err}); delete it to start "
                                "over from the bus's committed cursor") from None

    def handled(self, key: str) -> tuple[int, str] | None:
        return self.seen.get(key)

    def record(self, key: str, cursor: int, outcome: Outcome) -> None:
        status = outcome.status if outcome.status in (DONE, ACCEPTED) or not outcome.retry else 0
        self._remember(cursor, key, status, outcome.detail)
        self._pending.append(json.dumps([cursor, key, status, outcome.detail], ensure_ascii=False))

    def _remember(self, cursor: int, key: str, status: int, detail: str) -> None:
        if status:
            self.seen[key] = (status, detail)
            self.seen.move_to_end(key)
            while len(self.seen) > self.keep:
                self.seen.popitem(last=False)
        self.cursor = max(self.cursor or 0, cursor)

    def save(self) -> None:
        if not self.path or not self._pending:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._lines + len(self._pending) > 2 * self.keep:
            self._rewrite()
        else:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write("\n".join(self._pending) + "\n")
            self._lines += len(self._pending)
        self._pending.clear()

    def _rewrite(self) -> None:
        assert self.path is not None
        lines = [json.dumps([self.cursor or 0, k, s, d], ensure_ascii=False) for k, (s, d) in self.seen.items()]
        if not lines:
            lines = [json.dumps([self.cursor or 0, "", 0, ""])]
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.replace(tmp, self.path)
        self._lines = len(lines)


class BusRefused(UserError):
    """The bus refused the runner (token, scope, filter): retrying will not help."""


class RunnerClient:
    """One runner's connection to the bus."""

    def __init__(
        self,
        target: str,
        runner_id: str,
        *,
        token: str = "",
        filter: bus.Filter | None = None,
        state: RunnerState | None = None,
        tls: ClientTLS | None = None,
        start: int = bus.START_POSITION_EARLIEST,
        backoff: tuple[float, float] = (0.2, 5.0),
        ack_timeout: float = 10.0,
    ) -> None:
        self.target = target
        self.runner_id = runner_id
        self.metadata: Sequence[tuple[str, str]] = bearer_metadata(token) if token else ()
        self.filter = filter or bus.Filter()
        self.state = state or RunnerState()
        self.start = start
        self.backoff = backoff
        self.ack_timeout = ack_timeout
        options = CHANNEL_OPTIONS
        if tls and tls.server_name:
            options = (*options, ("grpc.ssl_target_name_override", tls.server_name))
        self.channel = (grpc.secure_channel(target, tls.credentials(), options=options) if tls
                        else grpc.insecure_channel(target, options=options))
        self.stub = action_bus_pb2_grpc.ActionBusStub(self.channel)
        self._stop = threading.Event()
        self._call: grpc.Future | None = None
        self.handled = 0

    def stop(self) -> None:
        """End `run` (from another thread or a signal handler)."""
        self._stop.set()
        call = self._call
        if call is not None:
            call.cancel()

    def close(self) -> None:
        self.stop()
        self.channel.close()

    def run(self, handler: Handler, *, max_deliveries: int | None = None) -> int:
        """Handle deliveries until `stop` (or `max_deliveries`); the number handled.

        Raises BusRefused when the bus refuses the token, scope or filter.
        """
        delay = self.backoff[0]
        while not self._stop.is_set():
            request = bus.SubscribeRequest(runner_id=self.runner_id, filter=self.filter, start=self.start)
            if self.state.cursor is not None:
                request.resume_after = self.state.cursor
            try:
                self._call = self.stub.Subscribe(request, metadata=self.metadata)
                for delivery in self._call:
                    delay = self.backoff[0]
                    self._handle(delivery, handler)
                    if max_deliveries is not None and self.handled >= max_deliveries:
                        self.stop()
                    if self._stop.is_set():
                        break
                reason = "the bus ended the stream"
            except grpc.RpcError as err:
                code = err.code() if hasattr(err, "code") else None
                if self._stop.is_set():
                    break
                if code in _FATAL:
                    raise BusRefused(f"the bus refused runner {self.runner_id}: "
                                     f"{code.name}: {err.details()}") from None
                reason = f"{code.name if code else 'error'}: {err.details() if hasattr(err, 'details') else err}"
            finally:
                self._call = None
            if self._stop.is_set():
                break
            log.warning("runner %s: %s; reconnecting in %.1f s", self.runner_id, reason, delay)
            self._stop.wait(delay)
            delay = min(delay * 2, self.backoff[1])
        return self.handled

    def _handle(self, delivery: bus.Delivery, handler: Handler) -> None:
        key = delivery_key(delivery)
        before = self.state.handled(key)
        if before is not None and before[0] in (DONE, ACCEPTED):
            outcome = Outcome(before[0], f"duplicate, handled before: {before[1]}"[:500])
            log.info("runner %s: %s again (cursor %d), acknowledged without acting",
                     self.runner_id, key, delivery.cursor)
        else:
            outcome = self._act(delivery, handler)
        # Remember the outcome before acknowledging: if the ack is lost, the redelivery is
        # recognised and acknowledged without acting twice.
        self.state.record(key, delivery.cursor, outcome)
        self.state.save()
        self.stub.Ack(bus.AckRequest(runner_id=self.runner_id, cursor=delivery.cursor, key=key,
                                     status=outcome.status, detail=outcome.detail[:2000],
                                     retry=outcome.retry),
                      metadata=self.metadata, timeout=self.ack_timeout)
        self.handled += 1

    def _act(self, delivery: bus.Delivery, handler: Handler) -> Outcome:
        kind = delivery.WhichOneof("payload")
        message = delivery.ticket if kind == "ticket" else delivery.activation
        known = TICKET_SCHEMA_VERSION if kind == "ticket" else ACTIVATION_SCHEMA_VERSION
        if message.schema_version > known:
            return Outcome.failed(f"schema_version {message.schema_version} is newer than this "
                                  f"runner knows ({known}); upgrade the runner")
        try:
            return handler(delivery)
        except Exception as err:  # a bug or an outage in the action: report it, get it again later
            log.exception("runner %s: handler failed on %s", self.runner_id, delivery_key(delivery))
            return Outcome.failed(f"{type(err).__name__}: {err}", retry=True)
