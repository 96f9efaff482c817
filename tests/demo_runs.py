"""A whole demo day as an operator sees it: the flow, then a runner working the bus.

`run_operated_demo` runs the demo (with a few analyst labels and a false-alarm
verdict), then serves the outbox on a real gRPC bus and lets a real runner
client handle every activation and ticket (one category's webhook is down, so
its deliveries fail), and mirrors the bus states into ClickHouse. Afterwards
every table the dashboards and reports read holds rows made by the product.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from yuqing.bus.client import Outcome, RunnerClient
from yuqing.bus.outbox import Outbox
from yuqing.bus.server import BusServer
from yuqing.core.endpoints import parse_store
from yuqing.dataflows.launcher import RunOptions, launch
from yuqing.proto import action_bus_pb2 as bus
from yuqing.sinks.bus_mirror import BusMirror

LABELS = [
    {"text": "星汇支付客服效率太低了，等了一小时", "label": 0},
    {"text": "锐芯手机续航真顶，点赞", "label": 1},
    {"mention_id": "weibo:000", "label": 1},
]


def run_operated_demo(store_url: str, out: Path):
    """Run the demo and work its bus; returns the flow's RunSummary."""
    feedback = out / "feedback.jsonl"
    feedback.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in LABELS) + "\n")
    outbox_path = out / "outbox.sqlite3"
    summary = launch(RunOptions(input="demo", store=store_url, alerts=str(out / "alerts.jsonl"),
                                dlq=str(out / "dead_letters.jsonl"), feedback=str(feedback),
                                outbox=outbox_path))
    outbox = Outbox(outbox_path)
    server = BusServer(outbox, port=0, ack_timeout=30).start()
    events = outbox.last_seq()

    def handler(delivery: bus.Delivery) -> Outcome:
        if (delivery.WhichOneof("payload") == "activation"
                and delivery.activation.incident.category == "product_defect"):
            return Outcome.failed("webhook answered HTTP 500")
        return Outcome.done("handled by the ops console")

    runner = RunnerClient(server.address, "ops-console")
    worker = threading.Thread(target=runner.run, args=(handler,),
                              kwargs={"max_deliveries": events}, daemon=True)
    worker.start()
    worker.join(60)
    runner.close()
    mirror = BusMirror(outbox, parse_store(store_url))
    mirror.copy_once()
    server.stop(grace=0.5)
    outbox.close()
    assert runner.handled == events, f"runner handled {runner.handled} of {events} events"
    return summary
