"""`yuqing detect`: run an anomaly detector on a series, or score it on NAB.

    yuqing detect --series FILE.csv --out FILE.csv [--detector resonance|burst]
    yuqing detect eval --nab DIR [--out-dir DIR] [--corpus DIR] [--detector ...]

The first reads a NAB-format series (``timestamp,value``) and writes
``timestamp,value,anomaly_score,label``, one row per input row, scoring rows in
order; ``label`` is 1 where the detector alerts (its score reaches the
detector's own cut, fixed in advance). The default detector is
`ResonanceDetector`, which is told the series' minimum, maximum and length up
front, as NAB tells every detector, and holds further alerts off for
``--hold-off`` steps after an alert (0: ARTime's own outputs); `BurstDetector` (``--detector burst``) reads
nothing ahead. The second runs the detector on every NAB series in DIR, scores
it with NAB's rules (``yuqing.evaluation.nab``) next to the published
detectors' outputs shipped in DIR, and prints one table per profile. With
``--corpus`` (the 48 other NAB series, ``../shared/data/nab_corpus``) it also
holds out one category at a time: ours at the threshold swept on the other
categories, and at its own fixed cut, beside ARTime, numenta and contextOSE at
NAB's published thresholds.
"""

from __future__ import annotations

import argparse
import csv
import functools
import math
import sys
from pathlib import Path

from yuqing.errors import UserError
from yuqing.evaluation import nab
from yuqing.warning.burst import BurstDetector, CountScale
from yuqing.warning.resonance import (
    HOLD_OFF_STEPS,
    ResonanceDetector,
    downsampling_step,
    held_off_rows,
)

OURS = "yuqing"
DETECTOR_TYPES = {"resonance": ResonanceDetector, "burst": BurstDetector}
DETECTORS = tuple(DETECTOR_TYPES)


HOLD_OFF_HELP = (f"resonance only: after an alert, mute alerts for this many downsampled steps "
                 f"(default {HOLD_OFF_STEPS}, chosen on the NAB corpus); 0 gives ARTime's own outputs")


def _steps(text: str) -> int:
    try:
        steps = int(text)
    except ValueError:
        steps = -1
    if steps < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of steps >= 0")
    return steps


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "detect",
        help="anomaly detector: score a series, or evaluate it on NAB",
        description="Score a NAB-format series (yuqing detect --series IN.csv --out OUT.csv), "
        "or evaluate the detector with NAB's scoring rules (yuqing detect eval --nab DIR). "
        "The default detector, resonance, learns the shapes of recent windows and alerts on "
        "a shape it has never seen (it reads the series' min, max and length first, as NAB "
        "allows every detector); burst watches counts rise against their daily profile.",
    )
    detector_help = "resonance (default: any series) or burst (counts against their daily profile)"
    parser.add_argument("--detector", choices=DETECTORS, default="resonance", help=detector_help)
    parser.add_argument("--hold-off", type=_steps, default=HOLD_OFF_STEPS, metavar="STEPS",
                        help=HOLD_OFF_HELP)
    parser.add_argument("--series", type=Path, help="input CSV with columns timestamp,value")
    parser.add_argument("--out", type=Path,
                        help="output CSV: timestamp,value,anomaly_score,label (1 = the detector alerts)")
    parser.set_defaults(func=run_series)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    ev = actions.add_parser(
        "eval",
        help="score the detector with NAB's rules beside the published detectors",
        description="Run the detector on every series of a NAB folder (data/, labels/, config/, "
        "results/) and print NAB scores for the three profiles, ours beside each published "
        "detector, all scored by the same code.",
    )
    ev.add_argument("--nab", type=Path, required=True, help="NAB folder (e.g. ../shared/data/nab)")
    ev.add_argument("--out-dir", type=Path,
                    help="also write our outputs in NAB's results layout under this folder")
    ev.add_argument("--corpus", type=Path,
                    help="also score the NAB corpus in this folder leaving one category out "
                    "(e.g. ../shared/data/nab_corpus, with published_per_file.json)")
    ev.add_argument("--detector", choices=DETECTORS, default="resonance", help=detector_help)
    ev.add_argument("--hold-off", type=_steps, default=HOLD_OFF_STEPS, metavar="STEPS",
                    help=HOLD_OFF_HELP)
    ev.set_defaults(func=run_eval)


