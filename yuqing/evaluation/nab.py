"""Numenta Anomaly Benchmark (NAB) scoring, reimplemented from NAB's rules.

NAB scores a detector by its anomaly windows: the earliest detection inside
a window earns a reward that falls along a scaled sigmoid from the window's
first row to its last, a missed window costs ``fnWeight``, and every
detection outside a window costs up to ``fpWeight`` (less just after a
window). One threshold per detector and profile is swept over the pooled
rows of all files, and the raw score is normalised between the null
detector (0) and a perfect one (100).

This module follows ``nab/sweeper.py``, ``nab/optimizer.py`` and
``nab/runner.py`` at numenta/NAB ``ea702d75`` (see
``/work/shared/data/nab/README.md``): detections use ``score >= threshold``
with exact float comparison, each distinct score is a candidate threshold,
and ties in the sweep go to the highest threshold, as in NAB.

>>> scaled_sigmoid(-1.0) > 0.98, scaled_sigmoid(0.5) < 0, scaled_sigmoid(3.5)
(True, True, -1.0)
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from yuqing.errors import UserError

PROBATION_PERCENT = 0.15
PROFILE_NAMES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
_PROBATION = "probationary"


@dataclass(frozen=True)
class Profile:
    """An application profile: the cost weights of NAB's scorer."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


@dataclass
class ScoredFile:
    """One file prepared for scoring: per-row window membership and sweep score.

    ``window[i]`` is ``None`` outside every window, the window's index inside
    one, and ``-1`` in the probationary period (not scored).
    """

    name: str
    window: list[int | None]
    sweep: list[float]
    n_windows: int
    scored_windows: frozenset[int] = frozenset()  # the windows not inside the probation


@dataclass
class FileScore:
    """A file's raw score at one threshold, with NAB's row counts."""

    raw: float
    tp: int = 0
    tn: int = 0
    fp: int = 0
    fn: int = 0
    windows_hit: int = 0
    windows: int = 0
    hit_delays: list[int] = field(default_factory=list)


@dataclass
class CutDependentScores:
    """A file's detections when they are not simply the rows whose score reaches the cut.

    A detector that mutes alerts after an alert (`ResonanceDetector`'s hold-off)
    detects, at a lower cut, rows that mute later ones: one list of scores cannot
    be swept. ``rows_at(cut)`` gives the rows it detects at that cut, ``cuts`` the
    cuts at which they change (its distinct scores), ``length`` the file's rows.
    """

    rows_at: Callable[[float], list[int]]
    cuts: Sequence[float]
    length: int

    def flags(self, cut: float) -> list[float]:
        """1.0 on the rows detected at ``cut``, 0.0 elsewhere."""
        flags = [0.0] * self.length
        for row in self.rows_at(cut):
            flags[row] = 1.0
        return flags


Scores = Sequence[float] | CutDependentScores


def sigmoid(x: float) -> float:
    """The logistic function, computed as NAB does."""
    return 1 / (1 + math.exp(-x))


def scaled_sigmoid(position: float) -> float:
    """NAB's reward curve: ``2 / (1 + e^(5y)) - 1``, and -1 beyond three windows."""
    if position > 3.0:
        return -1.0
    return 2 * sigmoid(-5 * position) - 1.0


def probation_length(n_rows: int, percent: float = PROBATION_PERCENT) -> float:
    """Rows at the start of a file that NAB ignores."""
    return min(math.floor(percent * n_rows), percent * 5000)


