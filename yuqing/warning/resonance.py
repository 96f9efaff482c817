"""A window-shape novelty detector by adaptive resonance, for series of any kind.

`BurstDetector` watches counts rise against their daily profile. Most of
NAB's anomalies are something else (drops, level shifts, a pattern gone
flat), and a detector that carries across them needs a model of the
sequence. This one follows the method of Mark Hampton's ARTime (described in
its public code; this is an independent implementation): the series is
downsampled, put on a coarse level grid, and each window of recent levels
becomes a feature vector (its min–max scaled Haar transform beside the raw
levels). A dual-vigilance fuzzy ART network learns categories of those
windows; a window that resonates with no category after the probationary
period is the anomaly, scored by how far it falls below the vigilances.
The vigilances follow the series' own typical match, so one cut carries
across series. One rule is ours, not ARTime's: an alert within `HOLD_OFF_STEPS`
of the last one is muted, since on NAB such repeats are mostly false
(``hold_off=0`` gives ARTime's outputs).

Like every NAB detector it is told the series' minimum, maximum and length
up front (NAB hands them to all detectors): they fix the level grid and the
probationary period. It is otherwise strictly online, one row at a time.

>>> import math
>>> values = [10 + 5 * math.sin(2 * math.pi * i / 36) for i in range(2000)]  # a daily cycle
>>> values[1500:1510] = [40.0] * 10
>>> d = ResonanceDetector(min(values), max(values), len(values))
>>> scores = [d.update(v) for v in values]
>>> [(i, score) for i, score in enumerate(scores) if score > 0]
[(1501, 1.0)]
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

import numpy as np

# Fixed choices of the method (not tuned here): window of 8 levels, 80 levels,
# about 13 windows per probationary period, starting vigilance 0.8.
WINDOW = 8
LEVELS = 80
WINDOWS_PER_PROBATION = 13
SNAP_TO_MEDIAN = 0.075
START_VIGILANCE = 0.8
MAX_UPPER_VIGILANCE = 0.97
# Our one addition to the method: after an alert, mute further alerts for this many
# downsampled steps. Chosen on the 48 NAB corpus series (one category held out at a
# time, every fold chose 28 or 34), then checked on the dev tweets (docs/resonance.md).
HOLD_OFF_STEPS = 28


def probation_rows(length: int) -> int:
    """NAB's probationary period (15 % of the rows, at most 750), made even."""
    rows = math.floor(0.15 * length) if length < 5000 else 750
    return rows - rows % 2


