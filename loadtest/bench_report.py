"""Time `yuqing report brief` on a day of one million mentions (limit: 30 s).

    python loadtest/bench_report.py [--mentions 1000000] [--batch 100000] [--keep DIR]

1. A child process writes one day (2026-11-20, Beijing time) of N synthetic
   mentions straight into a fresh chDB store with batched Arrow inserts
   (100k rows each, never row by row): 8 brands, 7 sources, realistic Chinese
   texts with keywords, stories and repost chains, two crises; plus a few
   incidents with activations, deliveries and tasks.
2. `yuqing report brief --date 2026-11-20` runs as its own process (the
   command a user types, start-up included) and is timed, twice: the first
   run reads cold files, the second shows the steady state.
Prints a table and, as the last line, one JSON object with every number.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

DAY = "2026-11-20"
DAY_START = datetime(2026, 11, 19, 16, 0, tzinfo=UTC)  # 2026-11-20 00:00 Beijing time
LIMIT_SECONDS = 30.0
BRANDS = ("星汇支付", "安达消费金融", "云栈科技", "锐芯电子", "蓝鲸保险", "拾光电商", "云帆出行", "北辰银行")
SOURCES = ("weibo", "wechat", "douyin", "news", "forum", "x", "app_review")
TEMPLATES = (  # (text, keywords, sentiment, category)
    ("{b}又宕机了？无法提现，交易失败，钱卡在里面出不来", ["宕机", "无法提现", "交易失败"], -0.8, "outage"),
    ("{b}系统瘫痪，支付失败，商户收不了款", ["系统瘫痪", "支付失败", "商户"], -0.75, "outage"),
    ("{b}的手机充电时电池鼓包发烫，太吓人了", ["电池", "鼓包", "发烫"], -0.7, "product_defect"),
    ("{b}乱收费，隐藏费用太多，要投诉", ["乱收费", "隐藏费用", "投诉"], -0.6, "consumer_complaint"),
    ("听说{b}资金链断裂要跑路了，是真的吗", ["资金链", "跑路"], -0.5, "rumor"),
    ("{b}被监管罚款了，合规问题不小", ["监管", "罚款", "合规"], -0.55, "regulatory"),
    ("{b}客服态度很好，问题很快解决了", ["客服", "解决"], 0.7, "other"),
    ("{b}新版本体验不错，界面简洁流畅", ["新版本", "体验", "界面"], 0.6, "other"),
    ("有人知道{b}怎么开通会员吗？求教程", ["开通", "会员", "教程"], 0.0, "other"),
    ("{b}今天发布了新产品，大家觉得怎么样", ["发布", "新产品"], 0.1, "other"),
    ("{b}的理财收益还可以，推荐一下", ["理财", "收益", "推荐"], 0.5, "other"),
    ("{b}物流太慢了，等了一周还没到", ["物流", "太慢"], -0.4, "consumer_complaint"),
)


def generate(store_url: str, n: int, batch: int, seed: int = 7) -> dict:
    """Write N mentions of one day plus a few incidents into the store; return counts."""
    import numpy as np
    import pyarrow as pa

    from yuqing.core.endpoints import parse_store
    from yuqing.sinks.clickhouse import Store
    from yuqing.sinks.tables import ACTIVATIONS, DELIVERIES, INCIDENTS, MENTIONS, TASKS
    from yuqing.warning.incidents import Incident

    rng = np.random.default_rng(seed)
    store = Store(parse_store(store_url))
    store.ensure_schema()
    db = store.spec.database
    day_ms = int(DAY_START.timestamp() * 1000)
    texts = np.array([[t.format(b=b) for t, *_ in TEMPLATES] for b in BRANDS], dtype=object)
    keywords = np.empty(len(TEMPLATES), dtype=object)
    keywords[:] = [k for _, k, _, _ in TEMPLATES]
    sentiment = np.array([s for *_, s, _ in TEMPLATES], dtype=np.float32)
    category = np.array([c for *_, c in TEMPLATES], dtype=object)
    brand_arr, source_arr = np.array(BRANDS, dtype=object), np.array(SOURCES, dtype=object)
    # Two crises: 星汇支付 outage at 10:30 and 锐芯电子 battery at 15:00 Beijing time.
    crises = ((0, 0, 9.5 * 3600, 2 * 3600), (3, 2, 14.0 * 3600, 3 * 3600))
    started, written = time.perf_counter(), 0
    while written < n:
        size = min(batch, n - written)
        ids = np.arange(written, written + size)
        brand = rng.choice(len(BRANDS), size, p=[0.25, 0.15, 0.12, 0.16, 0.08, 0.1, 0.07, 0.07])
        tmpl = rng.choice(len(TEMPLATES), size, p=[0.04, 0.03, 0.03, 0.08, 0.03, 0.03, 0.16, 0.16,
                                                   0.14, 0.12, 0.1, 0.08])
        offset_s = rng.uniform(0, 86400, size)
        for b, t, start, length in crises:  # a quarter of the crisis brand's rows pile into its crisis
            hit = (brand == b) & (rng.random(size) < 0.25)
            tmpl[hit] = t
            offset_s[hit] = start + rng.exponential(length / 3, hit.sum()).clip(0, length)
        labels = np.where(sentiment[tmpl] < -0.2, "negative",
                          np.where(sentiment[tmpl] > 0.2, "positive", "neutral")).astype(object)
        story = rng.integers(0, 3000, size)
        reposted = rng.random(size) < 0.15
        parent = np.where(reposted, np.char.add("weibo:", (ids - rng.integers(1, 500, size)).clip(0)
                                                .astype(str)).astype(object), "")
        followers = rng.pareto(1.2, size).astype(np.uint64) * 50 + rng.integers(0, 200, size).astype(np.uint64)
        columns = {
            "id": pa.array(np.char.add("weibo:", ids.astype(str)).astype(object).tolist()),
            "source": pa.array(source_arr[rng.integers(0, len(SOURCES), size)].tolist()),
            "brand": pa.array(brand_arr[brand].tolist()),
            "published_at": pa.array(day_ms + (offset_s * 1000).astype(np.int64),
                                     type=pa.timestamp("ms", tz="UTC")),
            "text": pa.array(texts[brand, tmpl].tolist()),
            "title": pa.array([""] * size), "url": pa.array([""] * size),
            "lang": pa.array(["zh"] * size),
            "author_id": pa.array(np.char.add("u", rng.integers(0, 200_000, size).astype(str)).astype(object).tolist()),
            "author_name": pa.array([""] * size),
            "followers": pa.array(followers, type=pa.uint64()),
            "verified": pa.array((rng.random(size) < 0.03).astype(np.uint8), type=pa.uint8()),
            "reposts": pa.array(rng.poisson(2, size).astype(np.uint32), type=pa.uint32()),
            "comments": pa.array(rng.poisson(3, size).astype(np.uint32), type=pa.uint32()),
            "likes": pa.array(rng.poisson(8, size).astype(np.uint32), type=pa.uint32()),
            "parent_id": pa.array(parent.tolist()),
            "sentiment": pa.array(sentiment[tmpl] + rng.normal(0, 0.1, size).astype(np.float32),
                                  type=pa.float32()),
            "sentiment_label": pa.array(labels.tolist()),
            "category": pa.array(category[tmpl].tolist()),
            "category_evidence": pa.array([[]] * size, type=pa.list_(pa.string())),
            "story_id": pa.array(np.char.add("story:", story.astype(str)).astype(object).tolist()),
            "keywords": pa.array(keywords[tmpl].tolist(), type=pa.list_(pa.string())),
        }
        assert list(columns) == list(MENTIONS.columns)
        store.client.insert_arrow(f"{db}.mentions", pa.table(columns))
        written += size
    insert_s = time.perf_counter() - started

    incidents, activations, deliveries, tasks = [], [], [], []
    for i, (b, t, start, _length) in enumerate(crises):
        at = DAY_START + timedelta(seconds=start + 600)
        inc = Incident.open(BRANDS[b], TEMPLATES[t][3], at, tier=2, score=64.0)
        ups = [inc.opened({"began": {"source": "weibo", "at": at.isoformat()}}),
               inc.change(at + timedelta(minutes=5), 3, 91.0),
               inc.change(at + timedelta(hours=2), 0, 4.0)]
        incidents += [u.to_row() for u in ups]
        key = f"{inc.incident_id}:act"
        activations.append((key, inc.incident_id, BRANDS[b], TEMPLATES[t][3], 3, f"playbook-{t}",
                            1, 1, ["pr", "tech"], at, "{}"))
        deliveries.append(("itops", i, key, "activation", inc.incident_id, BRANDS[b],
                           TEMPLATES[t][3], 3, ["pr", "tech"], 1, "done", "", at, at,
                           at + timedelta(seconds=30)))
        for dept in ("pr", "tech"):
            tasks.append((key, dept, inc.incident_id, BRANDS[b], dept, "done", "on-call", "",
                          at + timedelta(hours=1), at + timedelta(minutes=40)))
    for table, rows in ((INCIDENTS, incidents), (ACTIVATIONS, activations),
                        (DELIVERIES, deliveries), (TASKS, tasks)):
        store.insert(table, rows)
    count = store.query(f"SELECT count() FROM {db}.mentions")[0][0]
    store.close()
    return {"mentions": count, "insert_seconds": round(insert_s, 2),
            "insert_rows_per_s": round(count / insert_s)}


def time_brief(store_url: str, out: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "yuqing.cli", "report", "brief", "--date", DAY,
                           "--out", str(out), "--store", store_url],
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"yuqing report brief failed:\n{done.stderr}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="use this directory (kept) instead of a temp one")
    parser.add_argument("--generate-only", metavar="STORE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_only:  # the child: chDB lets one process own a directory
        print(json.dumps(generate(args.generate_only, args.mentions, args.batch)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        store_url = f"chdb://{work}/ch?database=bench"
        child = subprocess.run([sys.executable, __file__, "--mentions", str(args.mentions),
                                "--batch", str(args.batch), "--generate-only", store_url],
                               capture_output=True, text=True, check=False)
        if child.returncode != 0:
            sys.exit(f"generation failed:\n{child.stderr}")
        gen = json.loads(child.stdout.strip().splitlines()[-1])
        cold = time_brief(store_url, work / "report")
        warm = time_brief(store_url, work / "report")
    result = {"bench": "report_brief", "mentions": gen["mentions"], "day": DAY,
              "insert_seconds": gen["insert_seconds"], "insert_rows_per_s": gen["insert_rows_per_s"],
              "brief_seconds_cold": round(cold, 2), "brief_seconds_warm": round(warm, 2),
              "limit_seconds": LIMIT_SECONDS, "ratio_to_limit": round(max(cold, warm) / LIMIT_SECONDS, 3)}
    print(f"mentions in the day        {gen['mentions']:>12,}")
    print(f"batched insert             {gen['insert_seconds']:>10.1f} s  "
          f"({gen['insert_rows_per_s']:,} rows/s)")
    print(f"yuqing report brief, cold  {cold:>10.1f} s  (limit {LIMIT_SECONDS:.0f} s)")
    print(f"yuqing report brief, warm  {warm:>10.1f} s")
    print(json.dumps(result))
    return 0 if max(cold, warm) < LIMIT_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