def prepare_file(
    name: str,
    timestamps: Sequence[datetime],
    windows: Sequence[tuple[datetime, datetime]],
    profile: Profile,
) -> ScoredFile:
    """Give every row its window and its score if it were flagged (NAB's ``calcSweepScore``)."""
    n = len(timestamps)
    probation = probation_length(n)
    max_tp = scaled_sigmoid(-1.0)
    index = {t: i for i, t in enumerate(timestamps)}
    bounds = []
    for start, end in windows:
        if start not in index or end not in index:
            raise UserError(
                f"{name}: window {start}..{end} does not start and end on timestamps of the "
                "data file; use the labels that belong to this data"
            )
        bounds.append((index[start], index[end]))
    bounds.sort()
    row_window: list[int | None] = [None] * n
    sweep = [0.0] * n
    prev_right: int | None = None
    prev_width = 0
    w = 0
    i = 0
    while i < n:
        if w < len(bounds) and i == bounds[w][0]:
            left, right = bounds[w]
            width = right - left + 1
            for j in range(left, right + 1):
                position = -(right - j + 1) / width
                sweep[j] = scaled_sigmoid(position) * profile.tp_weight / max_tp
                row_window[j] = w if j >= probation else -1
            prev_right, prev_width = right, width
            w += 1
            i = right + 1
            continue
        if prev_right is None:
            unweighted = -1.0
        else:
            unweighted = scaled_sigmoid(abs(prev_right - i) / float(prev_width - 1))
        sweep[i] = unweighted * profile.fp_weight
        row_window[i] = None if i >= probation else -1
        i += 1
    scored_windows = frozenset(x for x in row_window if x is not None and x >= 0)
    return ScoredFile(name, row_window, sweep, len(scored_windows), scored_windows)


def score_file(prepared: ScoredFile, scores: Scores, threshold: float,
               profile: Profile) -> FileScore:
    """Raw NAB score of one file when rows with ``score >= threshold`` are detections."""
    if isinstance(scores, CutDependentScores):
        scores, threshold = scores.flags(threshold), 1.0
    if len(scores) != len(prepared.window):
        raise UserError(
            f"{prepared.name}: {len(scores)} scores for {len(prepared.window)} data rows; "
            "a detector must write one row per input row"
        )
    first_hit: dict[int, int] = {}
    starts: dict[int, int] = {}
    detected: list[int] = []
    result = FileScore(raw=0.0)
    for i, (win, score) in enumerate(zip(prepared.window, scores, strict=True)):
        if win == -1:
            continue
        if win is not None:
            starts.setdefault(win, i)
        flagged = score >= threshold
        if flagged:
            detected.append(i)
        if win is None:
            if flagged:
                result.fp += 1
            else:
                result.tn += 1
        elif flagged:
            result.tp += 1
            first_hit.setdefault(win, i)
        else:
            result.fn += 1
    result.windows = len(starts)
    result.windows_hit = len(first_hit)
    result.hit_delays = [first_hit[w] - starts[w] for w in sorted(first_hit)]
    result.raw = _raw_of_rows(prepared, detected, profile)
    return result


def _raw_of_rows(prepared: ScoredFile, rows: Iterable[int], profile: Profile) -> float:
    """NAB's raw score of a file from its detected rows alone (no pass over the file)."""
    fp_total, best = 0.0, {}
    for row in rows:
        win = prepared.window[row]
        if win is None:
            fp_total += prepared.sweep[row]
        elif win >= 0:
            best[win] = max(best.get(win, -math.inf), prepared.sweep[row])
    return fp_total + sum(max(best.get(w, -math.inf), -profile.fn_weight)
                          for w in sorted(prepared.scored_windows))


def _sweep_cuts(prepared: Sequence[ScoredFile], scores: Sequence[CutDependentScores],
                profile: Profile) -> tuple[float, float]:
    """Best ``(cut, raw score)`` when each cut changes which rows are detected."""
    best = (1.1, sum(_raw_of_rows(p, (), profile) for p in prepared))
    for cut in sorted({c for s in scores for c in s.cuts}, reverse=True):
        raw = sum(_raw_of_rows(p, s.rows_at(cut), profile)
                  for p, s in zip(prepared, scores, strict=True))
        if raw > best[1]:  # ties go to the highest cut, as in NAB
            best = (cut, raw)
    return best


