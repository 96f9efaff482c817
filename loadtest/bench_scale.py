"""One process against two on a 4-partition Kafka topic, in one run: wall-clock mentions/s.

    python loadtest/bench_scale.py [--hours 48] [--rate 8] [--processes 2] [--unkeyed] [--no-ceiling]

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

The ceiling (unless `--no-ceiling`): the brands split into `--processes`
groups of about equal traffic, each group on a topic of its own, replayed by
that many independent 1-process runs at once, each into its own store. Nothing
crosses between them and no writer is shared, so their summed rate over one
process's is the most any layout of that many processes can reach on this
machine with the broker beside them; the cluster's ratio is reported as a
share of it.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "loadtest"))

from bench_latency import brand_key  # noqa: E402

from yuqing.evaluation.demo import DemoConfig, DemoGenerator  # noqa: E402

from kafka_broker.harness import KafkaBroker, ensure_kafka_jars  # noqa: E402

WRITTEN = re.compile(r"mentions written\s+([\d,]+)")


def split_brands(counts: dict[str, int], groups: int) -> list[set[str]]:
    """Brands in ``groups`` sets of about equal traffic: the largest brand first, each to the
    lightest group so far (ties to the first group; brands of equal count by name)."""
    sets: list[set[str]] = [set() for _ in range(groups)]
    loads = [0] * groups
    for brand, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        lightest = loads.index(min(loads))
        sets[lightest].add(brand)
        loads[lightest] += count
    return sets


def produce(bootstrap: str, topics: list[str], hours: float, rate: float,
            keyed: bool = True) -> list[int]:
    """The demo stream, as a collector would send it; messages sent to each topic.

    On one topic all of it; on several, each brand's messages on the topic of its
    group (see `split_brands`; a message without a brand goes to the first).
    Keyed by brand (a brand keeps one partition), or not (`keyed` false: messages
    spread over the partitions evenly, whatever the number of brands).
    """
    from confluent_kafka import Producer

    lines = list(DemoGenerator(DemoConfig(hours=hours, base_per_minute=rate, seed=21)))
    brands = [brand_key(line) for line in lines]
    group_of: dict[bytes, int] = {}
    if len(topics) > 1:
        counts = Counter(brand.decode() for brand in brands if brand)
        group_of = {name.encode(): i for i, group in enumerate(split_brands(counts, len(topics)))
                    for name in group}
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    sent = [0] * len(topics)
    for n, (line, brand) in enumerate(zip(lines, brands, strict=True), start=1):
        group = group_of.get(brand, 0) if brand else 0
        producer.produce(topics[group], value=line, key=brand if keyed else None)
        sent[group] += 1
        if n % 10_000 == 0:
            producer.flush(30)
    producer.flush(60)
    return sent


def _start(bootstrap: str, topic: str, processes: int, folder: Path) -> subprocess.Popen:
    folder.mkdir()
    args = [sys.executable, "-m", "yuqing.cli", "run",
            "--input", f"kafka://{bootstrap}/{topic}?until=end",
            "--store", f"chdb://{folder}/store", "--outbox", str(folder / "outbox.sqlite3"),
            "--alerts", str(folder / "alerts.jsonl"), "--dlq", str(folder / "dlq.jsonl"),
            "--bus", "off", "--metrics-every", "0", "--progress-every", "5",
            "--kafka-group", f"scale-{folder.name}", "--processes", str(processes)]
    return subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _written(out: str) -> int:
    found = WRITTEN.search(out)
    return int(found.group(1).replace(",", "")) if found else 0


def _until_running(flow: subprocess.Popen, processes: int) -> tuple[list[float], str]:
    """When each of a run's processes logged "running:", read off its stderr, and the lines
    read so far (a run that fails before then has its reason among them)."""
    assert flow.stderr is not None
    running: list[float] = []
    seen: list[str] = []
    for line in flow.stderr:
        seen.append(line)
        if "running:" in line:
            running.append(time.perf_counter())
            if len(running) == processes:
                break
    return running, "".join(seen)


def replay_independent(bootstrap: str, topics: list[str], work: Path) -> dict:
    """One 1-process run per topic, all at once, each into its own store: mentions written
    (all runs) per second from the last run's "running:" line to the last exit."""
    flows = [_start(bootstrap, topic, 1, work / f"alone-{topic}") for topic in topics]
    starts = [_until_running(flow, 1) for flow in flows]
    results = [flow.communicate(timeout=1800) for flow in flows]
    ended = time.perf_counter()
    for topic, flow, (running, seen), (_out, err) in zip(topics, flows, starts, results,
                                                          strict=True):
        if flow.returncode != 0 or not running:
            raise SystemExit(f"the independent run on {topic} failed\n{(seen + err)[-2000:]}")
    mentions = [_written(out) for out, _err in results]
    seconds = ended - max(running[0] for running, _seen in starts)
    return {"mentions": mentions, "seconds": seconds, "per_s": sum(mentions) / seconds}


