"""Risk score and tiers: bursts score, noise does not; tiers do not flap; thresholds per key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from yuqing.errors import UserError
from yuqing.warning.config import WarningConfig
from yuqing.warning.risk import RiskScorer
from yuqing.warning.signals import MinuteRow, Snapshot
from yuqing.warning.tiers import Thresholds, TierMachine

T0 = datetime(2026, 11, 16, tzinfo=UTC)


def trained(severity: float = 0.8, negative_per_window: int = 2, count: int = 10) -> RiskScorer:
    scorer = RiskScorer(severity=severity)
    for i in range(24 * 60):
        neg = negative_per_window + (i % 3) - 1
        scorer.learn_one(MinuteRow(T0 + timedelta(minutes=i), count, neg, count // 5))
    return scorer


def snap(count, negative, reach=1000, kols=0, velocity=0.0, authors=None, top=0.1):
    return Snapshot(T0 + timedelta(days=1), count, negative, reach, kols, 0, velocity,
                    count if authors is None else authors, top)


def test_an_ordinary_window_scores_near_zero_and_a_negative_burst_scores_high():
    scorer = trained()
    assert scorer.score_one(snap(10, 2)).score < 10
    assert scorer.score_one(snap(80, 70, reach=2_000_000, kols=3, velocity=4)).score > 80


def test_reach_alone_without_more_negative_mentions_is_not_a_crisis():
    scorer = trained()
    assert scorer.score_one(snap(10, 2, reach=30_000_000, kols=5, velocity=5)).score < 10


def test_a_copy_paste_campaign_scores_below_organic_spread_of_the_same_size():
    scorer = trained()
    organic = scorer.score_one(snap(40, 36)).score
    campaign = scorer.score_one(snap(40, 36, authors=4, top=1.0)).score
    assert campaign < organic - 20


def test_a_burst_whose_negative_share_did_not_rise_is_damped():
    scorer = trained(severity=0.2, negative_per_window=4, count=20)
    viral = scorer.score_one(snap(100, 20)).score  # five times the volume, same 20 % negative
    angry = scorer.score_one(snap(25, 20)).score  # the same negatives, mostly negative
    assert viral < angry


def test_severity_scales_the_score():
    low, high = trained(severity=0.2), trained(severity=1.0)
    s = snap(30, 20)
    assert low.score_one(s).score < high.score_one(s).score


def test_score_parts_add_up_to_the_score():
    risk = trained().score_one(snap(60, 50, reach=500_000, kols=2, velocity=3))
    assert sum(risk.parts().values()) == pytest.approx(risk.score, abs=0.5)


def test_a_new_key_scores_nothing_before_its_warmup():
    assert RiskScorer().score_one(snap(80, 70)).score == 0.0


def _run(machine, scores, step=timedelta(minutes=1)):
    return [(i, c) for i, s in enumerate(scores)
            if (c := machine.step(T0 + i * step, s)) is not None]


def test_scores_wobbling_around_a_threshold_do_not_flap():
    changes = _run(TierMachine(), [52, 47, 53, 45, 51, 44, 52, 46] * 5)
    assert changes == [(0, (0, 2))]


def test_escalation_is_immediate_and_de_escalation_waits_for_the_cooldown():
    th = Thresholds(cooldown=timedelta(minutes=10))
    changes = _run(TierMachine(th), [75] + [35] * 20)
    assert changes == [(0, (0, 3)), (10, (3, 1))]


def test_an_incident_resolves_only_after_the_quiet_period():
    th = Thresholds(cooldown=timedelta(minutes=5), quiet=timedelta(minutes=30))
    changes = _run(TierMachine(th), [35] + [5] * 40)
    assert changes == [(0, (0, 1)), (31, (1, 0))]


def test_thresholds_must_increase_and_can_be_raised():
    with pytest.raises(ValueError):
        Thresholds(enter=(50.0, 40.0, 70.0))
    assert Thresholds().raised(15).enter == (45.0, 65.0, 85.0)
    assert Thresholds().raised(60).enter == (90.0, 98.0, 99.0)


def test_thresholds_are_set_per_brand_and_category_from_yaml(tmp_path):
    path = tmp_path / "warn.yaml"
    path.write_text(
        "thresholds: {enter: [25, 45, 65], cooldown_minutes: 5}\n"
        "overrides:\n"
        "  - {brand: 星汇支付, category: outage, enter: [20, 40, 60]}\n"
        "  - {brand: 锐芯电子, enter: [35, 55, 75]}\n"
        "severity: {other: 0.1}\n", encoding="utf-8")
    cfg = WarningConfig.from_yaml(path)
    assert cfg.thresholds_for("星汇支付", "outage").enter == (20.0, 40.0, 60.0)
    assert cfg.thresholds_for("星汇支付", "data_breach").enter == (25.0, 45.0, 65.0)
    assert cfg.thresholds_for("锐芯电子", "outage").enter == (35.0, 55.0, 75.0)
    assert cfg.thresholds_for("锐芯电子", "outage").cooldown == timedelta(minutes=5)
    assert cfg.severity_of("other") == 0.1


@pytest.mark.parametrize("text, fragment", [
    ("thresholds: {enter: [30, 50]}\n", "three points"),
    ("thresholds: {entre: [30, 50, 70]}\n", "unknown key"),
    ("severity: {outage: 3}\n", "severity.outage"),
    ("expectation: prophet\n", "expectation 'prophet'"),
    ("overrides: [{enter: [1, 2, 3]}]\n", "overrides[0]"),
])
def test_a_bad_warning_config_is_a_one_line_user_error_naming_the_file(tmp_path, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as err:
        WarningConfig.from_yaml(path)
    assert str(path) in str(err.value) and fragment in str(err.value)