def sweep_threshold(prepared: Iterable[ScoredFile], scores: Iterable[Scores],
                    profile: Profile) -> tuple[float, float]:
    """Best ``(threshold, raw score)`` over the pooled rows of all files (NAB's optimizer)."""
    prepared, scores = list(prepared), list(scores)
    if any(isinstance(s, CutDependentScores) for s in scores):
        if not all(isinstance(s, CutDependentScores) for s in scores):
            raise TypeError("sweep either plain scores or CutDependentScores, not both")
        return _sweep_cuts(prepared, scores, profile)
    rows: list[tuple[float, tuple[int, int] | None, float]] = []
    parts: dict[tuple[int, int] | str, float] = {"fp": 0.0}
    for f, (p, s) in enumerate(zip(prepared, scores, strict=True)):
        for win, score, sweep in zip(p.window, s, p.sweep, strict=True):
            if win == -1:
                continue
            key = None if win is None else (f, win)
            rows.append((score, key, sweep))
            if key is not None:
                parts[key] = -profile.fn_weight
    rows.sort(key=lambda r: r[0], reverse=True)
    threshold = 1.1
    candidates = []
    for score, key, sweep in rows:
        if score != threshold:
            candidates.append((threshold, sum(parts.values())))
            threshold = score
        if key is None:
            parts["fp"] += sweep
        else:
            parts[key] = max(parts[key], sweep)
    candidates.append((threshold, sum(parts.values())))
    # Stable sort: among equal scores the highest threshold wins, as in NAB.
    return sorted(candidates, key=lambda c: c[1], reverse=True)[0]


def normalize(raw: float, n_windows: int, profile: Profile) -> float:
    """``100 * (raw - null) / (perfect - null)``; null flags nothing, perfect catches all."""
    null = -profile.fn_weight * n_windows
    perfect = profile.tp_weight * n_windows
    return 100 * (raw - null) / (perfect - null)


# ---------------------------------------------------------------- reading NAB files


def parse_time(text: str, where: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise UserError(
            f"{where}: timestamp {text!r} is not 'YYYY-MM-DD HH:MM:SS'; fix the row or the file"
        ) from None


def read_columns(path: Path, columns: Sequence[str]) -> dict[str, list[str]]:
    """Read the named columns of a CSV file (by name, never by position)."""
    if not path.is_file():
        raise UserError(f"{path}: no such file; pass the path of an existing CSV file")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in columns if c not in header]
        if missing:
            raise UserError(
                f"{path}: missing column(s) {', '.join(missing)} (header is "
                f"{','.join(header) or 'empty'}); the file needs a header row with "
                f"{','.join(columns)}"
            )
        out: dict[str, list[str]] = {c: [] for c in columns}
        for row in reader:
            for c in columns:
                out[c].append(row[c])
    return out


def read_series(path: Path) -> tuple[list[str], list[float]]:
    """A NAB data file: ``timestamp,value`` rows, in file order."""
    cols = read_columns(path, ("timestamp", "value"))
    values = []
    for line, text in enumerate(cols["value"], start=2):
        try:
            values.append(float(text))
        except ValueError:
            raise UserError(
                f"{path}:{line}: value {text!r} is not a number; fix or remove the row"
            ) from None
    return cols["timestamp"], values


def read_anomaly_scores(path: Path) -> list[float]:
    """The ``anomaly_score`` column of a detector's result file."""
    cols = read_columns(path, ("anomaly_score",))
    return [float(x) for x in cols["anomaly_score"]]


def load_profiles(nab_dir: Path) -> list[Profile]:
    path = nab_dir / "config" / "profiles.json"
    if not path.is_file():
        raise UserError(f"{path}: not found; --nab must point at a NAB folder (config/, data/, labels/)")
    raw = json.loads(path.read_text())
    out = []
    for name in PROFILE_NAMES:
        cost = raw[name]["CostMatrix"]
        out.append(Profile(name, cost["tpWeight"], cost["fpWeight"], cost["fnWeight"]))
    return out


