"""The run's state over HTTP, for operators: `/healthz` for probes, `/metrics` for Prometheus.

`yuqing run --http HOST:PORT` serves both while the flow runs. `/healthz`
answers 200 with a small JSON state while the flow is running (and after a
finite input finished cleanly), 503 once it failed. `/metrics` is the
Prometheus text format: the run's counters, dead letters by reason, incident
changes by tier, the outbox depth per runner, Kafka consumer lag per
partition (the topic's high watermark less the next offset to read), and the
time sink batches take.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from yuqing.bus.outbox import Outbox
from yuqing.dataflows.tally import Tally

log = logging.getLogger("yuqing.status")


class KafkaPositions:
    """The next offset to read per (topic, partition), from the messages the flow took."""

    def __init__(self) -> None:
        self._next: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def saw(self, topic: str, partition: int, offset: int) -> None:
        with self._lock:
            key = (topic, partition)
            if offset + 1 > self._next.get(key, 0):
                self._next[key] = offset + 1

    def snapshot(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return dict(self._next)


class SinkTimings:
    """Count and total seconds of sink batch writes per table."""

    def __init__(self) -> None:
        self.count: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    def record(self, table: str, seconds: float) -> None:
        with self._lock:
            self.count[table] += 1
            self.seconds[table] += seconds

    def snapshot(self) -> tuple[dict[str, int], dict[str, float]]:
        with self._lock:
            return dict(self.count), dict(self.seconds)


@dataclass(frozen=True)
class Family:
    """One metric: its name, Prometheus type, help text and (labels, value) samples."""

    name: str
    kind: str  # counter | gauge
    help: str
    samples: list[tuple[dict, float]]


class RunStatus:
    """What the status server reports; the flow and the launcher update it."""

    def __init__(
        self,
        tally: Tally,
        outbox: Outbox | None = None,
        watermarks: Callable[[list[tuple[str, int]]], dict[tuple[str, int], int]] | None = None,
    ) -> None:
        self.tally = tally
        self.outbox = outbox
        self.watermarks = watermarks  # (topic, partition) -> high watermark, asked at scrape time
        self.kafka = KafkaPositions()
        self.sinks = SinkTimings()
        self.state = "starting"
        self.started = time.time()

    def health(self) -> tuple[int, dict]:
        ok = self.state in ("starting", "running", "finished")
        return (200 if ok else 503), {
            "state": self.state,
            "uptime_s": round(time.time() - self.started, 1),
            "mentions": self.tally.get("mentions"),
        }

    def metrics(self) -> str:
        """The Prometheus text format of `families`."""
        lines: list[str] = []
        for family in self.families():
            lines.append(f"# HELP {family.name} {family.help}")
            lines.append(f"# TYPE {family.name} {family.kind}")
            for labels, value in family.samples:
                body = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
                name = family.name
                lines.append(f"{name}{{{body}}} {value}" if body else f"{name} {value}")
        return "\n".join(lines) + "\n"

    def families(self) -> list[Family]:
        """Every metric with its samples now: what `/metrics` serves and the store records."""
        out: list[Family] = []

        def metric(name: str, kind: str, text: str, samples: list[tuple[dict, float]]) -> None:
            out.append(Family(name, kind, text, samples))

        counts = self.tally.as_dict()
        plain = {k: v for k, v in counts.items() if ":" not in k}
        for key in sorted(plain):
            metric(
                f"yuqing_{key}_total",
                "counter",
                f"{key.replace('_', ' ')} written or counted by this process",
                [({}, plain[key])],
            )
        for key, text in (("incidents", "distinct incidents changed by this process"),
                          ("activations", "distinct playbook activations made by this process")):
            metric(f"yuqing_{key}_distinct", "gauge", text, [({}, self.tally.distinct(key))])
        labelled = (
            ("dead_letter_reason", "reason", "dead_letters_by_reason",
             "records refused (at the edge, or by a failing step), by reason"),
            ("incident_tier", "tier", "incident_changes_by_tier",
             "incident changes, by the tier they left the incident at"),
        )
        for prefix, label, name, help_text in labelled:
            samples = [
                ({label: k.split(":", 1)[1]}, v)
                for k, v in sorted(counts.items())
                if k.startswith(prefix + ":")
            ]
            metric(f"yuqing_{name}_total", "counter", help_text, samples)
        if self.outbox is not None:
            try:
                depth = self.outbox.depth()
            except Exception:  # a closed outbox must not fail the scrape
                depth = {}
            metric(
                "yuqing_outbox_depth",
                "gauge",
                "events on the bus a runner has not yet acked",
                [({"runner": r}, n) for r, n in sorted(depth.items())],
            )
        positions = self.kafka.snapshot()
        if positions:
            highs = self.watermarks(list(positions)) if self.watermarks else {}
            metric(
                "yuqing_kafka_lag",
                "gauge",
                "messages in a partition the flow has not read yet",
                [
                    ({"topic": t, "partition": p}, max(0, highs[(t, p)] - nxt))
                    for (t, p), nxt in sorted(positions.items())
                    if (t, p) in highs
                ],
            )
        count, seconds = self.sinks.snapshot()
        metric(
            "yuqing_sink_batch_seconds_sum",
            "counter",
            "seconds spent writing sink batches",
            [({"table": t}, round(s, 6)) for t, s in sorted(seconds.items())],
        )
        metric(
            "yuqing_sink_batch_seconds_count",
            "counter",
            "sink batches written",
            [({"table": t}, n) for t, n in sorted(count.items())],
        )
        metric(
            "yuqing_up",
            "gauge",
            "1 while the flow runs or finished cleanly",
            [({}, 1 if self.health()[0] == 200 else 0)],
        )
        return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Handler(BaseHTTPRequestHandler):
    status: RunStatus

    def do_GET(self) -> None:  # the name http.server calls
        if self.path.split("?")[0] == "/healthz":
            code, body = self.status.health()
            self._send(code, "application/json", json.dumps(body).encode())
        elif self.path.split("?")[0] == "/metrics":
            self._send(200, "text/plain; version=0.0.4", self.status.metrics().encode())
        else:
            self._send(404, "text/plain", b"try /healthz or /metrics\n")

    def _send(self, code: int, kind: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args) -> None:  # scrapes every few seconds: not worth a log line
        return


def serve_status(host: str, port: int, status: RunStatus) -> ThreadingHTTPServer:
    """Serve `/healthz` and `/metrics` in a daemon thread; `shutdown()` the result to stop."""
    handler = type("StatusHandler", (_Handler,), {"status": status})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="status-http", daemon=True).start()
    log.info("status on http://%s:%d/healthz and /metrics", host, server.server_address[1])
    return server
