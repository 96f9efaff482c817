"""Memory over a long run: the flow's resident set every 100,000 mentions, up to a million.

    python loadtest/bench_soak.py [--mentions 1000000] [--engine jieba] [--every 100000]

`yuqing run` runs as a child process on the demo input (four brands, crises,
duplicates and malformed lines) sized to give about `--mentions` mentions,
into a fresh embedded chDB store. Its RSS is read from /proc every half second
and the mention count from its progress lines, so the figures are the flow's
own, not this script's. A service that runs for weeks must stay flat: the
last samples should be no higher than the middle ones.
Prints one row per `--every` mentions, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PROGRESS = re.compile(r"progress: .*?([\d,]+) mentions at")
DEMO_BRANDS = 4


def rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def soak(mentions: int, engine: str, every: int, rate: float, workdir: Path) -> dict:
    # The daily rhythm averages below `rate`: 1.40 gave 982,490 mentions for a million, so the
    # stream is sized with 1.45 to pass the number asked for (duplicates and dead letters aside).
    hours = mentions / (DEMO_BRANDS * rate * 60) * 1.45
    args = [sys.executable, "-m", "yuqing.cli", "run", "--input", "demo",
            "--demo-hours", f"{hours:.2f}", "--demo-rate", str(rate), "--engine", engine,
            "--store", f"chdb://{workdir}/store", "--outbox", str(workdir / "outbox.sqlite3"),
            "--alerts", str(workdir / "alerts.jsonl"), "--dlq", str(workdir / "dlq.jsonl"),
            "--bus", "off", "--progress-every", "1", "--metrics-every", "0"]
    started = time.monotonic()
    child = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    count, peak, samples = [0], [0.0], []

    def read_progress() -> None:
        assert child.stderr is not None
        for line in child.stderr:
            if found := PROGRESS.search(line):
                count[0] = int(found.group(1).replace(",", ""))

    reader = threading.Thread(target=read_progress, daemon=True)
    reader.start()
    next_mark = every
    while child.poll() is None:
        rss = rss_mb(child.pid)
        peak[0] = max(peak[0], rss)
        if count[0] >= next_mark:
            samples.append({"mentions": count[0], "rss_mb": round(rss, 1),
                            "seconds": round(time.monotonic() - started, 1)})
            print(f"{count[0]:>10,} mentions  {rss:7.0f} MB  {samples[-1]['seconds']:7.1f} s",
                  flush=True)
            next_mark = (count[0] // every + 1) * every
        time.sleep(0.5)
    reader.join(5)
    out = child.stdout.read() if child.stdout else ""
    if child.returncode != 0:
        raise SystemExit(f"the flow failed (exit {child.returncode})")
    written = re.search(r"mentions written\s+([\d,]+)", out)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = int(written.group(1).replace(",", "")) if written else count[0]
    cpu = usage.ru_utime + usage.ru_stime
    return {"mentions": total, "engine": engine, "samples": samples,
            "peak_rss_mb": round(max(peak[0], usage.ru_maxrss / 1024), 1),
            "cpu_s": round(cpu, 1), "wall_s": round(time.monotonic() - started, 1),
            "per_core": round(total / cpu, 1) if cpu else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mentions", type=int, default=1_000_000, help="about this many mentions")
    parser.add_argument("--every", type=int, default=100_000, help="report RSS this often")
    parser.add_argument("--engine", choices=("jieba", "rjieba"), default="jieba")
    parser.add_argument("--rate", type=float, default=40.0,
                        help="background mentions per minute per brand in the demo stream")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="yuqing-soak-") as tmp:
        result = soak(args.mentions, args.engine, args.every, args.rate, Path(tmp))
    rss = [s["rss_mb"] for s in result["samples"]]
    if len(rss) >= 4:
        half = len(rss) // 2
        result["rss_growth_second_half_mb"] = round(max(rss[half:]) - max(rss[:half]), 1)
    print(f"peak RSS {result['peak_rss_mb']:.0f} MB over {result['mentions']:,} mentions, "
          f"{result['per_core']:,} mentions/s per core ({result['engine']})")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