def detect_series(timestamps: list[str], values: list[float], where: str,
                  detector: str = "resonance", hold_off: int = HOLD_OFF_STEPS) -> list[float]:
    """Scores for a series, one per row, in order.

    ``resonance`` is given the series' minimum, maximum and length first.
    ``burst`` reads counts as they are and any other series (negative or
    fractional values) through `CountScale`, fixed by its first 100 rows.
    """
    times = []
    for line, (text, value) in enumerate(zip(timestamps, values, strict=True), start=2):
        if not math.isfinite(value):
            raise UserError(f"{where}:{line}: value {value} is not a number; fix the row")
        times.append(nab.parse_time(text, f"{where}:{line}"))  # a bad row fails either way
    if detector == "resonance":
        if not values:
            return []
        resonance = ResonanceDetector(min(values), max(values), len(values), hold_off)
        return [resonance.update(value) for value in values]
    counts = all(v >= 0 and float(v).is_integer() for v in values)
    burst = BurstDetector() if counts else CountScale()
    return [burst.update(t, value) for t, value in zip(times, values, strict=True)]


def sweepable_series(timestamps: list[str], values: list[float], where: str,
                     detector: str = "resonance", hold_off: int = HOLD_OFF_STEPS) -> nab.Scores:
    """What NAB's sweep needs of a series: its scores, or, for a resonance detector that
    holds alerts off, the rows it detects at each cut (which rows are muted depends on
    the cut). At the detector's own cut both give `detect_series`'s detections."""
    if detector != "resonance" or hold_off == 0 or not values:
        return detect_series(timestamps, values, where, detector, hold_off)
    scores = detect_series(timestamps, values, where, detector, hold_off=0)
    novelties = [(row, score) for row, score in enumerate(scores) if score > 0]
    step = downsampling_step(len(values))
    return nab.CutDependentScores(functools.partial(held_off_rows, novelties, step, hold_off),
                                  sorted({score for _, score in novelties}), len(values))


def write_csv(path: Path, header: list[str], rows) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")  # as NAB's files
            writer.writerow(header)
            writer.writerows(rows)
    except OSError as err:
        raise UserError(f"{path}: cannot write ({err.strerror}); choose a writable path") from None


def run_series(args: argparse.Namespace) -> int:
    if args.series is None or args.out is None:
        raise UserError("give both --series IN.csv and --out OUT.csv, or use `yuqing detect eval --nab DIR`")
    timestamps, values = nab.read_series(args.series)
    scores = detect_series(timestamps, values, str(args.series), args.detector, args.hold_off)
    with args.series.open(newline="", encoding="utf-8") as handle:
        raw_values = [row["value"] for row in csv.DictReader(handle)]
    detector = DETECTOR_TYPES[args.detector]  # the cut and the rule belong to the detector
    cut = detector.cut
    labels = [int(detector.alerts(s)) for s in scores]
    write_csv(args.out, ["timestamp", "value", "anomaly_score", "label"],
              ([t, v, repr(s), lab] for t, v, s, lab
               in zip(timestamps, raw_values, scores, labels, strict=True)))
    print(f"wrote {len(scores)} rows to {args.out}; the {args.detector} detector alerts on "
          f"{sum(labels)} (score >= its cut {cut})", file=sys.stderr)
    return 0


