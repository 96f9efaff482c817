"""The burst detector: a burst scores high at once, flat noise scores low, state pickles."""

from __future__ import annotations

import doctest
import pickle
import random
from datetime import datetime, timedelta

import yuqing.warning.burst
import yuqing.warning.seasonal
from yuqing.warning.burst import BurstDetector

T0 = datetime(2015, 3, 2)


def daily_counts(n: int, seed: int, burst_at: int | None = None) -> list[tuple[datetime, int]]:
    """Poisson-like counts with a day/night rhythm, optionally a burst of 6 rows."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        t = T0 + timedelta(minutes=5 * i)
        mean = 40 if 8 <= t.hour < 22 else 10
        x = sum(rng.random() < mean / 100 for _ in range(100))
        if burst_at is not None and burst_at <= i < burst_at + 6:
            x += 150
        rows.append((t, x))
    return rows


def test_doctests_pass():
    for module in (yuqing.warning.burst, yuqing.warning.seasonal):
        assert doctest.testmod(module).failed == 0


def test_a_burst_is_flagged_on_its_first_row():
    detector = BurstDetector()
    scores = [detector.update(t, x) for t, x in daily_counts(3000, seed=1, burst_at=2500)]
    assert scores[2500] > 0.8
    assert max(scores[750:2500]) < scores[2500]


def test_a_flat_noisy_series_scores_low():
    detector = BurstDetector()
    scores = [detector.update(t, x) for t, x in daily_counts(3000, seed=2)]
    assert max(scores[750:]) < 0.64  # below the NAB-swept threshold
    assert sum(scores[750:]) / len(scores[750:]) < 0.2


def test_the_daily_rhythm_is_learnt_not_flagged():
    detector = BurstDetector()
    rows = daily_counts(3000, seed=3)
    scores = [detector.update(t, x) for t, x in rows]
    mornings = [s for (t, _), s in zip(rows[750:], scores[750:], strict=True) if t.hour == 8]
    assert max(mornings) < 0.64


def test_scores_stay_in_the_unit_interval():
    detector = BurstDetector()
    for t, x in daily_counts(500, seed=4, burst_at=300):
        assert 0.0 <= detector.update(t, x) < 1.0


def test_score_one_does_not_learn():
    detector = BurstDetector()
    for t, x in daily_counts(400, seed=5):
        detector.update(t, x)
    before = pickle.dumps(detector)
    detector.score_one(T0, 1000)
    assert pickle.dumps(detector) == before


def test_a_pickled_detector_continues_exactly():
    rows = daily_counts(1200, seed=6, burst_at=1000)
    a = BurstDetector()
    for t, x in rows[:600]:
        a.update(t, x)
    b = pickle.loads(pickle.dumps(a))
    assert [a.update(t, x) for t, x in rows[600:]] == [b.update(t, x) for t, x in rows[600:]]


def slow_rise(n: int, seed: int, start: int, ramp: int = 60, extra: float = 1.0):
    """Counts with a day/night rhythm that rise over ``ramp`` rows to (1 + extra) times usual."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        t = T0 + timedelta(minutes=5 * i)
        mean = 40 if 8 <= t.hour < 22 else 10
        if i >= start:
            mean *= 1 + extra * min(i - start, ramp) / ramp
        rows.append((t, sum(rng.random() < mean / 200 for _ in range(200))))
    return rows


def test_a_slow_rise_is_caught_by_the_sustained_channel_only():
    rows = slow_rise(3000, seed=8, start=2600)
    detector, spikes_only = BurstDetector(), BurstDetector(sustained=0)
    with_channel = [detector.update(t, x) for t, x in rows]
    without = [spikes_only.update(t, x) for t, x in rows]
    peak = max(with_channel[2600:2800])
    assert peak > 0.6                                  # near the NAB-swept threshold, ~0.63
    assert max(without[2600:2800]) < peak - 0.05       # the spike channel alone sees less
    assert max(with_channel[750:2600]) < peak - 0.1    # and nothing before the rise compares
