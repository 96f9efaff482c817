"""Poison lines: records that once stopped the whole flow, each one alone enough.

They must be refused at the edge with a reason (dead-lettered) and never stop,
hang or loop a run.
"""

from __future__ import annotations

import json

GOOD = {
    "id": "weibo:4951234567890",
    "source": "weibo",
    "published_at": "2026-11-23T08:15:00+08:00",
    "text": "星汇支付无法提现",
    "author": {"id": "u1", "name": "张三", "followers": 120, "verified": True},
    "engagement": {"reposts": 3, "comments": 1, "likes": 9},
    "parent_id": "weibo:1",
}

POISON = {
    "huge integer": b'{"id": 1' + b"0" * 5000 + b"}",
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "year 1": json.dumps({**GOOD, "published_at": "0001-01-01T00:00:00+08:00"}).encode(),
    "1969": json.dumps({**GOOD, "published_at": "1969-07-20T20:17:00Z"}).encode(),
    "year 2200": json.dumps({**GOOD, "published_at": "2200-01-01T00:00:00Z"}).encode(),
    "year 9999": json.dumps({**GOOD, "published_at": "9999-12-31T23:59:59Z"}).encode(),
    "lone surrogate": json.dumps({**GOOD, "text": "x\ud800"}, ensure_ascii=False).encode(
        "utf-8", "surrogatepass"),
    "escaped surrogate": json.dumps({**GOOD, "text": "x\ud800"}, ensure_ascii=True).encode(),
    "likes 2^32": json.dumps({**GOOD, "engagement": {"likes": 2**32}}).encode(),
    "followers 1e20": json.dumps({**GOOD, "author": {"followers": 10**20}}).encode(),
    "brand with a unit separator": json.dumps({**GOOD, "brand": "甲\x1f乙"}).encode(),
    "source with a newline": json.dumps({**GOOD, "source": "weibo\nnews"}).encode(),
    "a 2 MB record": json.dumps({**GOOD, "title": "t" * (2 << 20)}).encode(),
    "a 3,000-char title": json.dumps({**GOOD, "title": "t" * 3000}).encode(),
}
TOO_BIG_FOR_KAFKA = ("a 2 MB record",)