def run_eval(args: argparse.Namespace) -> int:
    corpus = nab.load_corpus(args.nab)
    scores: dict[str, dict[str, nab.Scores]] = {OURS: {}}
    for key in corpus.keys:
        timestamps, values = corpus.raw[key]
        where = str(args.nab / "data" / key)
        scores[OURS][key] = sweepable_series(timestamps, values, where, args.detector, args.hold_off)
        if args.out_dir:
            path = nab.result_path(args.out_dir, OURS, key)
            labels = corpus.labels(key)
            ours = detect_series(timestamps, values, where, args.detector, args.hold_off)
            write_csv(path, ["timestamp", "value", "anomaly_score", "label"],
                      ([t, v, repr(s), lab] for t, v, s, lab
                       in zip(timestamps, values, ours, labels, strict=True)))
    for det in nab.published_detectors(args.nab, corpus.keys):
        scores[det] = {k: nab.read_anomaly_scores(nab.result_path(args.nab, det, k))
                       for k in corpus.keys}
    thresholds = nab.load_thresholds(args.nab)
    print(f"NAB scores on {len(corpus.keys)} series, {corpus.n_windows} windows "
          f"(0 = null detector, 100 = perfect); {OURS} = the {args.detector} detector, "
          f"its cut {DETECTOR_TYPES[args.detector].cut}"
          + (f", alerts held off for {args.hold_off} steps." if args.detector == "resonance" else "."))
    print("  fixed:   ours at our own cut, fixed in advance; the others at NAB's published")
    print("           corpus-wide threshold (swept on all 58 files, these included);")
    print("  swept:   threshold swept on these series (optimistic, as NAB does);")
    print("  loso:    threshold swept on the other series, applied to each held-out one.\n")
    for profile in corpus.profiles:
        rows = []
        for det, by_key in scores.items():
            series = [by_key[k] for k in corpus.keys]
            swept = corpus.evaluate(series, profile)
            fixed = DETECTOR_TYPES[args.detector].cut if det == OURS else thresholds.get(det, {}).get(profile.name)
            at_nab = corpus.evaluate(series, profile, fixed) if fixed is not None else None
            loso = corpus.leave_one_out(series, profile)
            rows.append((det, at_nab, swept, loso))
        rows.sort(key=lambda r: r[2].score, reverse=True)
        print(f"profile {profile.name} (tp {profile.tp_weight}, fp {profile.fp_weight}, "
              f"fn {profile.fn_weight})")
        print(f"  {'detector':<18}{'fixed':>9}{'swept':>9}{'loso':>9}{'threshold':>11}"
              f"{'windows hit':>13}{'FP rows':>9}")
        for det, at_nab, swept, loso in rows:
            nab_txt = f"{at_nab.score:9.2f}" if at_nab else f"{'-':>9}"
            print(f"  {det:<18}{nab_txt}{swept.score:9.2f}{loso:9.2f}{swept.threshold:11.4f}"
                  f"{swept.windows_hit:>8}/{corpus.n_windows:<4}{swept.fp:>9}")
        print()
    if args.corpus:
        print_category_holdout(args.corpus, args.detector, hold_off=args.hold_off)
    return 0


COMPARED = ("ARTime", "numenta", "contextOSE")


def print_category_holdout(corpus_dir: Path, detector: str = "resonance",
                           profile_name: str = "standard", hold_off: int = HOLD_OFF_STEPS) -> None:
    """The corpus, one category held out at a time, ours beside the leading detectors."""
    corpus = nab.load_corpus(corpus_dir)
    profile = next(p for p in corpus.profiles if p.name == profile_name)
    series = [sweepable_series(*corpus.raw[k], str(corpus_dir / "data" / k), detector, hold_off)
              for k in corpus.keys]
    held_out = nab.leave_one_category_out(corpus, series, profile)
    fixed = {c.category: c for c in nab.leave_one_category_out(corpus, series, profile,
                                                                 DETECTOR_TYPES[detector].cut)}
    published = {d: nab.published_by_category(corpus_dir / "published_per_file.json",
                                              corpus.keys, d, profile_name) for d in COMPARED}

    def cell(value: float | None, raw: float, width: int = 9) -> str:
        text = f"{value:.2f}" if value is not None else f"raw {raw:.2f}"
        return f"{text:>{width}}"

    print(f"NAB corpus, {len(corpus.keys)} series, one category held out at a time "
          f"(profile {profile_name}):")
    print(f"  held-out: our threshold swept on the other categories; fixed: the {detector} "
          f"detector's cut {DETECTOR_TYPES[detector].cut}; published detectors at NAB's own thresholds.")
    print(f"  {'category':<24}{'files':>6}{'windows':>8}{'held-out':>10}{'fixed':>10}"
          + "".join(f"{d:>11}" for d in COMPARED))
    for row in held_out:
        f = fixed[row.category]
        pub = "".join(cell(*published[d][row.category], width=11) for d in COMPARED)
        print(f"  {row.category:<24}{row.files:>6}{row.windows:>8}{cell(row.score, row.raw, 10)}"
              f"{cell(f.score, f.raw, 10)}{pub}")
    print()

