"""The gRPC contract: generated from proto/, importable, and an Activation survives the wire."""

from __future__ import annotations

import shutil
from concurrent import futures
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from yuqing.proto import SERVICE_NAME, action_bus_pb2, action_bus_pb2_grpc, activation_pb2
from yuqing.proto import build as proto_build

REPO = Path(__file__).resolve().parent.parent


def ts(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def an_activation() -> activation_pb2.Activation:
    t0 = datetime(2025, 3, 5, 6, 20, tzinfo=UTC)
    pb = activation_pb2
    return pb.Activation(
        schema_version=1,
        idempotency_key="inc-42/outage.generic/2",
        playbook_id="outage.generic",
        playbook_version=3,
        playbook_name="系统故障 / 交易失败 通用预案",
        tier=pb.TIER_MEDIUM,
        incident=pb.IncidentSnapshot(
            incident_id="inc-42", brand="星汇支付", sector="fintech", category="outage",
            tier=pb.TIER_MEDIUM, state=pb.INCIDENT_STATE_ESCALATED, risk_score=0.73,
            first_seen=ts(t0), tier_since=ts(t0 + timedelta(minutes=40)),
            metrics=pb.WindowMetrics(mention_count=1234, negative_count=960, negative_ratio=0.78,
                                     unique_authors=980, reach=2_500_000),
            evidence=[pb.EvidenceMention(
                id="douyin:2", source="douyin", text="星汇支付提现失败，钱取不出来了！",
                url="https://douyin.com/2", published_at=ts(t0),
                author=pb.Author(id="u2", name="b", followers=50_000, verified=True),
                engagement=pb.Engagement(reposts=10, comments=5, likes=300), sentiment=-0.9)],
            top_keywords=["提现失败", "崩了"], sources=["douyin", "weibo"],
        ),
        tasks=[pb.RenderedTask(task_id="tech-triage", department=pb.DEPARTMENT_TECH,
                               action="确认故障范围", due=duration_pb2.Duration(seconds=1800),
                               due_at=ts(t0 + timedelta(minutes=70)))],
        statements=[pb.RenderedStatement(statement_id="holding", kind="holding", title="情况说明",
                                         text="关于星汇支付部分服务异常的情况说明", channels=["weibo"],
                                         approval=[pb.DEPARTMENT_PR, pb.DEPARTMENT_TECH])],
        channels=["weibo", "app"],
        escalation=pb.Escalation(owner=pb.DEPARTMENT_PR, notify=[pb.DEPARTMENT_PR, pb.DEPARTMENT_TECH],
                                 update_every=duration_pb2.Duration(seconds=3600)),
        created_at=ts(t0 + timedelta(minutes=41)),
    )


def test_the_generated_code_is_built_from_proto_and_importable():
    assert proto_build.repo_proto_root() == REPO / "proto"
    assert not proto_build.is_stale(REPO / "proto")
    assert activation_pb2.DESCRIPTOR.name == "yuqing/v1/activation.proto"
    assert activation_pb2.DESCRIPTOR.package == "yuqing.v1"
    assert activation_pb2.__name__ == "yuqing._generated.v1.activation_pb2"


def test_the_action_bus_service_has_the_contract_methods():
    service = action_bus_pb2.DESCRIPTOR.services_by_name["ActionBus"]
    assert service.full_name == SERVICE_NAME
    methods = {m.name: (m.input_type.name, m.output_type.name, m.server_streaming) for m in service.methods}
    assert methods == {
        "Subscribe": ("SubscribeRequest", "Delivery", True),
        "Ack": ("AckRequest", "AckResponse", False),
        "UpdateTaskStatus": ("UpdateTaskStatusRequest", "UpdateTaskStatusResponse", False),
        "ListIncidents": ("ListIncidentsRequest", "ListIncidentsResponse", False),
        "GetIncident": ("GetIncidentRequest", "Incident", False),
        "SubmitFeedback": ("SubmitFeedbackRequest", "SubmitFeedbackResponse", False),
    }


def test_tier_numbers_are_the_tiers_of_the_strategy_library():
    assert [activation_pb2.Tier.Value(n) for n in ("TIER_LOW", "TIER_MEDIUM", "TIER_HIGH")] == [1, 2, 3]


def test_an_activation_round_trips_through_serialization():
    activation = an_activation()
    wire = action_bus_pb2.Delivery(cursor=7, attempt=1, activation=activation).SerializeToString()
    delivery = action_bus_pb2.Delivery.FromString(wire)
    assert delivery.WhichOneof("payload") == "activation"
    assert delivery.activation == activation
    assert delivery.activation.incident.evidence[0].text == "星汇支付提现失败，钱取不出来了！"
    assert delivery.activation.tasks[0].due_at.ToDatetime(UTC) == datetime(2025, 3, 5, 7, 30, tzinfo=UTC)


def test_a_ticket_rides_the_same_delivery():
    ticket = activation_pb2.Ticket(
        schema_version=1, ticket_key="ticket/weibo:1", mention_id="weibo:1", brand="安达消费金融",
        category="complaint_collection", text="催收打电话给我同事", url="https://weibo.com/1",
        author=activation_pb2.Author(name="c", followers=120_000), priority=0.9,
        department=activation_pb2.DEPARTMENT_CUSTOMER_SERVICE)
    wire = action_bus_pb2.Delivery(cursor=8, ticket=ticket).SerializeToString()
    assert action_bus_pb2.Delivery.FromString(wire).ticket == ticket


def test_generation_rewrites_imports_and_tracks_the_proto_contents(tmp_path):
    proto_root = tmp_path / "proto"
    shutil.copytree(REPO / "proto", proto_root)
    out = tmp_path / "gen"
    written = proto_build.generate(proto_root, out)
    names = {p.relative_to(out).as_posix() for p in written}
    assert {"__init__.py", "v1/__init__.py", "v1/activation_pb2.py", "v1/action_bus_pb2.py",
            "v1/action_bus_pb2_grpc.py", "v1/action_bus_pb2.pyi", proto_build.STAMP} <= names
    grpc_code = (out / "v1" / "action_bus_pb2_grpc.py").read_text()
    assert "from . import action_bus_pb2" in grpc_code and "from yuqing" not in grpc_code
    assert not proto_build.is_stale(proto_root, out)
    with (proto_root / "yuqing" / "v1" / "activation.proto").open("a") as handle:
        handle.write("\n// a change\n")
    assert proto_build.is_stale(proto_root, out)


class _Bus(action_bus_pb2_grpc.ActionBusServicer):
    def Subscribe(self, request, context):
        for cursor in range((request.resume_after or 0) + 1, 4):
            yield action_bus_pb2.Delivery(cursor=cursor, attempt=1, activation=an_activation())

    def Ack(self, request, context):
        return action_bus_pb2.AckResponse(committed_cursor=request.cursor)


@pytest.fixture
def bus_channel():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    action_bus_pb2_grpc.add_ActionBusServicer_to_server(_Bus(), server)
    health_servicer = health.HealthServicer()
    health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE_NAME, reflection.SERVICE_NAME, health.SERVICE_NAME), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield channel
    finally:
        channel.close()
        server.stop(grace=None)


def test_the_generated_stubs_stream_and_ack_over_loopback_with_health_and_reflection(bus_channel):
    stub = action_bus_pb2_grpc.ActionBusStub(bus_channel)
    request = action_bus_pb2.SubscribeRequest(runner_id="itops-1", resume_after=1)
    cursors = [d.cursor for d in stub.Subscribe(request, timeout=5)]
    assert cursors == [2, 3]
    ack = stub.Ack(action_bus_pb2.AckRequest(runner_id="itops-1", cursor=3, status=action_bus_pb2.ACK_STATUS_DONE))
    assert ack.committed_cursor == 3

    status = health_pb2_grpc.HealthStub(bus_channel).Check(
        health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5)
    assert status.status == health_pb2.HealthCheckResponse.SERVING

    answers = reflection_pb2_grpc.ServerReflectionStub(bus_channel).ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    listed = {s.name for a in answers for s in a.list_services_response.service}
    assert SERVICE_NAME in listed
