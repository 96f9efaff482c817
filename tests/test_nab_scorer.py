"""The NAB scorer follows NAB's rules and reproduces NAB's published scores."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from yuqing.cli import main
from yuqing.errors import UserError
from yuqing.evaluation import nab
from yuqing.warning.burst import BurstDetector

NAB_DIR = Path(__file__).parents[2] / "shared/data/nab"
needs_nab = pytest.mark.skipif(
    not (NAB_DIR / "published_scores_5_series.json").is_file(),
    reason=f"NAB subset not found at {NAB_DIR} (the shared data folder is absent)",
)
STANDARD = nab.Profile("standard", 1.0, 0.11, 1.0)


def toy(n: int = 1000):
    """1000 rows, one window of 100 rows at 800..899 (probation is the first 150)."""
    times = [datetime(2015, 1, 1) + timedelta(minutes=5 * i) for i in range(n)]
    return times, nab.prepare_file("toy", times, [(times[800], times[899])], STANDARD)


def test_a_detection_on_the_first_window_row_earns_the_full_reward():
    _, prepared = toy()
    scores = [0.0] * 1000
    scores[800] = 1.0
    assert nab.score_file(prepared, scores, 0.5, STANDARD).raw == pytest.approx(1.0)


def test_only_the_earliest_detection_in_a_window_counts():
    _, prepared = toy()
    scores = [0.0] * 1000
    scores[850] = scores[890] = 1.0
    result = nab.score_file(prepared, scores, 0.5, STANDARD)
    assert result.raw == pytest.approx(prepared.sweep[850])
    assert 0.8 < result.raw < 0.9 and result.tp == 2


def test_a_missed_window_costs_the_fn_weight_and_probation_is_free():
    _, prepared = toy()
    scores = [0.0] * 1000
    scores[10] = 1.0  # in the probationary period
    assert nab.score_file(prepared, scores, 0.5, STANDARD).raw == -1.0


def test_false_positives_cost_less_just_after_a_window():
    _, prepared = toy()
    assert prepared.sweep[300] == pytest.approx(-0.11)
    assert -0.11 < prepared.sweep[901] < -0.0
    assert prepared.sweep[999] < prepared.sweep[901]


def test_the_sweep_picks_the_best_threshold():
    _, prepared = toy()
    scores = [0.1] * 1000
    scores[800] = 0.9
    scores[300] = 0.95  # one FP above the window's score is worth taking
    threshold, raw = nab.sweep_threshold([prepared], [scores], STANDARD)
    assert threshold == 0.9 and raw == pytest.approx(1.0 - 0.11)


def _as_cut_dependent(scores: list[float]) -> nab.CutDependentScores:
    """Plain scores in the cut-dependent form: the rows at or above the cut."""
    pairs = [(row, x) for row, x in enumerate(scores) if x > 0]
    return nab.CutDependentScores(lambda cut: [row for row, x in pairs if x >= cut],
                                  sorted({x for _, x in pairs}), len(scores))


def test_cut_dependent_scores_sweep_and_score_as_plain_scores_do():
    _, prepared = toy()
    scores = [0.0] * 1000
    scores[800], scores[300], scores[850], scores[500] = 0.9, 0.95, 0.97, 0.4
    plain = nab.sweep_threshold([prepared], [scores], STANDARD)
    assert nab.sweep_threshold([prepared], [_as_cut_dependent(scores)], STANDARD) == plain
    for cut in (0.3, 0.9, 0.96, 1.0):
        assert (nab.score_file(prepared, _as_cut_dependent(scores), cut, STANDARD)
                == nab.score_file(prepared, scores, cut, STANDARD))


def test_a_cut_that_mutes_later_rows_is_swept_by_its_own_detections():
    """At cut 0.3 the FP at 300 would mute the window's row 350 rows later; at 0.9 it does not."""
    _, prepared = toy()
    pairs = [(300, 0.4), (800, 0.9)]

    def rows_at(cut: float) -> list[int]:
        rows = [row for row, x in pairs if x >= cut]
        return rows[:1] if cut <= 0.4 else rows  # the first alert holds off the rest
    held = nab.CutDependentScores(rows_at, [0.4, 0.9], 1000)
    assert nab.sweep_threshold([prepared], [held], STANDARD) == (0.9, pytest.approx(1.0))
    assert nab.score_file(prepared, held, 0.4, STANDARD).raw == pytest.approx(-1.11)


def test_normalisation_puts_null_at_0_and_perfect_at_100():
    assert nab.normalize(-16, 16, STANDARD) == 0
    assert nab.normalize(16, 16, STANDARD) == 100


@needs_nab
def test_published_per_file_scores_are_reproduced():
    published = json.loads((NAB_DIR / "published_scores_5_series.json").read_text())
    corpus = nab.load_corpus(NAB_DIR)
    for det, profiles in published["detectors"].items():
        series = [nab.read_anomaly_scores(nab.result_path(NAB_DIR, det, k)) for k in corpus.keys]
        for profile in corpus.profiles:
            ref = profiles[profile.name]
            got = corpus.evaluate(series, profile, ref["threshold"])
            for key, result in zip(corpus.keys, got.files, strict=True):
                want = ref["files"][key]
                assert result.raw == pytest.approx(want["raw"], abs=1e-6), (det, profile, key)
                assert (result.tp, result.tn, result.fp, result.fn) == (
                    want["TP"], want["TN"], want["FP"], want["FN"]), (det, profile, key)
            assert got.score == pytest.approx(ref["subset_normalized"], abs=1e-3)


