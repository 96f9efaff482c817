"""One process against two on a 4-partition Kafka topic, in one run: wall-clock mentions/s.

    python loadtest/bench_scale.py [--hours 48] [--rate 8] [--processes 2] [--unkeyed]

A real Kafka broker (KRaft, from the test harness) gets the demo stream on a
topic with `--partitions` partitions, keyed by brand as a collector would
(`--unkeyed`: spread evenly; the demo's 4 brands leave one of 4 partitions empty).
`yuqing run --input kafka://…?until=end` then replays it with 1 process and
with `--processes` processes, each into a fresh embedded store and its own
consumer group. The rate is mentions written / seconds from the flow's
"running:" line to its exit (start-up excluded, the same for both). With
several processes the first such line is process 0's; the others start at the
same time and log theirs a few tenths of a second later, and no process runs
the flow before all have joined, so the rate from the last line (every
start-up excluded) is printed too. Prints
both rates, their ratio, and one JSON object as the last line. For the latency
with two processes, run `loadtest/bench_latency.py --processes 2`.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "loadtest"))

from bench_latency import brand_key  # noqa: E402

from yuqing.evaluation.demo import DemoConfig, DemoGenerator  # noqa: E402

from kafka_broker.harness import KafkaBroker, ensure_kafka_jars  # noqa: E402

WRITTEN = re.compile(r"mentions written\s+([\d,]+)")


def produce(bootstrap: str, topic: str, hours: float, rate: float, keyed: bool = True) -> int:
    """The demo stream into ``topic``: keyed by brand (a brand keeps one partition), or not
    (messages spread over the partitions evenly, whatever the number of brands)."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    n = 0
    for line in DemoGenerator(DemoConfig(hours=hours, base_per_minute=rate, seed=21)):
        producer.produce(topic, value=line, key=brand_key(line) if keyed else None)
        n += 1
        if n % 10_000 == 0:
            producer.flush(30)
    producer.flush(60)
    return n


def replay(bootstrap: str, topic: str, processes: int, work: Path) -> dict:
    folder = work / f"p{processes}"
    folder.mkdir()
    args = [sys.executable, "-m", "yuqing.cli", "run",
            "--input", f"kafka://{bootstrap}/{topic}?until=end",
            "--store", f"chdb://{folder}/store", "--outbox", str(folder / "outbox.sqlite3"),
            "--alerts", str(folder / "alerts.jsonl"), "--dlq", str(folder / "dlq.jsonl"),
            "--bus", "off", "--metrics-every", "0", "--progress-every", "5",
            "--kafka-group", f"scale-{processes}", "--processes", str(processes)]
    flow = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert flow.stderr is not None
    running: list[float] = []  # when each process logged "running:" (the children log here too)
    for line in flow.stderr:
        if "running:" in line:
            running.append(time.perf_counter())
            if len(running) == processes:
                break
    out, err = flow.communicate(timeout=1800)
    ended = time.perf_counter()
    if flow.returncode != 0 or len(running) < processes:
        raise SystemExit(f"{processes} process(es): the run failed\n{err[-2000:]}")
    return {"processes": processes, "seconds": ended - running[0],
            "seconds_all_running": ended - running[-1], "out": out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=48.0, help="simulated hours of demo traffic")
    parser.add_argument("--rate", type=float, default=8.0, help="background mentions/min per brand")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--unkeyed", action="store_true",
                        help="produce without keys: the demo's 4 brands fill only 3 of 4 "
                             "partitions when keyed, and one process then reads 74 %% of the input "
                             "(docs/cluster.md)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="yuqing-scale-") as tmp, \
            KafkaBroker(ensure_kafka_jars(REPO / ".cache")) as broker:
        work = Path(tmp)
        broker.create_topics(["mentions"], partitions=args.partitions)
        produced = produce(broker.bootstrap, "mentions", args.hours, args.rate, not args.unkeyed)
        runs = []
        for processes in (1, args.processes):
            run = replay(broker.bootstrap, "mentions", processes, work)
            found = WRITTEN.search(run["out"])
            run["mentions"] = int(found.group(1).replace(",", "")) if found else 0
            run["per_s"] = run["mentions"] / run["seconds"]
            run["per_s_all_running"] = run["mentions"] / run["seconds_all_running"]
            runs.append(run)
    one, many = runs
    result = {
        "produced": produced, "partitions": args.partitions, "keyed": not args.unkeyed,
        "one_process_per_s": round(one["per_s"], 1),
        f"{args.processes}_processes_per_s": round(many["per_s"], 1),
        "ratio": round(many["per_s"] / one["per_s"], 2),
        "ratio_all_running": round(many["per_s_all_running"] / one["per_s"], 2),
        "mentions": [one["mentions"], many["mentions"]],
        "seconds": [round(one["seconds"], 1), round(many["seconds"], 1)],
    }
    print(f"topic: {produced:,} messages on {args.partitions} partitions, "
          f"{'unkeyed' if args.unkeyed else 'keyed by brand'}")
    for run in runs:
        print(f"{run['processes']} process(es): {run['mentions']:,} mentions in "
              f"{run['seconds']:.1f} s = {run['per_s']:,.0f}/s (wall clock)")
    print(f"ratio {result['ratio']}x (from the first process's \"running:\" line; "
          f"{result['ratio_all_running']}x from the last one's, when every process has started)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
