"""Mention -> activation latency through the real parts, at a fixed mention rate.

    python loadtest/bench_latency.py [--rate 2000] [--seconds 60]

A real Kafka broker (KRaft, from the test harness) carries the `mentions`
topic; `yuqing run` consumes it live (tail mode) with the gRPC action bus on
loopback; a real runner client subscribes to every activation. Mentions come
from the demo generator (background traffic of four brands plus two crises),
compressed in event time and produced at `--rate` per second of wall time.

Latency of an activation = the runner's receipt time - the time the mention
that moved its incident (`trigger_mention_id`) was handed to the producer.
Prints p50/p99/max, the flow's sustained rate, its peak memory and its CPU
(every process of it, from start to exit: the children's rusage once it has
exited), then one JSON object as the last line. `--gather` passes
`--kafka-gather` to the flow, to measure that trade of latency for CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from yuqing.bus.client import Outcome, RunnerClient  # noqa: E402
from yuqing.evaluation.demo import CRISIS_TEXTS, Crisis, DemoConfig, DemoGenerator  # noqa: E402

from kafka_broker.harness import KafkaBroker, ensure_kafka_jars  # noqa: E402


def brand_key(line: bytes) -> bytes | None:
    """The message key a collector would give: the mention's brand, so a brand keeps one partition."""
    from yuqing.text.brands import BrandMatcher

    global _BRANDS
    _BRANDS = _BRANDS or BrandMatcher.default()
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    brand = obj.get("brand") or _BRANDS.match(obj.get("text", ""))
    return brand.encode() if brand else None


_BRANDS = None
PROGRESS = re.compile(r"progress: .*?([\d,]+) mentions at")


def corpus(rate: float, seconds: float) -> list[tuple[str, bytes]]:
    """(id, JSON) of the demo's mentions: 90 event minutes, two crises after warm-up."""
    start = DemoConfig().start
    crises = (
        Crisis("星汇支付", "outage", start + timedelta(minutes=50), timedelta(minutes=30),
               peak_per_minute=60.0, templates=CRISIS_TEXTS["outage"]),
        Crisis("锐芯电子", "product_defect", start + timedelta(minutes=70), timedelta(minutes=20),
               peak_per_minute=40.0, templates=CRISIS_TEXTS["product_defect"], origin="douyin"),
    )
    target = rate * seconds
    quiet = dict(hours=1.5, malformed_share=0.0, duplicate_share=0.0)
    background = sum(1 for _ in DemoGenerator(DemoConfig(base_per_minute=1.0, crises=(), **quiet)))
    crisis = sum(1 for _ in DemoGenerator(DemoConfig(base_per_minute=0.0, crises=crises, **quiet)))
    base = max(1.0, (target - crisis) / max(background, 1))  # total is about rate * seconds
    config = DemoConfig(base_per_minute=base, crises=crises, **quiet)
    return [(json.loads(line)["id"], line) for line in DemoGenerator(config)]


