"""Test data: mentions with known event times, and the window totals they must give.

The expected totals are computed here from the raw dicts, independently of the
flow's code, so a test compares the flow against arithmetic, not against itself.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

BRANDS = ("星汇支付", "安达消费金融", "云栈科技", "锐芯电子")
SOURCES = ("weibo", "wechat", "douyin", "news")
START = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)


def make_mentions(n: int, minutes: int = 20, seed: int = 1, start: datetime = START) -> list[dict]:
    """`n` valid mentions in event-time order across `minutes`, some brands implicit."""
    rng = random.Random(seed)
    stamps = sorted(start + timedelta(seconds=rng.uniform(0, minutes * 60)) for _ in range(n))
    out = []
    for i, at in enumerate(stamps):
        brand = rng.choice(BRANDS)
        obj = {
            "id": f"t:{seed}:{i}",
            "source": rng.choice(SOURCES),
            "published_at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "text": f"{brand} 的服务今天怎么样？编号{i}",
            "author": {"id": f"a{rng.randrange(n // 3 + 1)}", "followers": rng.randrange(0, 5000)},
        }
        if rng.random() < 0.5:
            obj["brand"] = brand
        out.append(obj)
    return out


def expected_windows(mentions: list[dict]) -> dict[tuple[str, str, datetime], tuple[int, int, int]]:
    """(brand, source, minute) -> (mentions, unique authors, reach) for distinct ids."""
    seen: set[str] = set()
    count: dict = defaultdict(int)
    authors: dict = defaultdict(set)
    reach: dict = defaultdict(int)
    for m in mentions:
        if m["id"] in seen:
            continue
        seen.add(m["id"])
        brand = m.get("brand") or next(b for b in BRANDS if b in m["text"])
        at = datetime.fromisoformat(m["published_at"]).astimezone(UTC)
        key = (brand, m["source"], at.replace(second=0, microsecond=0, tzinfo=None))
        count[key] += 1
        authors[key].add(m["author"]["id"])
        reach[key] += m["author"]["followers"]
    return {k: (count[k], len(authors[k]), reach[k]) for k in count}


def encode(mention: dict) -> bytes:
    return json.dumps(mention, ensure_ascii=False).encode("utf-8")


WINDOW_QUERY = (
    "SELECT brand, source, window_start, mentions, unique_authors, reach "
    "FROM window_metrics FINAL ORDER BY brand, source, window_start"
)


def rows_to_windows(rows) -> dict[tuple[str, str, datetime], tuple[int, int, int]]:
    return {(r[0], r[1], r[2]): (r[3], r[4], r[5]) for r in rows}