def replay(bootstrap: str, topic: str, processes: int, work: Path) -> dict:
    flow = _start(bootstrap, topic, processes, work / f"p{processes}")
    running, seen = _until_running(flow, processes)  # the children log here too
    out, err = flow.communicate(timeout=1800)
    ended = time.perf_counter()
    if flow.returncode != 0 or len(running) < processes:
        raise SystemExit(f"{processes} process(es): the run failed\n{(seen + err)[-2000:]}")
    return {"processes": processes, "seconds": ended - running[0],
            "seconds_all_running": ended - running[-1], "out": out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=48.0, help="simulated hours of demo traffic")
    parser.add_argument("--rate", type=float, default=8.0, help="background mentions/min per brand")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--no-ceiling", dest="ceiling", action="store_false",
                        help="skip the independent runs on the brands split by process (the "
                             "ceiling of the ratio on this machine; ~15 s more)")
    parser.add_argument("--unkeyed", action="store_true",
                        help="produce without keys: the demo's 4 brands fill only 3 of 4 "
                             "partitions when keyed, and one process then reads 74 %% of the input "
                             "(docs/cluster.md)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="yuqing-scale-") as tmp, \
            KafkaBroker(ensure_kafka_jars(REPO / ".cache")) as broker:
        work = Path(tmp)
        broker.create_topics(["mentions"], partitions=args.partitions)
        [produced] = produce(broker.bootstrap, ["mentions"], args.hours, args.rate,
                             not args.unkeyed)
        runs = []
        for processes in (1, args.processes):
            run = replay(broker.bootstrap, "mentions", processes, work)
            run["mentions"] = _written(run["out"])
            run["per_s"] = run["mentions"] / run["seconds"]
            run["per_s_all_running"] = run["mentions"] / run["seconds_all_running"]
            runs.append(run)
        alone = None
        if args.ceiling:
            topics = [f"brands-{i}" for i in range(args.processes)]
            broker.create_topics(topics, partitions=max(1, args.partitions // args.processes))
            split = produce(broker.bootstrap, topics, args.hours, args.rate)
            alone = replay_independent(broker.bootstrap, topics, work)
            alone["produced"] = split
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
    if alone is not None:
        result["ceiling"] = round(alone["per_s"] / one["per_s"], 2)
        result["independent_per_s"] = round(alone["per_s"], 1)
        result["independent_mentions"] = alone["mentions"]
        result["ratio_share_of_ceiling"] = round(result["ratio_all_running"] / result["ceiling"], 2)
    print(f"topic: {produced:,} messages on {args.partitions} partitions, "
          f"{'unkeyed' if args.unkeyed else 'keyed by brand'}")
    for run in runs:
        print(f"{run['processes']} process(es): {run['mentions']:,} mentions in "
              f"{run['seconds']:.1f} s = {run['per_s']:,.0f}/s (wall clock)")
    print(f"ratio {result['ratio']}x (from the first process's \"running:\" line; "
          f"{result['ratio_all_running']}x from the last one's, when every process has started)")
    if alone is not None:
        print(f"ceiling {result['ceiling']}x: {args.processes} independent 1-process runs at once, "
              f"the brands split between them ({'/'.join(f'{m:,}' for m in alone['mentions'])} "
              f"mentions), each with its own store: {alone['per_s']:,.0f}/s; the cluster reaches "
              f"{result['ratio_share_of_ceiling']:.0%} of it")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
