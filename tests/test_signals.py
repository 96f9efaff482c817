"""Window signals of one key: sliding counts, closed-minute rows, copies, bounded memory."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

from yuqing.warning.signals import Brief, WindowSignals

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def brief(i: int, seconds: float, author: str = "", negative: bool = True, story: str = "",
          followers: int = 100, verified: bool = False) -> Brief:
    return Brief(f"m{i}", T0 + timedelta(seconds=seconds), "weibo", author or f"a{i}", followers,
                 verified, 0, negative, story)


def test_the_window_keeps_the_last_five_minutes_only():
    w = WindowSignals(minutes=5)
    for i in range(20):  # one a minute
        w.add(brief(i, 60 * i))
    assert w.snapshot().count == 5


def test_each_closed_minute_yields_one_row_with_the_window_totals():
    w = WindowSignals(minutes=5)
    rows = []
    for i in range(10):
        rows += w.add(brief(i, 60 * i + 1, negative=i % 2 == 0))
    assert [r.count for r in rows] == [1, 2, 3, 4, 5, 5, 5, 5, 5]
    assert [r.negative for r in rows][:4] == [1, 1, 2, 2]


def test_a_long_gap_yields_zero_rows_bounded_by_max_fill():
    w = WindowSignals(minutes=5, max_fill=30)
    w.add(brief(0, 0))
    rows = w.add(brief(1, 3600 * 5))
    assert len(rows) <= 30 + 6  # the minutes the last mention leaves, then the newest max_fill
    assert rows[-1].count == 0 and rows[-1].at == T0 + timedelta(hours=5)
    assert w.snapshot().count == 1


def test_copies_of_one_story_by_few_authors_show_in_the_snapshot():
    w = WindowSignals()
    for i in range(40):
        w.add(brief(i, i, author=f"bot{i % 4}", story="s1"))
    s = w.snapshot()
    assert s.top_story_share == 1.0
    assert s.distinct_authors == 4 and s.author_ratio == 0.1


def test_negative_reach_and_opinion_leaders_count_negative_mentions_only():
    w = WindowSignals(kol_followers=100_000)
    w.add(brief(1, 1, followers=2_000_000, negative=True))
    w.add(brief(2, 2, followers=5_000_000, negative=False))
    w.add(brief(3, 3, followers=10, verified=True, negative=True))
    s = w.snapshot()
    assert (s.negative_reach, s.kols) == (2_000_010, 2)


def test_velocity_is_positive_while_a_burst_accelerates():
    w = WindowSignals()
    n = 0
    for minute, count in enumerate([1, 1, 5, 20]):
        for k in range(count):
            n += 1
            w.add(brief(n, 60 * minute + k))
    assert w.snapshot().velocity > 3


def test_memory_stays_bounded_under_a_flood_of_distinct_authors():
    w = WindowSignals(max_authors=100, max_stories=50, max_recent=64)
    for i in range(5000):
        w.add(brief(i, i * 0.01, story=f"s{i}"))
    assert len(w.authors) <= 100 and len(w.stories) <= 50 and len(w.recent) == 64
    assert w.snapshot().distinct_authors == 5000  # overflow counted as distinct


def test_signals_survive_a_pickle_round_trip():
    w = WindowSignals()
    for i in range(30):
        w.add(brief(i, 7 * i, story="s"))
    copy = pickle.loads(pickle.dumps(w))
    assert copy.snapshot() == w.snapshot()
