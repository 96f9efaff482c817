"""The action bus over real gRPC on loopback: delivery, restarts, redelivery, tokens, scopes, TLS."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from yuqing.bus.auth import ClientTLS, ServerTLS, TokenFile, bearer_metadata
from yuqing.bus.client import BusRefused, Outcome, RunnerClient, RunnerState
from yuqing.bus.outbox import Outbox
from yuqing.bus.server import BusServer, publish
from yuqing.core.feedback import parse_feedback
from yuqing.proto import SERVICE_NAME, action_bus_pb2, action_bus_pb2_grpc, activation_pb2

from bus_factory import (
    TOKEN_FILE,
    TOKENS,
    activation,
    in_thread,
    incident,
    start_bus,
    stop_bus,
    stub,
    ticket,
)

bus = action_bus_pb2


@pytest.fixture
def tokens(tmp_path):
    path = tmp_path / "tokens.yaml"
    path.write_text(TOKEN_FILE, encoding="utf-8")
    return path


@pytest.fixture
def server(tmp_path, tokens):
    server = start_bus(tmp_path / "outbox.sqlite3", tokens=tokens)
    yield server
    stop_bus(server)


class Collect:
    """A runner handler that records deliveries and can hold one back."""

    def __init__(self, hold_cursor: int | None = None) -> None:
        self.keys: list[str] = []
        self.deliveries: list[bus.Delivery] = []
        self.holding = threading.Event()
        self.release = threading.Event()
        self.hold_cursor = hold_cursor
        self.changed = threading.Condition()

    def __call__(self, delivery: bus.Delivery) -> Outcome:
        if delivery.cursor == self.hold_cursor:
            self.holding.set()
            self.release.wait(10)
        with self.changed:
            self.deliveries.append(delivery)
            self.keys.append(delivery.activation.idempotency_key or delivery.ticket.ticket_key)
            self.changed.notify_all()
        return Outcome.done("ok")

    def wait_for(self, count: int, timeout: float = 10) -> list[str]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.keys) >= count, timeout)
        return list(self.keys)


def runner(server, runner_id="all", *, state=None, **kw) -> RunnerClient:
    return RunnerClient(server.address, runner_id, token=TOKENS[runner_id], state=state,
                        backoff=(0.05, 0.2), **kw)


def test_an_activation_reaches_a_subscribed_runner_and_its_ack_commits_the_cursor(server):
    handler = Collect()
    client = runner(server)
    thread = in_thread(client.run, handler)
    act = activation()
    cursor = publish(server.outbox, act)
    assert handler.wait_for(1) == [act.idempotency_key]
    delivery = handler.deliveries[0]
    assert delivery.cursor == cursor and delivery.attempt == 1
    assert delivery.activation == act
    deadline = time.time() + 5
    while server.outbox.committed("all") != cursor and time.time() < deadline:
        time.sleep(0.01)
    assert server.outbox.committed("all") == cursor
    client.close()
    thread.join(5)
    assert not thread.is_alive()


def test_a_runner_resumes_from_its_cursor_without_loss_after_the_server_is_killed_mid_stream(
        tmp_path, tokens):
    path = tmp_path / "outbox.sqlite3"
    server = start_bus(path, tokens=tokens)
    port = server.port
    keys = [publish(server.outbox, activation(f"inc-{i}")) and f"inc-{i}/outage.xinghui_pay/2"
            for i in range(6)]
    handler = Collect(hold_cursor=3)
    client = runner(server, state=RunnerState(tmp_path / "runner.json"))
    thread = in_thread(client.run, handler)
    assert handler.holding.wait(10)  # the runner is in the middle of cursor 3
    stop_bus(server)  # killed: cursor 3's ack will fail, 4-5 are in flight or unsent
    handler.release.set()
    # The flow keeps appending to the outbox file while the bus is down.
    box = Outbox(path)
    keys += [publish(box, activation(f"inc-{i}")) and f"inc-{i}/outage.xinghui_pay/2"
             for i in range(6, 9)]
    box.close()
    server = start_bus(path, port=port, tokens=tokens)
    try:
        got = handler.wait_for(len(keys))
        assert sorted(got) == sorted(keys)  # nothing lost, each acted on once
        assert len(got) == len(set(got))
        deadline = time.time() + 5
        while server.outbox.committed("all") != 9 and time.time() < deadline:
            time.sleep(0.02)
        assert server.outbox.committed("all") == 9
    finally:
        client.close()
        thread.join(5)
        stop_bus(server)


def test_a_restarted_runner_resumes_after_its_saved_cursor(server, tmp_path):
    state_path = tmp_path / "runner.json"
    for i in range(3):
        publish(server.outbox, activation(f"inc-{i}"))
    first = Collect()
    client = runner(server, state=RunnerState(state_path))
    client.run(first, max_deliveries=3)
    client.close()
    assert RunnerState(state_path).cursor == 3
    publish(server.outbox, activation("inc-3"))
    second = Collect()
    client = runner(server, state=RunnerState(state_path))
    client.run(second, max_deliveries=1)
    client.close()
    assert second.keys == ["inc-3/outage.xinghui_pay/2"]


def test_an_unacknowledged_delivery_is_redelivered_with_the_same_key(server):
    rpc, metadata, channel = stub(server, TOKENS["all"])
    cursor = publish(server.outbox, activation())
    call = rpc.Subscribe(bus.SubscribeRequest(runner_id="all"), metadata=metadata, timeout=10)
    stream = iter(call)
    first = next(stream)
    second = next(stream)  # not acknowledged: sent again after ack_timeout (0.5 s)
    assert (first.cursor, first.attempt) == (cursor, 1)
    assert (second.cursor, second.attempt) == (cursor, 2)
    assert second.activation.idempotency_key == first.activation.idempotency_key
    ack = rpc.Ack(bus.AckRequest(runner_id="all", cursor=cursor, key=first.activation.idempotency_key,
                                 status=bus.ACK_STATUS_DONE), metadata=metadata, timeout=5)
    assert ack.committed_cursor == cursor
    call.cancel()
    channel.close()


def test_a_failure_with_retry_is_delivered_again_after_the_backoff(server):
    rpc, metadata, channel = stub(server, TOKENS["all"])
    cursor = publish(server.outbox, activation())
    call = rpc.Subscribe(bus.SubscribeRequest(runner_id="all"), metadata=metadata, timeout=10)
    stream = iter(call)
    first = next(stream)
    rpc.Ack(bus.AckRequest(runner_id="all", cursor=cursor, status=bus.ACK_STATUS_FAILED,
                           detail="HTTP 503", retry=True), metadata=metadata, timeout=5)
    again = next(stream)
    assert (again.cursor, again.attempt) == (first.cursor, 2)
    call.cancel()
    channel.close()


def test_duplicates_carry_the_same_key_and_the_runner_acts_once(server, tmp_path):
    act = activation()
    assert publish(server.outbox, act) == publish(server.outbox, act) == 1
    state = RunnerState(tmp_path / "runner.json")
    handler = Collect()
    client = runner(server, state=state)
    client.run(handler, max_deliveries=1)
    client.close()
    state.cursor = 0  # as if the runner lost its cursor: the bus sends everything again
    client = runner(server, state=state)
    client.run(handler, max_deliveries=1)
    client.close()
    assert handler.keys == [act.idempotency_key]  # acknowledged again, not acted on again
    assert "duplicate" in server.outbox.delivery_states(1)[0].detail


@pytest.mark.parametrize("metadata", [(), bearer_metadata("wrong-token"), (("authorization", "Basic x"),)])
def test_calls_without_a_valid_token_are_unauthenticated(server, metadata):
    rpc, _, channel = stub(server)
    with pytest.raises(grpc.RpcError) as err:
        next(iter(rpc.Subscribe(bus.SubscribeRequest(runner_id="all"), metadata=metadata, timeout=5)))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    for call, request in ((rpc.Ack, bus.AckRequest(runner_id="all", cursor=1)),
                          (rpc.ListIncidents, bus.ListIncidentsRequest()),
                          (rpc.GetIncident, bus.GetIncidentRequest(incident_id="inc-1")),
                          (rpc.SubmitFeedback, bus.SubmitFeedbackRequest(mention_id="m"))):
        with pytest.raises(grpc.RpcError) as err:
            call(request, metadata=metadata, timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    channel.close()


def test_a_runner_refused_by_the_bus_stops_with_a_clear_error(server):
    client = RunnerClient(server.address, "ops", token="not-the-token", backoff=(0.05, 0.1))
    with pytest.raises(BusRefused, match="UNAUTHENTICATED"):
        client.run(Collect())
    client.close()


@pytest.mark.parametrize("runner_id, request_filter", [
    ("ops", bus.Filter(departments=[activation_pb2.DEPARTMENT_LEGAL])),
    ("crm", bus.Filter(departments=[activation_pb2.DEPARTMENT_PR, activation_pb2.DEPARTMENT_CUSTOMER_SERVICE])),
    ("tenant-a", bus.Filter(brands=["安达消费金融"])),
])
def test_a_filter_outside_the_runners_scope_is_permission_denied(server, runner_id, request_filter):
    rpc, metadata, channel = stub(server, TOKENS[runner_id])
    request = bus.SubscribeRequest(runner_id=runner_id, filter=request_filter)
    with pytest.raises(grpc.RpcError) as err:
        next(iter(rpc.Subscribe(request, metadata=metadata, timeout=5)))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    channel.close()


def test_a_token_cannot_subscribe_as_another_runner(server):
    rpc, metadata, channel = stub(server, TOKENS["ops"])
    with pytest.raises(grpc.RpcError) as err:
        next(iter(rpc.Subscribe(bus.SubscribeRequest(runner_id="all"), metadata=metadata, timeout=5)))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    channel.close()


def test_a_tenant_sees_only_its_own_brands(server):
    box = server.outbox
    theirs = publish(box, activation("inc-b", brand="安达消费金融", rank=0))
    box.record_incident(incident("inc-b", brand="安达消费金融"))
    mine = publish(box, activation("inc-a", brand="星汇支付"))
    box.record_incident(incident("inc-a", brand="星汇支付"))
    handler = Collect()
    client = runner(server, "tenant-a")
    client.run(handler, max_deliveries=1)
    client.close()
    assert [d.cursor for d in handler.deliveries] == [mine]
    assert handler.deliveries[0].activation.incident.brand == "星汇支付"

    rpc, metadata, channel = stub(server, TOKENS["tenant-a"])
    listed = rpc.ListIncidents(bus.ListIncidentsRequest(), metadata=metadata, timeout=5)
    assert [i.snapshot.incident_id for i in listed.incidents] == ["inc-a"]
    for call, request in ((rpc.GetIncident, bus.GetIncidentRequest(incident_id="inc-b")),
                          (rpc.Ack, bus.AckRequest(runner_id="tenant-a", cursor=theirs,
                                                   status=bus.ACK_STATUS_DONE))):
        with pytest.raises(grpc.RpcError) as err:
            call(request, metadata=metadata, timeout=5)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert "安达" not in err.value.details()
    channel.close()


def test_departments_and_tiers_filter_what_a_runner_gets(server):
    box = server.outbox
    low = publish(box, activation("inc-low", tier=1))
    high = publish(box, activation("inc-high", tier=3))
    complaint = publish(box, ticket("weibo:9"))
    rpc, metadata, channel = stub(server, TOKENS["crm"])
    request = bus.SubscribeRequest(runner_id="crm", filter=bus.Filter(
        min_tier=activation_pb2.TIER_HIGH, kinds=[bus.PAYLOAD_KIND_TICKET]))
    call = rpc.Subscribe(request, metadata=metadata, timeout=10)
    assert next(iter(call)).cursor == complaint  # crm's scope is customer_service; tickets only
    call.cancel()
    rpc, metadata, channel2 = stub(server, TOKENS["ops"])
    request = bus.SubscribeRequest(runner_id="ops", filter=bus.Filter(min_tier=activation_pb2.TIER_HIGH))
    call = rpc.Subscribe(request, metadata=metadata, timeout=10)
    assert next(iter(call)).cursor == high != low
    call.cancel()
    channel.close()
    channel2.close()


def test_high_influence_complaints_come_first(server):
    box = server.outbox
    for mention_id, followers in (("weibo:1", 10), ("weibo:2", 2_000_000), ("weibo:3", 5_000)):
        publish(box, ticket(mention_id, followers=followers))
    handler = Collect()
    client = runner(server, "crm")
    client.run(handler, max_deliveries=3)
    client.close()
    assert handler.keys == ["ticket/weibo:2", "ticket/weibo:3", "ticket/weibo:1"]
    assert [d.ticket.priority for d in handler.deliveries] == sorted(
        (d.ticket.priority for d in handler.deliveries), reverse=True)


def test_incidents_tasks_and_feedback_over_grpc(server):
    box = server.outbox
    act = activation()
    box.record_incident(incident(tier=1))
    box.record_incident(incident(tier=2))
    publish(box, act)
    rpc, metadata, channel = stub(server, TOKENS["ops"])
    got = rpc.GetIncident(bus.GetIncidentRequest(incident_id="inc-1"), metadata=metadata, timeout=5)
    assert got.snapshot.brand == "星汇支付" and got.snapshot.tier == activation_pb2.TIER_MEDIUM
    assert [(c.from_tier, c.to_tier) for c in got.tier_history] == [(0, 1), (1, 2)]
    assert list(got.activation_keys) == [act.idempotency_key]
    assert {t.task_id for t in got.tasks} == {t.task_id for t in act.tasks}

    tech = next(t for t in act.tasks if t.department == activation_pb2.DEPARTMENT_TECH)
    answer = rpc.UpdateTaskStatus(bus.UpdateTaskStatusRequest(
        runner_id="ops", idempotency_key=act.idempotency_key, task_id=tech.task_id,
        status=bus.TASK_STATUS_IN_PROGRESS, assignee="eng-7"), metadata=metadata, timeout=5)
    assert answer.applied and answer.task.status == bus.TASK_STATUS_IN_PROGRESS
    assert answer.task.due_at == tech.due_at
    cs = next(t for t in act.tasks if t.department == activation_pb2.DEPARTMENT_CUSTOMER_SERVICE)
    with pytest.raises(grpc.RpcError) as err:  # ops may not update customer service's tasks
        rpc.UpdateTaskStatus(bus.UpdateTaskStatusRequest(
            idempotency_key=act.idempotency_key, task_id=cs.task_id, status=bus.TASK_STATUS_DONE),
            metadata=metadata, timeout=5)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED

    page = rpc.ListIncidents(bus.ListIncidentsRequest(min_tier=activation_pb2.TIER_MEDIUM, page_size=1),
                             metadata=metadata, timeout=5)
    assert [i.snapshot.incident_id for i in page.incidents] == ["inc-1"] and not page.next_page_token

    fed = rpc.SubmitFeedback(bus.SubmitFeedbackRequest(
        mention_id="weibo:1", text="提现失败", sentiment=bus.SENTIMENT_LABEL_NEGATIVE, analyst_id="a1"),
        metadata=metadata, timeout=5)
    assert fed.accepted
    empty = rpc.SubmitFeedback(bus.SubmitFeedbackRequest(mention_id="weibo:1"), metadata=metadata, timeout=5)
    assert not empty.accepted
    ((_, record),) = box.feedback_after(0)  # what the flow's sentiment model learns from
    assert parse_feedback(json.dumps(record)).label == -1
    channel.close()


def test_health_and_reflection_answer(server):
    channel = grpc.insecure_channel(server.address)
    status = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5)
    assert status.status == health_pb2.HealthCheckResponse.SERVING
    answers = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    listed = {s.name for a in answers for s in a.list_services_response.service}
    assert {SERVICE_NAME, "grpc.health.v1.Health"} <= listed
    channel.close()


def _openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make the TLS test certificates", pytrace=False)
    d = tmp_path_factory.mktemp("certs")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=yuqing test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign", cwd=d)
    for name, san in (("server", "subjectAltName=DNS:localhost,IP:127.0.0.1"), ("client", "")):
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        ext = d / f"{name}.ext"
        ext.write_text(san + "\n" if san else "basicConstraints=CA:FALSE\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", str(ext), cwd=d)
    return d


def test_tls_with_client_certificates(tmp_path, tokens, certs):
    tls = ServerTLS(certs / "server.pem", certs / "server.key", client_ca=certs / "ca.pem")
    server = BusServer(Outbox(tmp_path / "o.sqlite3"), auth=TokenFile(tokens), tls=tls).start()
    try:
        act = activation()
        publish(server.outbox, act)
        handler = Collect()
        good = ClientTLS(certs / "ca.pem", certs / "client.pem", certs / "client.key")
        client = RunnerClient(server.address, "all", token=TOKENS["all"], tls=good)
        client.run(handler, max_deliveries=1)
        client.close()
        assert handler.keys == [act.idempotency_key]

        no_cert = grpc.secure_channel(server.address, ClientTLS(certs / "ca.pem").credentials())
        with pytest.raises(grpc.RpcError) as err:
            action_bus_pb2_grpc.ActionBusStub(no_cert).ListIncidents(
                bus.ListIncidentsRequest(), metadata=bearer_metadata(TOKENS["all"]), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        no_cert.close()
        plain = grpc.insecure_channel(server.address)
        with pytest.raises(grpc.RpcError):
            action_bus_pb2_grpc.ActionBusStub(plain).ListIncidents(bus.ListIncidentsRequest(), timeout=5)
        plain.close()
    finally:
        stop_bus(server)


def test_stopping_the_server_ends_open_streams_promptly(server):
    rpc, metadata, channel = stub(server, TOKENS["all"])
    call = rpc.Subscribe(bus.SubscribeRequest(runner_id="all"), metadata=metadata, timeout=30)
    errors = []
    thread = in_thread(lambda: errors.append(_drain(call)))
    time.sleep(0.2)
    t0 = time.monotonic()
    server.stop(grace=0.5)
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - t0 < 3
    channel.close()


def _drain(call) -> str:
    try:
        for _ in call:
            pass
    except grpc.RpcError as err:
        return err.code().name
    return "ended"
