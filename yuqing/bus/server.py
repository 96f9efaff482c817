"""The action bus: a gRPC server that streams activations and tickets from the outbox to runners.

`publish(outbox, message)` puts an Activation or Ticket on the bus;
`BusServer(outbox, …).start()` serves `yuqing.v1.ActionBus` (see
`proto/yuqing/v1/action_bus.proto`) with gRPC health checking and server
reflection. Delivery is at-least-once: the server records a delivery before
sending it; a delivery not acknowledged within `ack_timeout` (or failed with
`retry`) is sent again, on the live stream and at the next Subscribe; a
Subscribe without `resume_after` resumes after the runner's committed
cursor, so a restart of either side loses nothing.

Within each batch of waiting events (up to `batch`), activations go first in
bus order and tickets follow, most influential author first.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent import futures
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import grpc
from google.protobuf import timestamp_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from yuqing.bus.auth import AuthError, OpenAccess, Principal, ServerTLS, TokenFile
from yuqing.bus.outbox import ACCEPTED, DONE, FAILED, Entry, Event, Outbox, Task
from yuqing.core.feedback import InvalidFeedback, parse_feedback
from yuqing.playbooks.activation import department, department_name, snapshot_proto
from yuqing.playbooks.schema import CATEGORIES
from yuqing.proto import SERVICE_NAME, action_bus_pb2, action_bus_pb2_grpc, activation_pb2

log = logging.getLogger(__name__)
bus = action_bus_pb2
ACTIVATION, TICKET = "activation", "ticket"
_KINDS = {bus.PAYLOAD_KIND_ACTIVATION: ACTIVATION, bus.PAYLOAD_KIND_TICKET: TICKET}
_STATES = {activation_pb2.INCIDENT_STATE_OPEN: ("open",),
           activation_pb2.INCIDENT_STATE_ESCALATED: ("escalated",),
           activation_pb2.INCIDENT_STATE_DE_ESCALATED: ("de-escalated", "de_escalated"),
           activation_pb2.INCIDENT_STATE_RESOLVED: ("resolved",)}
_LABELS = {bus.SENTIMENT_LABEL_NEGATIVE: "negative", bus.SENTIMENT_LABEL_NEUTRAL: "neutral",
           bus.SENTIMENT_LABEL_POSITIVE: "positive"}
MAX_CURSOR = 2**63 - 1  # cursors are SQLite integers
MAX_PAGE_OFFSET = 10**9
MAX_CHARS = {"runner_id": 128, "key": 512, "detail": 4096, "idempotency_key": 512, "task_id": 128,
             "assignee": 256, "incident_id": 128, "mention_id": 512, "text": 20_000,
             "category": 64, "analyst_id": 256, "note": 2000, "brand": 128, "page_token": 20}
MAX_LIST = 100  # brands, categories, departments, kinds, states in one request
FUTURE_SLACK = 300.0  # seconds a client's clock may run ahead in updated_at / submitted_at
MAX_REQUEST_BYTES = 1 << 20
SERVER_OPTIONS = (
    ("grpc.so_reuseport", 0),  # a second bus on the same port fails instead of sharing it
    ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
)


def publish(outbox: Outbox, message: activation_pb2.Activation | activation_pb2.Ticket) -> int:
    """Put an activation or ticket on the bus; its cursor (the same one again for a known key)."""
    return outbox.append(entry_of(message))


def entry_of(message: activation_pb2.Activation | activation_pb2.Ticket) -> Entry:
    """The outbox entry of a message: payload plus what subscriptions filter on."""
    if isinstance(message, activation_pb2.Activation):
        tasks = tuple(Task(t.task_id, department_name(t.department),
                           t.due_at.ToDatetime(UTC).timestamp() if t.HasField("due_at") else None)
                      for t in message.tasks)
        return Entry(message.idempotency_key, ACTIVATION, message.SerializeToString(),
                     brand=message.incident.brand, category=message.incident.category,
                     tier=message.tier, departments=tuple(sorted({t.department for t in tasks})),
                     incident_id=message.incident.incident_id, tasks=tasks)
    if isinstance(message, activation_pb2.Ticket):
        return Entry(message.ticket_key, TICKET, message.SerializeToString(), brand=message.brand,
                     category=message.category, departments=(department_name(message.department),),
                     priority=message.priority, incident_id=message.incident_id)
    raise TypeError(f"cannot publish {type(message).__name__}; give an Activation or a Ticket")


@dataclass(frozen=True, slots=True)
class Want:
    """A subscription's filter, narrowed to the runner's scope."""

    departments: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    brands: frozenset[str] = frozenset()
    min_tier: int = 0
    kinds: frozenset[str] = frozenset()

    def matches(self, e: Event) -> bool:
        return ((not self.kinds or e.kind in self.kinds)
                and (not self.brands or e.brand in self.brands)
                and (not self.categories or e.category in self.categories)
                and (not self.departments or not self.departments.isdisjoint(e.departments))
                and (e.kind != ACTIVATION or e.tier >= self.min_tier))


def want_of(request_filter: bus.Filter, principal: Principal) -> Want:
    """The effective filter; AuthError PERMISSION_DENIED outside the scope, ValueError when malformed."""
    unknown_kinds = [k for k in request_filter.kinds if k not in _KINDS]
    if unknown_kinds:
        raise ValueError(f"kinds: unknown value {unknown_kinds[0]}; use PAYLOAD_KIND_ACTIVATION "
                         "or PAYLOAD_KIND_TICKET, or none for both")
    departments = [department_name(d) for d in request_filter.departments if d]
    unknown = [c for c in request_filter.categories if c not in CATEGORIES]
    if unknown:
        raise ValueError(f"unknown category {unknown[0]!r}; use one of {', '.join(CATEGORIES)}")
    outside = principal.outside(departments, request_filter.brands, request_filter.categories)
    if outside:
        raise AuthError(grpc.StatusCode.PERMISSION_DENIED,
                        f"runner {principal.runner_id} may not subscribe to {', '.join(outside)}")
    return Want(
        departments=frozenset(departments) or principal.departments,
        categories=frozenset(request_filter.categories) or principal.categories,
        brands=frozenset(request_filter.brands) or principal.brands,
        min_tier=int(request_filter.min_tier),
        kinds=frozenset(_KINDS[k] for k in request_filter.kinds),
    )


class ActionBusService(action_bus_pb2_grpc.ActionBusServicer):
    """The servicer over one outbox; `stop` ends every open stream."""

    def __init__(
        self,
        outbox: Outbox,
        auth: TokenFile | OpenAccess | None = None,
        *,
        ack_timeout: float = 30.0,
        retry_base: float = 5.0,
        batch: int = 256,
        idle_check: float = 1.0,
        on_feedback: Callable[[dict[str, Any]], None] | None = None,
        max_streams: int = 48,
    ) -> None:
        self.outbox = outbox
        self.max_streams = max_streams
        self._streams = 0
        self.auth = auth or OpenAccess()
        self.ack_timeout = ack_timeout
        self.retry_base = retry_base
        self.batch = batch
        self.idle_check = idle_check
        self.on_feedback = on_feedback
        self._sessions: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        self.outbox.notify()

    # -- calls -------------------------------------------------------------

    def Subscribe(self, request: bus.SubscribeRequest, context: grpc.ServicerContext) -> Iterator[bus.Delivery]:
        principal = self._principal(context)
        runner = self._runner(request.runner_id, principal, context)
        _bounded(context, brands=request.filter.brands,
                 categories=request.filter.categories, departments=request.filter.departments,
                 kinds=request.filter.kinds)
        if request.HasField("resume_after") and not 0 <= request.resume_after <= MAX_CURSOR:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"resume_after: {request.resume_after} is not a cursor")
        try:
            want = want_of(request.filter, principal)
        except AuthError as err:
            context.abort(err.code, str(err))
        except ValueError as err:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        with self._lock:
            if self._streams >= self.max_streams:
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                              f"{self._streams} runner streams are open, the limit is "
                              f"{self.max_streams}; retry later or close idle runners")
            self._streams += 1
        try:
            yield from self._stream(request, context, runner, want)
        finally:
            with self._lock:
                self._streams -= 1

    def _stream(self, request: bus.SubscribeRequest, context: grpc.ServicerContext, runner: str,
                want: Want) -> Iterator[bus.Delivery]:
        box = self.outbox
        with self._lock:
            session = self._sessions[runner] = self._sessions.get(runner, 0) + 1
        box.notify()  # an older stream of this runner ends
        context.add_callback(box.notify)  # wake the loop below when the call ends
        explicit = request.HasField("resume_after")
        committed = box.committed(runner)
        if explicit:
            position = request.resume_after
        elif committed is not None:
            position = committed
        elif request.start == bus.START_POSITION_LATEST:
            position = box.last_seq()
        else:
            position = 0
        log.info("runner %s subscribed after cursor %d (%s)", runner, position,
                 "asked" if explicit else "committed" if committed is not None else "start")

        def live() -> bool:
            if self._sessions.get(runner) != session:
                context.abort(grpc.StatusCode.ABORTED,
                              f"runner {runner} subscribed again elsewhere; run one process per runner id")
            return context.is_active() and not self._stopping.is_set() and not box.closed

        yield from self._send(runner, [e for e in box.open_deliveries(runner, position) if want.matches(e)])
        while live():
            events = box.after(position, self.batch)
            if events:
                position = events[-1].seq
                chosen = [e for e in events if want.matches(e)]
                if chosen and not explicit:
                    done = box.is_acked(runner, [e.seq for e in chosen])
                    chosen = [e for e in chosen if e.seq not in done]
                chosen.sort(key=lambda e: (e.kind != ACTIVATION, -e.priority, e.seq))
                yield from self._send(runner, chosen)
                box.set_scanned(runner, position)
            due = [e for e in box.due_redeliveries(runner, self.ack_timeout) if want.matches(e)]
            if due:
                log.info("runner %s: redelivering %d unacknowledged", runner, len(due))
                yield from self._send(runner, due)
            if events or due:
                continue
            next_due = box.next_due(runner, self.ack_timeout)
            wait = self.idle_check if next_due is None else min(self.idle_check, next_due - time.time())
            box.wait(position, max(0.0, wait))

    def _send(self, runner: str, events: list[Event]) -> Iterator[bus.Delivery]:
        if not events:
            return
        attempts = self.outbox.mark_delivered(runner, [e.seq for e in events])
        for e in events:
            delivery = bus.Delivery(cursor=e.seq, attempt=attempts[e.seq])
            delivery.enqueued_at.FromNanoseconds(int(e.enqueued_at * 1e9))
            (delivery.activation if e.kind == ACTIVATION else delivery.ticket).ParseFromString(e.payload)
            yield delivery

    def Ack(self, request: bus.AckRequest, context: grpc.ServicerContext) -> bus.AckResponse:
        principal = self._principal(context)
        runner = self._runner(request.runner_id, principal, context)
        _bounded(context, key=request.key, detail=request.detail)
        if not 0 < request.cursor <= MAX_CURSOR:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cursor: {request.cursor} is not a cursor")
        event = self.outbox.get(request.cursor)
        if event is None or not principal.sees_brand(event.brand):
            context.abort(grpc.StatusCode.NOT_FOUND, f"no event at cursor {request.cursor}")
        if request.key and request.key != event.key:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"key {request.key!r} is not the key of cursor {request.cursor}")
        if request.status not in (ACCEPTED, DONE, FAILED):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "status: use ACCEPTED, DONE or FAILED")
        try:
            result = self.outbox.ack(runner, request.cursor, request.status, request.detail,
                                     retry=request.retry, retry_base=self.retry_base)
        except KeyError:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          f"cursor {request.cursor} was never delivered to runner {runner}")
        if request.status == FAILED:
            log.warning("runner %s failed %s: %s", runner, event.key, request.detail)
        return bus.AckResponse(committed_cursor=result.committed, duplicate=result.duplicate)

    def UpdateTaskStatus(self, request: bus.UpdateTaskStatusRequest,
                         context: grpc.ServicerContext) -> bus.UpdateTaskStatusResponse:
        principal = self._principal(context)
        self._runner(request.runner_id, principal, context)
        _bounded(context, idempotency_key=request.idempotency_key, task_id=request.task_id,
                 assignee=request.assignee, detail=request.detail)
        at = None
        if request.HasField("updated_at"):
            at = _epoch(request.updated_at)
            if at is None or not 946_684_800 <= at <= time.time() + FUTURE_SLACK:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              "updated_at: give the time of the change, not before 2000 and at most "
                              f"{FUTURE_SLACK:.0f} s ahead of the server's clock")
        task = self.outbox.task(request.idempotency_key, request.task_id)
        if task is None or not principal.sees_brand(task.brand):
            context.abort(grpc.StatusCode.NOT_FOUND,
                          f"no task {request.task_id!r} in activation {request.idempotency_key!r}")
        if principal.departments and task.department not in principal.departments:
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          f"runner {principal.runner_id} may not update {task.department} tasks")
        if request.status not in bus.TaskStatus.values() or not request.status:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "status: give a TaskStatus")
        state, applied = self.outbox.update_task(request.idempotency_key, request.task_id, request.status,
                                                 assignee=request.assignee, detail=request.detail,
                                                 updated_at=at)
        return bus.UpdateTaskStatusResponse(task=_task_proto(state), applied=applied)

    def ListIncidents(self, request: bus.ListIncidentsRequest,
                      context: grpc.ServicerContext) -> bus.ListIncidentsResponse:
        principal = self._principal(context)
        _bounded(context, page_token=request.page_token, brands=request.brands,
                 categories=request.categories, states=request.states)
        outside = principal.outside((), request.brands, request.categories)
        if outside:
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          f"runner {principal.runner_id} may not read {', '.join(outside)}")
        try:
            offset = int(request.page_token or 0)
        except ValueError:
            offset = -1
        if not 0 <= offset <= MAX_PAGE_OFFSET:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "page_token: pass next_page_token unchanged")
        since = None
        if request.HasField("updated_since"):
            since = _epoch(request.updated_since)
            if since is None:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "updated_since: not a valid time")
        size = min(max(request.page_size or 50, 1), 500)
        records = self.outbox.incidents(
            brands=list(request.brands) or sorted(principal.brands),
            categories=list(request.categories) or sorted(principal.categories),
            states=[s for st in request.states for s in _STATES.get(st, ())],
            min_tier=int(request.min_tier),
            updated_since=since,
            limit=size + 1, offset=offset)
        more = len(records) > size
        return bus.ListIncidentsResponse(incidents=[_incident_proto(r) for r in records[:size]],
                                         next_page_token=str(offset + size) if more else "")

    def GetIncident(self, request: bus.GetIncidentRequest, context: grpc.ServicerContext) -> bus.Incident:
        principal = self._principal(context)
        _bounded(context, incident_id=request.incident_id)
        record = self.outbox.incident(request.incident_id)
        snapshot = record.snapshot if record is not None else {}
        if (record is None or not principal.sees_brand(str(snapshot.get("brand", "")))
                or principal.outside((), (), [str(snapshot.get("category", ""))])):
            context.abort(grpc.StatusCode.NOT_FOUND, f"no incident {request.incident_id!r}")
        return _incident_proto(record)

    def SubmitFeedback(self, request: bus.SubmitFeedbackRequest,
                       context: grpc.ServicerContext) -> bus.SubmitFeedbackResponse:
        principal = self._principal(context)
        _bounded(context, mention_id=request.mention_id, text=request.text,
                 category=request.category, analyst_id=request.analyst_id, note=request.note,
                 brand=request.brand)
        if principal.brands:  # a tenant labels its own brands' mentions only
            if not request.brand:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              "brand: runners scoped to brands must name the mention's brand")
            if request.brand not in principal.brands:
                context.abort(grpc.StatusCode.PERMISSION_DENIED,
                              f"runner {principal.runner_id} may not label brand {request.brand}")
        if principal.outside((), (), [request.category] if request.category else []):
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          f"runner {principal.runner_id} may not label category {request.category}")
        if request.HasField("submitted_at"):
            at = _epoch(request.submitted_at)
            if at is None or not 946_684_800 <= at <= time.time() + FUTURE_SLACK:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              "submitted_at: not before 2000 and not ahead of the server's clock")
        record = feedback_record(request, principal.runner_id)
        if record.get("label") is not None:
            try:
                parse_feedback(_json(record))
            except InvalidFeedback as err:
                return bus.SubmitFeedbackResponse(accepted=False, detail=str(err))
        elif not record.get("category") and "relevant" not in record:
            return bus.SubmitFeedbackResponse(
                accepted=False, detail="nothing to learn: give a sentiment, a category or relevant")
        if not (record.get("mention_id") or record.get("text")):
            return bus.SubmitFeedbackResponse(accepted=False, detail="give mention_id or text")
        position = self.outbox.add_feedback(record)
        if self.on_feedback is not None:
            try:
                self.on_feedback(record)
            except Exception:
                log.exception("feedback callback failed (the label is kept at position %d)", position)
        return bus.SubmitFeedbackResponse(accepted=True, detail=f"feedback #{position}")

    # -- helpers -----------------------------------------------------------

    def _principal(self, context: grpc.ServicerContext) -> Principal:
        try:
            return self.auth.authenticate(context.invocation_metadata())
        except AuthError as err:
            context.abort(err.code, str(err))
            raise  # unreachable: abort raises

    @staticmethod
    def _runner(asked: str, principal: Principal, context: grpc.ServicerContext) -> str:
        runner = asked or principal.runner_id
        if len(runner) > MAX_CHARS["runner_id"]:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"runner_id: {len(runner)} chars, the limit is {MAX_CHARS['runner_id']}")
        if not runner:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "runner_id: give the runner's stable id")
        if principal.runner_id and runner != principal.runner_id:
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          f"this token belongs to runner {principal.runner_id}, not {runner}")
        return runner


def _bounded(context: grpc.ServicerContext, **fields: object) -> None:
    """INVALID_ARGUMENT for a string over its limit or a list over `MAX_LIST` values."""
    for name, value in fields.items():
        if isinstance(value, str):
            limit = MAX_CHARS[name]
            if len(value) > limit:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"{name}: {len(value):,} chars, the limit is {limit:,}")
        elif len(value) > MAX_LIST:  # type: ignore[arg-type]
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"{name}: {len(value)} values, the limit is {MAX_LIST}")  # type: ignore[arg-type]
        else:
            for item in value:  # type: ignore[union-attr]
                if isinstance(item, str) and len(item) > MAX_CHARS.get(name.rstrip("s"), 256):
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{name}: a value is too long")


def _epoch(stamp: timestamp_pb2.Timestamp) -> float | None:
    """Seconds since the epoch, None when the timestamp is outside what a datetime can hold."""
    try:
        return stamp.ToDatetime(UTC).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def feedback_record(request: bus.SubmitFeedbackRequest, runner: str = "") -> dict[str, Any]:
    """The feedback as the JSON record `yuqing.core.feedback.parse_feedback` reads."""
    record: dict[str, Any] = {"schema": "yuqing.feedback/v1", "mention_id": request.mention_id,
                              "text": request.text, "label": _LABELS.get(request.sentiment),
                              "category": request.category, "analyst": request.analyst_id,
                              "brand": request.brand,
                              "note": request.note, "via": f"grpc:{runner}" if runner else "grpc"}
    if request.HasField("relevant"):
        record["relevant"] = request.relevant
    if request.HasField("submitted_at"):
        record["at"] = request.submitted_at.ToDatetime(UTC).isoformat()
    if record["label"] is None:
        del record["label"]
    return record


def _json(record: Mapping[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False)


def _ts(epoch: float | None) -> timestamp_pb2.Timestamp | None:
    if epoch is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(epoch * 1e9))
    return stamp


def _task_proto(t: Any) -> bus.TaskState:
    return bus.TaskState(idempotency_key=t.key, task_id=t.task_id, department=department(t.department),
                         status=t.status, assignee=t.assignee, detail=t.detail,
                         due_at=_ts(t.due_at), updated_at=_ts(t.updated_at))


def _incident_proto(r: Any) -> bus.Incident:
    return bus.Incident(
        snapshot=snapshot_proto(r.snapshot), updated_at=_ts(r.updated_at), resolved_at=_ts(r.resolved_at),
        tier_history=[bus.TierChange(from_tier=f, to_tier=t, risk_score=s, at=_ts(at))
                      for f, t, s, at in r.tier_history],
        activation_keys=list(r.activation_keys), tasks=[_task_proto(t) for t in r.tasks],
        deliveries=[bus.DeliveryState(runner_id=d.runner, key=d.key, cursor=d.seq, status=d.status,
                                      detail=d.detail, attempts=d.attempts, updated_at=_ts(d.updated_at))
                    for d in r.deliveries])


class BusServer:
    """The action bus as a gRPC server in this process.

    >>> box = Outbox(":memory:")
    >>> server = BusServer(box).start()      # 127.0.0.1, a free port
    >>> server.port > 0
    True
    >>> server.stop()
    """

    def __init__(
        self,
        outbox: Outbox,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        auth: TokenFile | OpenAccess | None = None,
        tls: ServerTLS | None = None,
        ack_timeout: float = 30.0,
        retry_base: float = 5.0,
        max_workers: int = 64,
        on_feedback: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.host = host
        self.port = port
        self.tls = tls
        self.max_workers = max_workers
        # runner streams hold a thread each: keep a quarter of the pool for unary calls and Health
        self.service = ActionBusService(outbox, auth, ack_timeout=ack_timeout, retry_base=retry_base,
                                        on_feedback=on_feedback,
                                        max_streams=max(1, max_workers - max(4, max_workers // 4)))
        self.health = health.HealthServicer()
        self._server: grpc.Server | None = None

    def start(self) -> BusServer:
        server = grpc.server(futures.ThreadPoolExecutor(self.max_workers, thread_name_prefix="bus"),
                             options=SERVER_OPTIONS)
        action_bus_pb2_grpc.add_ActionBusServicer_to_server(self.service, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        address = f"{self.host}:{self.port}"
        try:
            if self.tls:
                self.port = server.add_secure_port(address, self.tls.credentials())
            else:
                self.port = server.add_insecure_port(address)
        except RuntimeError as err:
            raise OSError(f"cannot listen on {address}: {err}") from None
        server.start()
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._server = server
        log.info("action bus listening on %s:%d (%s)", self.host, self.port, "TLS" if self.tls else "plaintext")
        return self

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self, grace: float | None = 1.0) -> None:
        """Stop serving: health says NOT_SERVING, open streams end, calls get `grace` seconds."""
        if self._server is None:
            return
        self.health.enter_graceful_shutdown()
        self.service.stop()
        self._server.stop(grace).wait()
        self._server = None

    def wait(self, timeout: float | None = None) -> bool:
        return self._server.wait_for_termination(timeout) if self._server else True

    def __enter__(self) -> BusServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
