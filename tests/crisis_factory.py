"""Synthetic crisis streams for tests: quiet brands, one repost cascade, one collector outage.

Shaped like the real Weibo streams the early warning is evaluated on (no
authors, plain "转发微博" reposts, a cascade whose reposts point at their root
through ``parent_id``), but small, seeded and written here, so tests need no
shared data.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

START = datetime(2026, 11, 16, 0, 0, tzinfo=UTC)
SOURCES = ("weibo", "news", "forum", "wechat")
BACKGROUND = (
    "今天天气不错，出门走走", "周末和朋友去看了电影", "这家店的咖啡还可以", "最近在学做饭",
    "地铁上人好多，有点累", "排队排了好久，真烦", "新买的耳机音质一般般", "下雨了忘带伞，太倒霉",
    "晚上加班到十点", "终于放假了开心", "这个活动挺有意思的", "路上堵车堵了一个小时",
)
COMMENTS = ("太过分了", "怎么会这样", "真的假的", "支持", "心疼", "太离谱了，必须严查", "转发微博")
ROOT_TEXT = "高速公路上一辆货车侧翻，现场视频曝光，司机被困，交通中断"


def crisis_stream(brands: int = 3, hours: float = 6.0, per_minute: float = 2.0,
                  cascade_brand: int = 0, cascade_at: float = 4.0, reposts: int = 320,
                  outage: tuple[str, float, float] | None = ("weibo", 5.0, 0.5),
                  seed: int = 3) -> tuple[list[dict], dict]:
    """Mentions sorted by time and a truth in the format of ``ced_dev/stream.truth.json``.

    ``outage`` is (source, start hour, hours): that source vanishes for every brand.
    """
    rng = random.Random(seed)
    names = [f"品牌{chr(0x7532 + i)}" for i in range(brands)]  # 品牌甲, 品牌申, …: distinct
    mentions: list[dict] = []
    for b, brand in enumerate(names):
        t = 0.0
        n = 0
        while True:
            t += rng.expovariate(per_minute / 60.0)
            if t >= hours * 3600:
                break
            n += 1
            mentions.append({"id": f"post:{b}:{n}", "source": rng.choice(SOURCES),
                             "text": rng.choice(BACKGROUND), "brand": brand,
                             "published_at": START + timedelta(seconds=t)})
    onset = START + timedelta(hours=cascade_at)
    root = "cascade:0"
    brand = names[cascade_brand]
    mentions.append({"id": root, "source": "weibo", "text": ROOT_TEXT, "brand": brand,
                     "published_at": onset})
    delays = sorted(rng.expovariate(1 / 900.0) for _ in range(reposts))  # mean 15 min
    for i, delay in enumerate(delays, 1):
        mentions.append({"id": f"cascade:{i}", "source": "weibo", "text": rng.choice(COMMENTS),
                         "brand": brand, "parent_id": root,
                         "published_at": onset + timedelta(seconds=delay)})
    outages = []
    if outage is not None:
        source, start_h, length_h = outage
        a, z = START + timedelta(hours=start_h), START + timedelta(hours=start_h + length_h)
        mentions = [m for m in mentions
                    if not (m["source"] == source and a <= m["published_at"] < z)]
        outages.append({"source": source, "brand": "*", "start": a.isoformat(),
                        "end": z.isoformat()})
    mentions.sort(key=lambda m: (m["published_at"], m["id"]))
    for m in mentions:
        m["published_at"] = m["published_at"].isoformat()

    def nth(k: int) -> str:
        return (onset + timedelta(seconds=delays[k - 1])).isoformat()

    truth = {"period": [START.isoformat(), (START + timedelta(hours=hours)).isoformat()],
             "brands": names, "mentions": len(mentions), "split": "test",
             "crises": [{"brand": brand, "event": "cascade", "onset": onset.isoformat(),
                         "t50": nth(50), "t200": nth(200)}],
             "outages": outages}
    return mentions, truth