def load_windows(nab_dir: Path) -> dict[str, list[tuple[datetime, datetime]]]:
    """Label windows by data path (e.g. ``realTweets/Twitter_volume_FB.csv``) for data present."""
    path = nab_dir / "labels" / "combined_windows.json"
    if not path.is_file():
        raise UserError(f"{path}: not found; --nab must point at a NAB folder (config/, data/, labels/)")
    raw = json.loads(path.read_text())
    return {
        key: [(parse_time(a, str(path)), parse_time(b, str(path))) for a, b in wins]
        for key, wins in sorted(raw.items())
        if (nab_dir / "data" / key).is_file()
    }


def load_thresholds(nab_dir: Path) -> dict[str, dict[str, float]]:
    """NAB's published corpus-wide thresholds: detector -> profile -> threshold."""
    path = nab_dir / "config" / "thresholds.json"
    if not path.is_file():
        return {}
    raw = json.loads(path.read_text())
    return {d: {p: v["threshold"] for p, v in profs.items()} for d, profs in raw.items()}


def result_path(nab_dir: Path, detector: str, data_key: str) -> Path:
    """NAB's layout: ``results/<det>/<dir>/<det>_<file>``."""
    folder, _, filename = data_key.rpartition("/")
    return nab_dir / "results" / detector / folder / f"{detector}_{filename}"


def published_detectors(nab_dir: Path, data_keys: Sequence[str]) -> list[str]:
    """Detectors whose results cover every data file."""
    root = nab_dir / "results"
    if not root.is_dir():
        return []
    return sorted(
        d.name for d in root.iterdir()
        if d.is_dir() and all(result_path(nab_dir, d.name, k).is_file() for k in data_keys)
    )


# ---------------------------------------------------------------- a corpus, scored


@dataclass
class Evaluation:
    """A detector on a corpus at one threshold (normalised ``score`` is 0 null, 100 perfect)."""

    threshold: float
    raw: float
    score: float
    files: list[FileScore]

    @property
    def windows_hit(self) -> int:
        return sum(f.windows_hit for f in self.files)

    @property
    def fp(self) -> int:
        return sum(f.fp for f in self.files)


class Corpus:
    """The data files of a NAB folder that have label windows, ready to score detectors."""

    def __init__(self, nab_dir: Path):
        self.nab_dir = nab_dir
        self.profiles = load_profiles(nab_dir)
        self.windows = load_windows(nab_dir)
        self.keys = list(self.windows)
        if not self.keys:
            raise UserError(
                f"{nab_dir}: no data file under data/ matches labels/combined_windows.json; "
                "point --nab at a NAB folder"
            )
        self.raw = {k: read_series(nab_dir / "data" / k) for k in self.keys}
        self.times = {
            k: [parse_time(t, str(nab_dir / "data" / k)) for t in self.raw[k][0]] for k in self.keys
        }
        self._prepared = {
            p.name: [prepare_file(k, self.times[k], self.windows[k], p) for k in self.keys]
            for p in self.profiles
        }

    @property
    def n_windows(self) -> int:
        return sum(len(w) for w in self.windows.values())

    def labels(self, key: str) -> list[int]:
        """NAB's ``label`` column: 1 inside a window (ends inclusive), else 0."""
        return [int(any(a <= t <= b for a, b in self.windows[key])) for t in self.times[key]]

    def evaluate(self, scores: Sequence[Scores], profile: Profile,
                 threshold: float | None = None) -> Evaluation:
        """Score per file (in ``keys`` order); sweep the threshold when none is given."""
        prepared = self._prepared[profile.name]
        if threshold is None:
            threshold, _ = sweep_threshold(prepared, scores, profile)
        files = [score_file(p, s, threshold, profile)
                 for p, s in zip(prepared, scores, strict=True)]
        raw = sum(f.raw for f in files)
        n_windows = sum(p.n_windows for p in prepared)
        return Evaluation(threshold, raw, normalize(raw, n_windows, profile), files)

    def leave_one_out(self, scores: Sequence[Scores], profile: Profile) -> float:
        """Normalised score when each file is scored at the threshold swept on the others."""
        prepared = self._prepared[profile.name]
        raw = 0.0
        for i in range(len(prepared)):
            rest = [j for j in range(len(prepared)) if j != i]
            threshold, _ = sweep_threshold([prepared[j] for j in rest],
                                           [scores[j] for j in rest], profile)
            raw += score_file(prepared[i], scores[i], threshold, profile).raw
        return normalize(raw, sum(p.n_windows for p in prepared), profile)