@needs_nab
def test_the_cut_dependent_sweep_agrees_with_nabs_on_published_outputs():
    """The sparse sweep for cut-dependent detections gives NAB's optimizer's answer."""
    corpus = nab.load_corpus(NAB_DIR)
    for det, profiles in (("ARTime", corpus.profiles), ("contextOSE", corpus.profiles[:1])):
        series = [nab.read_anomaly_scores(nab.result_path(NAB_DIR, det, k)) for k in corpus.keys]
        as_cut = [_as_cut_dependent(s) for s in series]
        for profile in profiles:
            plain = corpus.evaluate(series, profile)
            held = corpus.evaluate(as_cut, profile)
            assert (held.threshold, held.raw) == (plain.threshold, pytest.approx(plain.raw)), det
        assert corpus.leave_one_out(as_cut, profiles[0]) == pytest.approx(
            corpus.leave_one_out(series, profiles[0]))


@needs_nab
def test_detect_series_with_the_burst_detector_writes_one_scored_row_per_input_row(tmp_path):
    src = NAB_DIR / "data/realTweets/Twitter_volume_FB.csv"
    out = tmp_path / "fb.csv"
    assert main(["detect", "--series", str(src), "--out", str(out), "--detector", "burst"]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "timestamp,value,anomaly_score,label"
    assert len(lines) == len(src.read_text().splitlines())
    rows = [line.split(",") for line in lines[1:]]
    assert all(0.0 <= float(r[2]) < 1.0 for r in rows)
    assert all(r[3] == str(int(BurstDetector().alerts(float(r[2])))) for r in rows)
    assert 0 < sum(int(r[3]) for r in rows) < len(rows) / 100  # a few alerts, not noise


@needs_nab
def test_detect_eval_prints_all_profiles_with_the_published_detectors(capsys):
    assert main(["detect", "eval", "--nab", str(NAB_DIR)]) == 0
    out = capsys.readouterr().out
    for word in ("standard", "reward_low_FP_rate", "reward_low_FN_rate", "yuqing", "ARTime",
                 "contextOSE", "numenta", "twitterADVec", "windowedGaussian", "null"):
        assert word in out


def test_a_series_without_a_value_column_is_a_one_line_user_error(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("time,count\n2015-01-01 00:00:00,3\n")
    assert main(["detect", "--series", str(bad), "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert "missing column(s) timestamp, value" in err and "\n" not in err


def test_a_missing_series_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        nab.read_series(tmp_path / "nope.csv")


def test_detect_without_arguments_explains_both_forms(capsys):
    assert main(["detect"]) == 2
    assert "--series" in capsys.readouterr().err


def _toy_corpus(folder: Path) -> nab.Corpus:
    """Two categories, one file each, one 100-row window at rows 800..899 in each."""
    times = [datetime(2015, 1, 1) + timedelta(minutes=5 * i) for i in range(1000)]
    windows = {}
    for category in ("catA", "catB"):
        path = folder / "data" / category / f"{category}.csv"
        path.parent.mkdir(parents=True)
        path.write_text("timestamp,value\n" + "".join(f"{t:%Y-%m-%d %H:%M:%S},1\n" for t in times))
        windows[f"{category}/{category}.csv"] = [[f"{times[800]:%Y-%m-%d %H:%M:%S}.000000",
                                                  f"{times[899]:%Y-%m-%d %H:%M:%S}.000000"]]
    (folder / "labels").mkdir()
    (folder / "labels" / "combined_windows.json").write_text(json.dumps(windows))
    (folder / "config").mkdir()
    (folder / "config" / "profiles.json").write_text(json.dumps({name: {"CostMatrix": {
        "tpWeight": 1.0, "fpWeight": fp, "fnWeight": fn, "tnWeight": 1.0}} for name, fp, fn in (
        ("standard", 0.11, 1.0), ("reward_low_FP_rate", 0.22, 1.0), ("reward_low_FN_rate", 0.11, 2.0))}))
    return nab.load_corpus(folder)


def test_each_category_is_scored_at_the_threshold_swept_on_the_others(tmp_path):
    corpus = _toy_corpus(tmp_path)
    profile = next(p for p in corpus.profiles if p.name == "standard")
    a = [0.0] * 1000
    a[800] = 0.9  # catA's window caught at 0.9
    b = [0.0] * 1000
    b[805] = 0.5  # catB's window only reachable at 0.5 ...
    b[300] = 0.6  # ... and a false positive above it
    rows = {r.category: r for r in nab.leave_one_category_out(corpus, [a, b], profile)}
    assert rows["catA"].threshold == 0.5  # swept on catB alone
    assert rows["catB"].threshold == 0.9  # swept on catA: catB's window is missed
    assert rows["catB"].score == 0.0 and rows["catA"].score > 90
    fixed = {r.category: r for r in nab.leave_one_category_out(corpus, [a, b], profile, 0.55)}
    assert fixed["catB"].raw < 0 and fixed["all"].windows == 2


@pytest.mark.slow
@pytest.mark.skipif(not (NAB_DIR.parent / "nab_corpus" / "published_per_file.json").is_file(),
                    reason="the NAB corpus folder is absent")
def test_detect_eval_holds_out_each_corpus_category_beside_the_leading_detectors(capsys):
    assert main(["detect", "eval", "--nab", str(NAB_DIR), "--corpus",
                 str(NAB_DIR.parent / "nab_corpus")]) == 0
    out = capsys.readouterr().out.split("one category held out at a time")[1]
    for word in ("realAWSCloudwatch", "realTraffic", "artificialNoAnomaly", "all", "ARTime",
                 "numenta", "contextOSE", "72.08"):  # ARTime on all 48 at its own threshold
        assert word in out