def downsampling_step(length: int) -> int:
    """Rows per downsampled step: about 13 windows of 8 steps fill the probationary period."""
    return max(1, probation_rows(length) // (WINDOW * WINDOWS_PER_PROBATION))


def held_off_rows(novelties: Iterable[tuple[int, float]], step: int, hold_off: int,
                  cut: float) -> list[int]:
    """The rows that alert at ``cut`` once alerts within ``hold_off`` steps of the last
    one let through are muted: what `ResonanceDetector` does online at its own cut.

    ``novelties`` are the ``(row, score)`` pairs, in row order, where a detector with
    ``hold_off=0`` scored above 0. Evaluations sweep the cut with this, since which
    rows are muted depends on which earlier rows reached the cut."""
    rows: list[int] = []
    for row, score in novelties:
        if score >= cut and not (rows and row - rows[-1] <= hold_off * step):
            rows.append(row)
    return rows


def haar(values: np.ndarray) -> np.ndarray:
    """Full orthonormal Haar transform of a power-of-two vector.

    Order: the overall average, then details from the coarsest level to the
    finest, each detail being (second half − first half) / √2 (the sign ARTime
    used: the other sign changes the shapes it learns, and half of NAB's scores).
    """
    out = []
    approx = values.astype(float)
    while len(approx) > 1:
        pairs = approx.reshape(-1, 2)
        out.append((pairs[:, 1] - pairs[:, 0]) / math.sqrt(2.0))
        approx = (pairs[:, 0] + pairs[:, 1]) / math.sqrt(2.0)
    out.append(approx)
    return np.concatenate(out[::-1])


def _unit_range(values: np.ndarray) -> np.ndarray:
    shifted = values - values.min()
    top = shifted.max()
    return shifted / top if top != 0 else shifted


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity; against a zero vector, one minus the other's norm."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0:
        return 1.0 - nb
    if nb == 0.0:
        return 1.0 - na
    return float(a @ b) / (na * nb)


class DualVigilanceART:
    """Fuzzy ART with a lower and an upper vigilance over complement-coded inputs.

    A category whose match reaches the upper vigilance learns the input (fast
    commit: its weights become their minimum with the input); a best match
    between the two vigilances adds the input as a new category of the same
    cluster; below the lower one the input starts a new cluster, which is
    the novelty the detector reports. The match of a category weighs how much
    of its weight the input covers (cubed) by how well the newest value's
    level matches (squared): the "energy" term.
    """

    def __init__(self, dim: int):
        self.dim = dim
        self.weights = np.ones((1, 2 * dim))  # the first category starts uncommitted
        self.lower = 0.0
        self.upper = 0.0
        self.started = False

    def set_vigilance(self, lower: float, upper: float) -> None:
        self.lower, self.upper = float(lower), float(upper)

    def train(self, features: np.ndarray, learn: bool = True) -> tuple[bool, float, float]:
        """Present one input: (is it a new cluster, best match, its energy match)."""
        if not self.started:
            self.started = True  # the first input only opens the network
            return False, 0.0, 0.0
        x = np.concatenate([features, 1.0 - features])
        covered = np.minimum(self.weights, x)
        size = np.abs(self.weights).sum(axis=1)
        size[size == 0] = 0.001
        feature_match = np.abs(covered).sum(axis=1) / size
        last, comp = self.dim - 1, 2 * self.dim - 1
        with np.errstate(invalid="ignore", divide="ignore"):
            energy = (np.abs(covered[:, last]) + np.abs(covered[:, comp])) / (
                np.abs(self.weights[:, last]) + np.abs(self.weights[:, comp]))
        match = feature_match ** 3 * energy ** 2
        undefined = np.isnan(match)
        if not learn:  # every category is looked at: report the best defined match
            if undefined.all():
                return False, 0.0, 0.0
            best = int(np.nanargmax(match))
            return False, *self._reported(match, energy, best)
        if undefined.any():  # an undefined match sorts first and refuses the input
            self.weights = np.vstack([self.weights, x])
            return True, 0.0, 0.0
        order = np.argsort(-match, kind="stable")
        best = int(order[0])
        reported = self._reported(match, energy, best)
        if match[best] >= self.upper:  # resonance: every category above the vigilance learns
            resonant = order[match[order] >= self.upper]
            self.weights[resonant] = covered[resonant]
            return False, *reported
        self.weights = np.vstack([self.weights, x])
        # close enough: a new category of a known cluster; else a new cluster
        return bool(match[best] < self.lower), *reported

    @staticmethod
    def _reported(match: np.ndarray, energy: np.ndarray, best: int) -> tuple[float, float]:
        if match[best] > 0:
            return float(match[best]), float(energy[best])
        return 0.0, 0.0


class ResonanceDetector:
    """Anomaly score per row in [0, 1]; 0 except where a window is novel.

    ``lo``, ``hi`` and ``length`` are the series' minimum, maximum and row
    count (what NAB gives every detector). `cut` is the score from which
    `yuqing detect` labels a row, fixed on the NAB corpus. ``hold_off`` mutes
    an alert (scores it 0) when the last alert that was not muted came at most
    that many downsampled steps before: ARTime re-alerts inside its mask when a
    match falls far below the last anomaly's, and on NAB those repeats are
    mostly false. ``hold_off=0`` gives ARTime's own outputs.
    """

    cut = 0.316  # fixed on the 48 NAB corpus series (the sweep's best lies in 0.3145-0.3175)

    def __init__(self, lo: float, hi: float, length: int, hold_off: int = HOLD_OFF_STEPS):
        if hold_off < 0:
            raise ValueError(f"hold_off must be >= 0 steps, not {hold_off}")
        self.hold_off = hold_off
        self.last_alert: int | None = None  # downsampled step of the last alert let through
        self.lo, self.hi = float(lo), float(hi)
        self.probation = probation_rows(length)
        self.step = downsampling_step(length)
        self.trend = max(2 * WINDOW, self.probation // self.step)
        self.mask = int(WINDOW * 1.5)
        self.row = 1
        self.index = 1  # downsampled step, from 1
        self.raw: deque[float] = deque([0.0] * self.step, maxlen=self.step)
        self.average = 0.0
        self.bins = [0] * (LEVELS + 1)
        self.median_level = 0
        self.below = 0
        self.above = 0
        self.levels: deque[float] = deque([0.0] * WINDOW, maxlen=WINDOW)
        self.warmup: list[np.ndarray] = []
        self.art = DualVigilanceART(2 * WINDOW)
        # novelty bookkeeping
        self.last_anomaly = 0
        self.last_anomaly_match = 0.0
        self.last_vigilance_update = 0
        self.quiet_after_new = False
        self.since_new = 0
        self.anomaly_matches: list[float] = []
        self.match_sum = 0.0
        self.match_count = 0
        self.recent_match: deque[float] = deque([1.0] * (self.trend // 2 + 1),
                                                maxlen=self.trend // 2 + 1)
        self.recent_gap: deque[float] = deque([0.0] * (self.trend + 1), maxlen=self.trend + 1)

    @classmethod
    def alerts(cls, score: float) -> bool:
        """Whether a score is an alert: it reaches the detector's own cut."""
        return score >= cls.cut

    # ---------------------------------------------------------------- features

    def _downsample(self) -> float:
        values = self.raw
        mean = sum(values) / len(values)
        top, bottom = max(values), min(values)
        if self.index == 1:
            self.average = mean
        self.average = (self.average + mean) / 2
        value = bottom if abs(top - self.average) < abs(bottom - self.average) else top
        if abs(value - mean) < 0.1 * mean:  # a spike must stand 10 % off the mean
            value = mean
        return value

    def _level(self, value: float) -> float:
        scaled = value - self.lo
        if self.hi != self.lo:
            scaled /= self.hi - self.lo
        level = min(LEVELS, max(0, round(scaled * LEVELS)))
        self._track_median(level)
        snapped = level / LEVELS
        median = self.median_level / LEVELS
        return median if abs(snapped - median) < SNAP_TO_MEDIAN else snapped

    def _track_median(self, level: int) -> None:
        """An approximate running median of the levels, from their histogram."""
        self.bins[level] += 1
        half = self.index // 2
        if self.index == 1:
            self.median_level = level
        if self.median_level > level:
            self.below += 1
        elif self.median_level < level:
            self.above += 1
        if half < self.above:
            self.below += self.bins[self.median_level]
            self.median_level += 1
            while self.bins[self.median_level] == 0:
                self.median_level += 1
            self.above -= self.bins[self.median_level]
        elif half < self.below:
            self.above += self.bins[self.median_level]
            self.median_level -= 1
            while self.bins[self.median_level] == 0:
                self.median_level -= 1
            self.below -= self.bins[self.median_level]

    def _features(self, level: float) -> np.ndarray:
        self.levels.append(level)
        if self.index < WINDOW:
            return np.zeros(2 * WINDOW)
        window = np.fromiter(self.levels, float, WINDOW)
        shape = _unit_range(haar(_unit_range(window)))
        return np.concatenate([shape, window])

    # ---------------------------------------------------------------- scoring

    def update(self, value: float) -> float:
        """Score one row (then learn from it)."""
        self.raw.append(float(value))
        score = 0.0
        if self.row % self.step == 0:
            features = self._features(self._level(self._downsample()))
            score = self._held_off(self._present(features))
            self.index += 1
        self.row += 1
        return score

    def _held_off(self, score: float) -> float:
        """The score, or 0 for an alert within `hold_off` steps of the last one let through."""
        if score < self.cut:
            return score
        if self.last_alert is not None and self.index - self.last_alert <= self.hold_off:
            return 0.0
        self.last_alert = self.index
        return score

    def _present(self, features: np.ndarray) -> float:
        i = self.index
        if i > self.trend:
            return self._detect(features, i)
        self.warmup.append(features)
        if i == self.trend:
            start = self._starting_vigilance(self.warmup[WINDOW - 1:])
            self.art.set_vigilance(start, start)
            for j, f in enumerate(self.warmup, start=1):
                self._detect(f, j)
            self.warmup = []
        return 0.0

    def _starting_vigilance(self, windows: list[np.ndarray]) -> float:
        """Typical match of the warm-up windows, presented least typical first."""
        n = len(windows)
        similarity = np.ones((n, n))
        for a in range(n):
            for b in range(a):
                similarity[a, b] = similarity[b, a] = cosine(windows[a], windows[b])
        order = np.argsort(similarity.sum(axis=0), kind="stable")
        trial = DualVigilanceART(2 * WINDOW)
        trial.set_vigilance(START_VIGILANCE, START_VIGILANCE)
        matches = [trial.train(windows[j])[1] for j in order]
        tail = matches[self.trend // 2 - 1:]
        return float(np.mean(tail)) if tail else START_VIGILANCE

    def _detect(self, features: np.ndarray, i: int) -> float:
        since = i - self.last_anomaly
        refresh_after_anomaly = since == self.mask
        refresh_for_trend = i - self.last_vigilance_update >= self.trend // 2
        just_alerted = since <= self.mask
        if i > self.trend + self.mask and self.quiet_after_new and self.since_new >= self.mask:
            self.quiet_after_new = False
        novel, match, energy = self.art.train(features, learn=i >= WINDOW)
        novel = novel or i < WINDOW
        self.since_new = 0 if novel else self.since_new + 1
        self.match_sum += match
        self.match_count += 1
        self.recent_match.append(match)
        self.recent_gap.append(self.art.upper - match)
        if since < self.mask and self.anomaly_matches and match < self.anomaly_matches[-1]:
            self.anomaly_matches[-1] = match
        quiet = self.quiet_after_new or just_alerted
        far_below = match < self.last_anomaly_match * (0.9 if just_alerted else 0.7)
        score = 0.0
        if i > self.trend and novel and (not quiet or far_below):
            score = self._confidence(match, energy)
            self.anomaly_matches.append(match)
            self.last_anomaly_match = match
            self.last_anomaly = i
        self.quiet_after_new = novel or self.quiet_after_new
        if i > self.trend and (refresh_after_anomaly or refresh_for_trend):
            self._follow_vigilance(i)
        return score

    def _follow_vigilance(self, i: int) -> None:
        """Move the vigilances towards the series' own typical and worst recent match."""
        worst = min(self.recent_match)
        upper = min(MAX_UPPER_VIGILANCE, self.match_sum / self.match_count)
        lower = self.art.lower
        if lower <= worst:
            lower += (worst - lower) * 0.19
        else:
            step = 0.0
            if i > 2 * self.trend:
                gaps = [min(0.37, g) for g in self.recent_gap if g > 0.05]
                if gaps:
                    step = sum(gaps) / len(gaps)
            lower -= max(0.01, step) / 2
            if self.anomaly_matches:
                lower = max(sum(self.anomaly_matches) / len(self.anomaly_matches), lower)
        self.art.set_vigilance(min(upper, lower), upper)
        self.last_vigilance_update = i
        self.quiet_after_new = True

    def _confidence(self, match: float, energy: float) -> float:
        match = min(0.999, match)
        gap = 1.0 - match
        upper = (gap - (1.0 - self.art.upper)) / gap
        lower = (gap - (1.0 - self.art.lower)) / gap
        return round(min(1.0, upper * 0.35 + lower * 0.65 + (1.0 - energy) * 1.5), 6)
