"""A live run (Kafka, tail mode) serves the gRPC bus, and labels sent with SubmitFeedback teach it."""

from __future__ import annotations

import signal
import subprocess
import sys

import grpc
import pytest

from yuqing.proto import action_bus_pb2 as bus
from yuqing.proto import action_bus_pb2_grpc

from mentions_factory import encode, make_mentions
from process_lines import wait_for_line
from store_fixtures import sql_in_subprocess

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_labels_submitted_over_grpc_reach_the_live_model(kafka_broker, kafka_topic_factory,
                                                         tmp_path):
    mentions = make_mentions(300, minutes=5, seed=51)
    topic = kafka_topic_factory()
    kafka_broker.produce(topic, [encode(m) for m in mentions])
    store = f"chdb://{tmp_path}/store?database=live"
    flow = subprocess.Popen(
        [sys.executable, "-m", "yuqing.cli", "run", "--input",
         f"kafka://{kafka_broker.bootstrap}/{topic}", "--store", store, "--bus", "127.0.0.1:0",
         "--outbox", str(tmp_path / "outbox.sqlite3"), "--alerts", str(tmp_path / "a.jsonl"),
         "--dlq", str(tmp_path / "d.jsonl"), "--progress-every", "0.2"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        address = wait_for_line(flow, "action bus listening on").rsplit("listening on ", 1)[1].split()[0]
        wait_for_line(flow, " 300 mentions at")
        with grpc.insecure_channel(address) as channel:
            stub = action_bus_pb2_grpc.ActionBusStub(channel)
            answers = [stub.SubmitFeedback(bus.SubmitFeedbackRequest(
                text="星汇支付又双叒叕崩了", sentiment=bus.SENTIMENT_LABEL_NEGATIVE), timeout=10)
                for _ in range(3)]
            answers.append(stub.SubmitFeedback(bus.SubmitFeedbackRequest(
                mention_id=mentions[10]["id"], sentiment=bus.SENTIMENT_LABEL_POSITIVE), timeout=10))
        assert all(a.accepted for a in answers), answers
        wait_for_line(flow, "feedback learned 4", timeout=30)
    finally:
        flow.send_signal(signal.SIGINT)
        try:
            flow.wait(30)
        except subprocess.TimeoutExpired:
            flow.kill()
    rows = sql_in_subprocess(store, "SELECT outcome, count() AS n FROM feedback_events GROUP BY outcome")
    assert rows == [{"outcome": "learned", "n": 4}]
