"""The action bus as an attacker or a crowd would use it: scopes, sizes, revocation, clocks, streams.

Every call goes over real gRPC on loopback, with a real token file.
"""

from __future__ import annotations

import time

import grpc
import pytest
from google.protobuf import timestamp_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from yuqing.bus.server import publish
from yuqing.proto import action_bus_pb2

from bus_factory import TOKEN_FILE, TOKENS, activation, incident, start_bus, stop_bus, stub

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


def _code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value.code()


def test_a_tenant_may_label_only_its_own_brands(server):
    rpc, md, channel = stub(server, TOKENS["tenant-a"])  # scoped to 星汇支付

    def label(**kw):
        return rpc.SubmitFeedback(bus.SubmitFeedbackRequest(
            mention_id="weibo:9", sentiment=bus.SENTIMENT_LABEL_NEGATIVE, **kw), metadata=md, timeout=5)

    assert _code(lambda: label(brand="安达消费金融")) == grpc.StatusCode.PERMISSION_DENIED
    assert _code(lambda: label()) == grpc.StatusCode.INVALID_ARGUMENT
    assert label(brand="星汇支付").accepted
    ((_, record),) = server.outbox.feedback_after(0)
    assert record["brand"] == "星汇支付"  # the flow learns it only for a 星汇支付 mention
    channel.close()


def test_every_string_field_is_bounded(server):
    rpc, md, channel = stub(server, TOKENS["all"])
    publish(server.outbox, activation())
    big = rpc.SubmitFeedback
    assert _code(lambda: big(bus.SubmitFeedbackRequest(
        text="字" * 1_400_000, sentiment=bus.SENTIMENT_LABEL_NEGATIVE), metadata=md, timeout=5)
    ) == grpc.StatusCode.RESOURCE_EXHAUSTED  # 4 MB: over the 1 MiB message limit
    assert _code(lambda: big(bus.SubmitFeedbackRequest(
        text="字" * 20_001, sentiment=bus.SENTIMENT_LABEL_NEGATIVE), metadata=md, timeout=5)
    ) == grpc.StatusCode.INVALID_ARGUMENT
    assert _code(lambda: rpc.Ack(bus.AckRequest(
        runner_id="all", cursor=1, status=bus.ACK_STATUS_DONE, detail="x" * 5000),
        metadata=md, timeout=5)) == grpc.StatusCode.INVALID_ARGUMENT
    assert not server.outbox.feedback_after(0)
    channel.close()


def test_rewriting_or_deleting_the_token_file_revokes_the_tokens(server, tokens):
    rpc, md, channel = stub(server, TOKENS["all"])
    ask = lambda: rpc.ListIncidents(bus.ListIncidentsRequest(), metadata=md, timeout=5)  # noqa: E731
    ask()  # valid now
    tokens.write_text("runners: {}\n", encoding="utf-8")
    time.sleep(2.2)  # the file is checked every 2 s
    assert _code(ask) == grpc.StatusCode.UNAUTHENTICATED
    tokens.unlink()
    time.sleep(2.2)
    assert _code(ask) == grpc.StatusCode.UNAVAILABLE  # fail closed, not open
    tokens.write_text(TOKEN_FILE, encoding="utf-8")
    time.sleep(2.2)
    ask()
    channel.close()


def test_a_task_cannot_be_frozen_by_a_time_in_the_future(server):
    act = activation()
    publish(server.outbox, act)
    rpc, md, channel = stub(server, TOKENS["all"])
    task = act.tasks[0].task_id
    far = timestamp_pb2.Timestamp(seconds=253_402_214_400)  # 9999-12-31
    assert _code(lambda: rpc.UpdateTaskStatus(bus.UpdateTaskStatusRequest(
        runner_id="all", idempotency_key=act.idempotency_key, task_id=task,
        status=bus.TASK_STATUS_DONE, updated_at=far), metadata=md, timeout=5)
    ) == grpc.StatusCode.INVALID_ARGUMENT
    now = rpc.UpdateTaskStatus(bus.UpdateTaskStatusRequest(
        runner_id="all", idempotency_key=act.idempotency_key, task_id=task,
        status=bus.TASK_STATUS_IN_PROGRESS), metadata=md, timeout=5)
    assert now.applied
    channel.close()


@pytest.mark.parametrize(("call", "request_"), [
    ("Ack", bus.AckRequest(runner_id="all", cursor=2**64 - 1, status=bus.ACK_STATUS_DONE)),
    ("ListIncidents", bus.ListIncidentsRequest(page_token="9" * 20)),
    ("ListIncidents", bus.ListIncidentsRequest(page_token="-5")),
    ("UpdateTaskStatus", bus.UpdateTaskStatusRequest(
        runner_id="all", idempotency_key="k", task_id="t", status=bus.TASK_STATUS_DONE,
        updated_at=timestamp_pb2.Timestamp(seconds=-86_400))),
    ("SubmitFeedback", bus.SubmitFeedbackRequest(
        text="好", sentiment=bus.SENTIMENT_LABEL_POSITIVE,
        submitted_at=timestamp_pb2.Timestamp(seconds=-5))),
])
def test_malformed_values_are_invalid_argument_not_unknown(server, call, request_):
    rpc, md, channel = stub(server, TOKENS["all"])
    assert _code(lambda: getattr(rpc, call)(request_, metadata=md, timeout=5)
                 ) == grpc.StatusCode.INVALID_ARGUMENT
    channel.close()


def test_an_unknown_payload_kind_is_refused_not_read_as_all(server):
    rpc, md, channel = stub(server, TOKENS["all"])
    stream = rpc.Subscribe(bus.SubscribeRequest(runner_id="all", filter=bus.Filter(kinds=[99])),
                           metadata=md, timeout=5)
    assert _code(lambda: next(stream)) == grpc.StatusCode.INVALID_ARGUMENT
    channel.close()


def test_get_incident_keeps_to_the_runner_s_categories(tmp_path):
    path = tmp_path / "tokens.yaml"
    path.write_text(TOKEN_FILE + f"""
  breach-only:
    token_sha256: {__import__("yuqing.bus.auth", fromlist=["hash_token"]).hash_token("breach-token-0123456789")}
    categories: [data_breach]
""", encoding="utf-8")
    server = start_bus(tmp_path / "o.sqlite3", tokens=path)
    try:
        server.outbox.record_incident(incident())  # an outage
        rpc, md, channel = stub(server, "breach-token-0123456789")
        assert _code(lambda: rpc.GetIncident(bus.GetIncidentRequest(incident_id="inc-1"),
                                             metadata=md, timeout=5)) == grpc.StatusCode.NOT_FOUND
        channel.close()
    finally:
        stop_bus(server)


def test_idle_streams_cannot_starve_health_or_unary_calls(tmp_path):
    server = start_bus(tmp_path / "o.sqlite3", max_workers=8)  # open on loopback: 4 streams at most
    try:
        rpc, md, channel = stub(server)
        streams = [rpc.Subscribe(bus.SubscribeRequest(runner_id=f"idle-{i}"), timeout=30)
                   for i in range(7)]  # idle runners: each open stream holds a server thread
        time.sleep(1.0)
        refused = [c for c in streams if c.done() and c.code() == grpc.StatusCode.RESOURCE_EXHAUSTED]
        assert len(refused) >= 3
        health = health_pb2_grpc.HealthStub(channel)
        answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=3)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        rpc.ListIncidents(bus.ListIncidentsRequest(), metadata=md, timeout=3)
        for call in streams:
            call.cancel()
        channel.close()
    finally:
        stop_bus(server)