def load_corpus(nab_dir: Path) -> Corpus:
    if not nab_dir.is_dir():
        raise UserError(f"{nab_dir}: no such folder; --nab must point at a NAB folder "
                        "(config/, data/, labels/, results/)")
    return Corpus(nab_dir)


# ---------------------------------------------------------------- categories held out


def category_of(data_key: str) -> str:
    """NAB's category of a data file: the folder under ``data/``."""
    return data_key.split("/", 1)[0]


@dataclass
class CategoryScore:
    """One category at one threshold: normalised score (raw when it has no window)."""

    category: str
    files: int
    windows: int
    threshold: float
    raw: float
    score: float | None  # None: no window, so no normalised score (read ``raw``)


def _subset(prepared: Sequence[ScoredFile], scores: Sequence[Scores], threshold: float,
            profile: Profile) -> tuple[float, int]:
    raw = sum(score_file(p, s, threshold, profile).raw for p, s in zip(prepared, scores, strict=True))
    return raw, sum(p.n_windows for p in prepared)


def leave_one_category_out(corpus: Corpus, scores: Sequence[Scores], profile: Profile,
                           fixed: float | None = None) -> list[CategoryScore]:
    """Each category scored at the threshold swept on all the others (or at ``fixed``).

    The categories of NAB are different kinds of data (server metrics, ad
    prices, traffic, known failures, synthetic signals): a threshold that only
    holds on the category it was swept on does not carry to data nobody tuned
    on. The last row, ``all``, sums the held-out raw scores.
    """
    prepared = corpus._prepared[profile.name]
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(corpus.keys):
        groups.setdefault(category_of(key), []).append(i)
    out, total_raw, total_windows = [], 0.0, 0
    for category, idx in sorted(groups.items()):
        if fixed is None:
            rest = [i for i in range(len(prepared)) if i not in idx]
            threshold, _ = sweep_threshold([prepared[i] for i in rest], [scores[i] for i in rest],
                                           profile)
        else:
            threshold = fixed
        raw, windows = _subset([prepared[i] for i in idx], [scores[i] for i in idx], threshold,
                               profile)
        total_raw += raw
        total_windows += windows
        out.append(CategoryScore(category, len(idx), windows, threshold, raw,
                                 normalize(raw, windows, profile) if windows else None))
    out.append(CategoryScore("all", len(prepared), total_windows, math.nan, total_raw,
                             normalize(total_raw, total_windows, profile)))
    return out


def published_by_category(per_file_json: Path, keys: Sequence[str], detector: str,
                          profile: str) -> dict[str, tuple[float | None, float]]:
    """A published detector at NAB's own threshold, per category: (normalised or None, raw).

    From ``published_per_file.json`` of the NAB corpus folder.
    """
    try:
        data = json.loads(Path(per_file_json).read_text(encoding="utf-8"))
        files = data["detectors"][detector][profile]["files"]
        info = data["file_info"]
    except (OSError, KeyError, json.JSONDecodeError) as err:
        raise UserError(f"{per_file_json}: cannot read published per-file scores ({err}); "
                        "point --corpus at ../shared/data/nab_corpus") from None
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(category_of(key), []).append(key)
    groups["all"] = list(keys)
    out: dict[str, tuple[float | None, float]] = {}
    for category, members in groups.items():
        raw = sum(files[k]["raw"] for k in members)
        null = sum(info[k]["null"][profile] for k in members)
        perfect = sum(info[k]["perfect"][profile] for k in members)
        out[category] = (100 * (raw - null) / (perfect - null) if perfect != null else None, raw)
    return out
