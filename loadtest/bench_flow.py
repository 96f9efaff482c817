"""Throughput of the whole flow against its per-core limit and the naive peer, in one run.

    python loadtest/bench_flow.py [--hours 24] [--rate 8] [--naive 400]

1. The demo corpus (realistic Chinese mentions with crises) is written to a JSONL file.
2. The limit: jieba tokenization alone over the same texts, one core, measured before and
   after the flow (the mean is the limit: this shared machine's speed drifts by 10-20 %
   over minutes, and a limit taken at one end only tilted the ratio by as much). Beside it,
   the flow's own jieba engine alone (FastJieba: jieba's words in about half the time), so
   that what the rest of the flow costs shows apart from what the engine gains.
3. The flow: `yuqing run` on that file into a fresh chDB store, in this process;
   per-core rate = mentions / CPU seconds of the process (all threads), over the whole
   run (from `launch`, imports done: as the first figures were taken) and once running:
   without what a run on the corpus's first 20 lines costs in a fresh process (store and
   its engine, schema, dictionary, models), which every run pays once, however long it is.
   Import CPU is printed apart.
4. The naive peer: per-message SnowNLP sentiment + one INSERT per row, on a sample.
Prints a table and, as the last line, one JSON object with every number.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path


def _cpu() -> float:
    return time.process_time()


def real_texts(path: Path) -> list[str]:
    """Texts of a `label<TAB>text` file (e.g. ../shared/data/sentiment/weibo2018_train.tsv)."""
    if not path.is_file():
        raise SystemExit(f"--texts {path}: not found; give a label<TAB>text TSV such as "
                         "../shared/data/sentiment/weibo2018_train.tsv, or leave --texts out")
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t", 1)[1] for line in lines if "\t" in line]


def write_corpus(path: Path, hours: float, rate: float, seed: int,
                 replace_texts: list[str] | None = None) -> list[str]:
    """The demo stream as JSONL; with `replace_texts`, background posts get those texts in turn
    (real Weibo posts are longer and more varied than the demo's templates).

    Each real text is used once: a text cycled under several brands would repeat its runs of
    words in posts that are not copies, which real streams do not and which would flatter the
    tokenizer's memo of runs. So the corpus ends at the post that would need a text again
    (with weibo2018_train's 9,990 texts, ~9 h of the demo stream)."""
    from yuqing.evaluation.demo import DemoConfig, DemoGenerator
    from yuqing.text.brands import BrandMatcher

    brands = BrandMatcher.default()
    texts, turn, used = [], 0, 0
    replace_texts = replace_texts or []
    with path.open("wb") as out:
        for line in DemoGenerator(DemoConfig(hours=hours, base_per_minute=rate, seed=seed)):
            with contextlib.suppress(ValueError, KeyError):
                obj = json.loads(line)
                if replace_texts and "parent_id" not in obj and turn % 4 != 3:
                    if used == len(replace_texts):
                        break
                    brand = brands.match(obj["text"]) or "星汇支付"  # keep the post's brand
                    obj["text"] = f"{brand} {replace_texts[used]}"
                    used += 1
                    line = json.dumps(obj, ensure_ascii=False).encode("utf-8")
                turn += 1
                texts.append(obj["text"])
            out.write(line + b"\n")
    return texts


def _texts_per_cpu_second(cut: Callable[[str], object], texts: list[str]) -> float:
    start = _cpu()
    for text in texts:
        cut(text)
    return len(texts) / (_cpu() - start)


def jieba_limit(texts: list[str]) -> float:
    """Texts per CPU second for jieba.lcut alone (dictionary loaded beforehand)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return _texts_per_cpu_second(jieba.lcut, texts)


def engine_alone(texts: list[str]) -> float:
    """Texts per CPU second for the flow's jieba engine alone (`FastJieba.cut_text`, jieba's
    words), on the same dictionary as the limit: what is left of the flow once it is taken out."""
    from yuqing.text.jieba_engine import FastJieba
    from yuqing.text.tokenizer import load_jieba_dictionary

    seg = FastJieba()
    load_jieba_dictionary(seg)
    seg.cut_text("预热")
    return _texts_per_cpu_second(seg.cut_text, texts)


def import_cpu() -> float:
    """CPU seconds to import the flow's modules: counted in the whole run, not once running."""
    start = _cpu()
    from yuqing.dataflows import launcher  # noqa: F401

    return _cpu() - start


def flow_rate(corpus: Path, workdir: Path, engine: str = "jieba") -> dict:
    """`yuqing run` on ``corpus`` in this process: mentions written, CPU and wall seconds."""
    from yuqing.dataflows.launcher import RunOptions, launch

    start_cpu, start_wall = _cpu(), time.perf_counter()
    summary = launch(RunOptions(input=str(corpus), store=f"chdb://{workdir}/ch?database=bench",
                                alerts=str(workdir / "alerts.jsonl"),
                                dlq=str(workdir / "dlq.jsonl"),
                                snapshot_interval=timedelta(seconds=10), engine=engine))
    cpu, wall = _cpu() - start_cpu, time.perf_counter() - start_wall
    return {"mentions": summary.counts.get("mentions", 0), "cpu_s": round(cpu, 3),
            "wall_s": round(wall, 2), "windows": summary.counts.get("windows", 0),
            "alerts": summary.counts.get("alerts", 0)}


def start_up_cpu(corpus: Path, workdir: Path, engine: str, lines: int = 20) -> dict:
    """A run on the corpus's first lines: what every run pays before its mentions (store,
    schema, dictionary, models), with the modules already imported.

    It runs in a fresh process, as the flow's own run met it: the embedded engine's first
    load and the segmenter's dictionary are paid there once per process, and a second run
    here would find them loaded and leave them in the "once running" rate. The child
    imports the flow's modules and jieba (loaded by the limit before the flow) untimed."""
    head = workdir / "head.jsonl"
    with corpus.open("rb") as src, head.open("wb") as out:
        for _ in range(lines):
            out.write(src.readline())
    work = workdir / "start-up"
    work.mkdir()
    child = ("import json, sys; sys.path.insert(0, sys.argv[1]); import bench_flow as b; "
             "b.import_cpu(); import jieba; jieba.initialize(); "
             "print(json.dumps(b.flow_rate(b.Path(sys.argv[2]), b.Path(sys.argv[3]), sys.argv[4])))")
    done = subprocess.run([sys.executable, "-c", child, str(Path(__file__).resolve().parent),
                           str(head), str(work), engine], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the start-up run failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def naive_peer(texts: list[str], workdir: Path) -> float:
    """Per-message SnowNLP + one INSERT per row: what a quick first version does."""
    try:
        from snownlp import SnowNLP
    except ImportError:
        return float("nan")
    from yuqing.core.endpoints import parse_store
    from yuqing.sinks.clickhouse import Store

    store = Store(parse_store(f"chdb://{workdir}/ch?database=naive"))
    store.client.command("CREATE DATABASE IF NOT EXISTS naive")
    store.client.command("CREATE TABLE IF NOT EXISTS naive.m (t String, s Float64) "
                         "ENGINE = MergeTree ORDER BY t")
    _ = SnowNLP("预热").sentiments  # load its model before timing
    start = _cpu()
    for text in texts:
        score = SnowNLP(text).sentiments
        store.client.insert("naive.m", [[text, score]], column_names=["t", "s"])
    return len(texts) / (_cpu() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours of demo traffic")
    parser.add_argument("--rate", type=float, default=8.0, help="background mentions/min per brand")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--naive", type=int, default=300, help="sample size for the naive peer")
    parser.add_argument("--texts", type=Path,
                        help="label<TAB>text TSV whose texts replace the demo's background posts "
                        "(e.g. ../shared/data/sentiment/weibo2018_train.tsv)")
    parser.add_argument("--engine", choices=("jieba", "rjieba"), default="jieba",
                        help="segmentation engine of the flow (the limit is always jieba)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="yuqing-bench-") as tmp:
        workdir = Path(tmp)
        corpus = workdir / "corpus.jsonl"
        replace = real_texts(args.texts) if args.texts else None
        texts = write_corpus(corpus, args.hours, args.rate, args.seed, replace)
        limit_before = jieba_limit(texts)
        imports = import_cpu()
        flow = flow_rate(corpus, workdir, args.engine)
        fixed = start_up_cpu(corpus, workdir, args.engine)
        limit_after = jieba_limit(texts)
        limit = (limit_before + limit_after) / 2
        own_engine = engine_alone(texts)
        naive = naive_peer(texts[: args.naive], workdir)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = flow["mentions"]
    flow["per_core"] = n / flow["cpu_s"]  # as the first figures: imports not counted
    flow["wall_rate"] = n / flow["wall_s"]
    flow["steady"] = (n - fixed["mentions"]) / (flow["cpu_s"] - fixed["cpu_s"])
    flow["imports_cpu_s"], flow["start_up_cpu_s"] = round(imports, 3), fixed["cpu_s"]
    result = {
        "corpus_mentions": len(texts),
        "distinct_texts": len(set(texts)),
        "texts": str(args.texts or "demo"),
        "engine": args.engine,
        "flow_mentions_per_core_s": round(flow["per_core"], 1),
        "flow_mentions_per_wall_s": round(flow["wall_rate"], 1),
        "jieba_limit_per_core_s": round(limit, 1),
        "jieba_limit_before_after": [round(limit_before, 1), round(limit_after, 1)],
        "ratio_to_jieba_limit": round(flow["per_core"] / limit, 3),
        "flow_steady_mentions_per_core_s": round(flow["steady"], 1),
        "steady_ratio_to_jieba_limit": round(flow["steady"] / limit, 3),
        "jieba_engine_alone_per_core_s": round(own_engine, 1),
        "ratio_to_jieba_engine_alone": round(flow["per_core"] / own_engine, 3),
        "naive_peer_per_core_s": round(naive, 1),
        "ratio_to_naive_peer": round(flow["per_core"] / naive, 1) if naive == naive else None,
        "peak_rss_mb": round(peak_mb, 1),
        **{f"flow_{k}": v for k, v in flow.items() if k not in ("per_core", "wall_rate", "steady")},
    }
    source = (f"each text of {args.texts.name} once, up to {args.hours} h" if args.texts
              else f"demo texts, {args.hours} h")
    print(f"corpus                 {len(texts):>10,} mentions (demo stream, {source})")
    print(f"jieba alone (limit)    {limit:>10,.0f} mentions/s per core (before the flow "
          f"{limit_before:,.0f}, after {limit_after:,.0f})")
    print(f"yuqing flow ({args.engine:6})   {flow['per_core']:>10,.0f} mentions/s per core "
          f"({result['ratio_to_jieba_limit']:.2f} x limit), wall {flow['wall_s']} s")
    print(f"  ... once running      {flow['steady']:>10,.0f} mentions/s per core "
          f"({result['steady_ratio_to_jieba_limit']:.2f} x limit; start-up {fixed['cpu_s']:.2f} s "
          f"of CPU left out; imports before the run took {imports:.2f} s)")
    print(f"our jieba engine alone {own_engine:>10,.0f} mentions/s per core "
          f"(FastJieba, jieba's words: {own_engine / limit:.2f} x jieba; the flow is "
          f"{result['ratio_to_jieba_engine_alone']:.2f} x of it)")
    print(f"naive peer             {naive:>10,.0f} mentions/s per core "
          f"(flow is {result['ratio_to_naive_peer']} x faster)")
    print(f"peak memory            {peak_mb:>10,.0f} MB")
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