def produce_paced(bootstrap: str, topic: str, items: list[tuple[str, bytes]], rate: float,
                  sent_at: dict[str, float]) -> float:
    """Produce at `rate` per second in 10 ms slices; returns the wall seconds it took."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2})
    start = time.perf_counter()
    per_slice = max(1, int(rate / 100))
    for i in range(0, len(items), per_slice):
        due = start + i / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        now = time.time()
        for mention_id, value in items[i:i + per_slice]:
            sent_at[mention_id] = now
            producer.produce(topic, value=value, key=brand_key(value))
        producer.poll(0)
    producer.flush(30)
    return time.perf_counter() - start


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=2000.0, help="mentions per second produced")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to produce")
    parser.add_argument("--processes", type=int, default=1, help="`yuqing run --processes`")
    parser.add_argument("--partitions", type=int, default=4,
                        help="partitions of the mentions topic (produced keyed by brand)")
    parser.add_argument("--gather", type=float, default=None, metavar="SECONDS",
                        help="the flow's --kafka-gather (its own default when left out)")
    args = parser.parse_args(argv)
    gather = [] if args.gather is None else ["--kafka-gather", str(args.gather)]

    items = corpus(args.rate, args.seconds)
    sent_at: dict[str, float] = {}
    received: dict[str, tuple[float, str]] = {}
    with tempfile.TemporaryDirectory(prefix="yuqing-latency-") as tmp, \
            KafkaBroker(ensure_kafka_jars(REPO / ".cache")) as broker:
        work = Path(tmp)
        broker.create_topics(["mentions"], partitions=args.partitions)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        flow = subprocess.Popen(
            [sys.executable, "-m", "yuqing.cli", "run", "--input",
             f"kafka://{broker.bootstrap}/mentions", "--store", f"chdb://{work}/ch",
             "--bus", "127.0.0.1:0", "--outbox", str(work / "outbox.sqlite3"),
             "--alerts", str(work / "alerts.jsonl"), "--dlq", str(work / "dlq.jsonl"),
             "--progress-every", "2", "--processes", str(args.processes), *gather],
            stderr=subprocess.PIPE, text=True, env={**os.environ, "YUQING_LOG_LEVEL": "INFO"})
        address, progress = None, []
        assert flow.stderr is not None
        for line in flow.stderr:
            if "action bus listening on" in line and address is None:
                address = line.rsplit("listening on ", 1)[1].split()[0]
            if "running:" in line:
                break
        threading.Thread(target=lambda: progress.extend(flow.stderr), daemon=True).start()
        assert address, "the flow did not start its bus"

        def handler(delivery) -> Outcome:
            if delivery.WhichOneof("payload") == "activation":
                a = delivery.activation
                received.setdefault(a.idempotency_key,
                                    (time.time(), a.incident.trigger_mention_id))
            return Outcome.done()

        runner = RunnerClient(address, "latency-probe")
        threading.Thread(target=runner.run, args=(handler,), daemon=True).start()
        time.sleep(3)  # the flow's Kafka consumer and the runner are connected
        wall = produce_paced(broker.bootstrap, "mentions", items, args.rate, sent_at)
        deadline = time.time() + 120
        consumed = 0
        while time.time() < deadline:
            time.sleep(1)
            # process 0 writes every row (the embedded store has one writer): its count is all
            found = [PROGRESS.search(x) for x in list(progress) if "progress:" in x]
            counts = [int(m.group(1).replace(",", "")) for m in found if m]
            if counts:
                consumed = max(counts)
            if consumed >= len(items):
                break
        caught_up = time.time()
        if consumed < len(items):
            print("last flow log lines:", *progress[-5:], sep="\n", file=sys.stderr)
        time.sleep(3)
        memory = peak_rss_mb(flow.pid)
        runner.close()
        flow.send_signal(signal.SIGINT)
        try:
            flow.wait(30)
        except subprocess.TimeoutExpired:
            flow.kill()
            flow.wait()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the flow and its processes, reaped
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    latencies = sorted(t - sent_at[m] for t, m in received.values() if m in sent_at)
    drain = caught_up - (min(sent_at.values()) + wall)
    result = {
        "rate_produced_per_s": round(len(items) / wall, 1),
        "mentions": len(items),
        "mentions_written": consumed,
        "drain_after_last_produce_s": round(max(drain, 0.0), 2),
        "activations_received": len(received),
        "activations_with_trigger": len(latencies),
        "latency_p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "latency_p99_ms": (round(1000 * latencies[min(len(latencies) - 1,
                                                      int(0.99 * len(latencies)))], 1)
                           if latencies else None),
        "latency_max_ms": round(1000 * latencies[-1], 1) if latencies else None,
        "flow_peak_rss_mb": round(memory, 1),
        "flow_cpu_s": round(cpu, 2),
        "flow_cpu_ms_per_mention": round(1000 * cpu / max(consumed, 1), 3),
        "kafka_gather_s": args.gather,
        "processes": args.processes,
        "partitions": args.partitions,
    }
    print(f"produced   {len(items):,} mentions at {result['rate_produced_per_s']:,.0f}/s "
          f"for {wall:.1f} s; flow wrote {consumed:,}, caught up {result['drain_after_last_produce_s']} s "
          "after the last produce")
    print(f"activations received by the runner: {len(received)} "
          f"({len(latencies)} with a trigger mention)")
    print(f"mention -> runner latency: p50 {result['latency_p50_ms']} ms, "
          f"p99 {result['latency_p99_ms']} ms, max {result['latency_max_ms']} ms")
    print(f"flow peak memory {memory:,.0f} MB; flow CPU {cpu:.1f} s from start to exit, all its "
          f"processes ({result['flow_cpu_ms_per_mention']} ms a mention, start-up included)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
