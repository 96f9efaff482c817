"""Crisis streams built from real Weibo repost cascades (CED), to evaluate the early warning.

CED (Song et al. 2018) keeps, for 3,387 real Weibo posts, the times and texts
of their reposts. Its files are not shipped (no licence is stated); this module
reads them from a folder such as ``../shared/data/ced_dev`` and builds a
multi-day stream of mentions for fictional brands, with a truth file in the
format of ``ced_dev/stream.truth.json``:

- crises: cascades with at least ``crisis_min_1h`` reposts in their first hour,
  ``crises_per_brand`` per brand, at least 18 h apart, none in the first or
  last 12 h; the original post lands at ``onset`` and every repost keeps its
  real delay (up to 12 h);
- small cascades: at most ``small_max_12h`` reposts in 12 h, placed at random;
  they are not crises;
- background: single real posts (texts from a TSV ``label<TAB>text`` file),
  a Poisson stream per brand whose rate (``rate_per_hour``) follows a daily
  rhythm, quiet before dawn and busiest in the evening;
- outages (optional): a source's mentions removed for a while, for the
  pipeline-health alerts, moved on by quarter hours until they miss the
  first hour of every crisis of the brand (a crisis nobody collected cannot
  be detected); listed
  in the truth under ``outages`` with their actual times.

`split_of` cuts the events in two fixed halves by id (``tune`` and
``report``), independent of the split that made the dev folder, so that
designs are chosen on one half and reported on the other.

Examples
--------
>>> split_of("3842_Aq8lGf5pV_1830442653"), split_of("1002_zne7v6NMq_2464670392")
('tune', 'report')
>>> c = Cascade("e1", False, "原帖", (0, 30, 90, 4000), ("转发微博", "是真的吗", "", "好"))
>>> c.reposts_within(3600), c.time_of(2)
(3, 30)
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path

from yuqing.errors import UserError

BEIJING = timezone(timedelta(hours=8))
HOUR = 3600
MAX_DELAY = 12 * HOUR
BACKGROUND_SOURCES = ("weibo", "weibo", "weibo", "news", "forum", "wechat", "douyin")
# share of the day's posts per local hour (mean 1): quiet before dawn, busiest in the evening
DAILY_RHYTHM = (0.75, 0.5, 0.3, 0.2, 0.15, 0.15, 0.25, 0.45, 0.75, 1.0, 1.1, 1.15,
                1.25, 1.15, 1.05, 1.05, 1.1, 1.2, 1.35, 1.5, 1.7, 1.8, 1.6, 1.2)
BRAND_NAMES = ("云象支付", "金穗消费金融", "瑞达银行", "星桥云", "北辰电子", "恒信小贷", "蓝海证券",
               "青禾保险", "极光云计算", "天枢手机", "融通钱包", "安泰理财", "澄江支付", "银杏数科",
               "长风汽车", "紫荆电器", "海鸥出行", "白桦健康", "鲲鹏芯片", "松果电商", "明川基金",
               "远帆物流", "墨羽游戏", "晨曦教育")


def split_of(event_id: str) -> str:
    """``tune`` or ``report``: a fixed half of the events, by a hash of the id."""
    digest = hashlib.sha256(f"yuqing-split:{event_id}".encode()).hexdigest()
    return "tune" if int(digest, 16) % 2 else "report"


@dataclass(frozen=True, slots=True)
class Cascade:
    """One CED event: the original post and its reposts' delays (seconds, sorted) and texts."""

    event_id: str
    rumour: bool
    text: str
    delays: tuple[int, ...]
    texts: tuple[str, ...]

    def reposts_within(self, seconds: int) -> int:
        return sum(1 for d in self.delays if d <= seconds)

    def time_of(self, n: int) -> int | None:
        """Delay of the n-th repost (1-based), None when there are fewer."""
        return self.delays[n - 1] if len(self.delays) >= n else None


def _epoch(value: str) -> int | None:
    value = value.strip()
    try:
        return int(float(value))
    except ValueError:
        pass
    try:
        return int(datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y").timestamp())
    except ValueError:
        return None


def load_cascades(folder: Path) -> list[Cascade]:
    """The events of ``folder/events.csv`` with their reposts from ``reposts.csv.gz``."""
    folder = Path(folder)
    events_path, reposts_path = folder / "events.csv", folder / "reposts.csv.gz"
    for path in (events_path, reposts_path):
        if not path.is_file():
            raise UserError(f"{path}: not found; point --ced at a CED folder such as "
                            "../shared/data/ced_dev (events.csv, reposts.csv.gz)")
    origin: dict[str, tuple[int, bool, str]] = {}
    with events_path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            t = _epoch(row["orig_time_epoch"])
            if t is not None:
                origin[row["event_id"]] = (t, row["label"] == "rumor", row["orig_text"])
    reposts: dict[str, list[tuple[int, str]]] = defaultdict(list)
    with gzip.open(reposts_path, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            event = origin.get(row["event_id"])
            if event is None:
                continue
            try:
                at = datetime.strptime(row["date"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
            except ValueError:
                continue
            delay = int(at.timestamp()) - event[0]
            if 0 <= delay <= MAX_DELAY:
                reposts[row["event_id"]].append((delay, row["text"] if row["has_text"] == "1" else ""))
    out = []
    for event_id, (_, rumour, text) in origin.items():
        rows = sorted(reposts.get(event_id, ()), key=lambda r: r[0])
        out.append(Cascade(event_id, rumour, text, tuple(d for d, _ in rows),
                           tuple(t for _, t in rows)))
    return out


def load_texts(path: Path) -> list[str]:
    """Texts of a ``label<TAB>text`` TSV (header line first; split on the first tab)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: not found; point --texts at a TSV such as "
                        "../shared/data/sentiment/weibo2018_train.tsv")
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t", 1)[1] for line in lines if "\t" in line]


@dataclass(frozen=True, slots=True)
class Outage:
    """A collector that stops: ``source`` mentions of ``brand`` (``*`` all) vanish for a while."""

    source: str
    brand: str
    start_hours: float
    hours: float


@dataclass(frozen=True)
class StreamSettings:
    """How a stream is built (the defaults are those of ``ced_dev/stream.jsonl.gz``)."""

    brands: int = 12
    days: float = 3.0
    crises_per_brand: int = 2
    small_per_brand: int = 18
    seed: int = 7
    start: datetime = datetime(2026, 11, 16, tzinfo=BEIJING)
    half: str | None = None  # tune | report | None (every event)
    rate_per_hour: tuple[float, float] = (20.0, 80.0)
    crisis_min_1h: int = 200
    small_max_12h: int = 60
    text_reuse: int = 5
    outages: tuple[Outage, ...] = field(default_factory=tuple)


@dataclass
class _Placed:
    cascade: Cascade
    brand: str
    onset: datetime
    crisis: bool


def _place_crises(rng: random.Random, brands: list[str], pool: list[Cascade],
                  s: StreamSettings) -> list[_Placed]:
    first = s.start + timedelta(hours=12)
    span = (s.days * 24 - 24) * HOUR
    if span <= 0:
        raise UserError("a stream with crises needs more than one day (--days)")
    need = len(brands) * s.crises_per_brand
    if len(pool) < need:
        raise UserError(f"only {len(pool)} crisis-size cascades for {need} crises; "
                        "use fewer --brands or --crises-per-brand")
    chosen = rng.sample(pool, need)
    out = []
    for i, brand in enumerate(brands):
        for _ in range(1000):
            onsets = sorted(rng.uniform(0, span) for _ in range(s.crises_per_brand))
            if all(b - a >= 18 * HOUR for a, b in pairwise(onsets)):
                break
        else:
            raise UserError(f"cannot place {s.crises_per_brand} crises 18 h apart in {s.days} days")
        for k, offset in enumerate(onsets):
            cascade = chosen[i * s.crises_per_brand + k]
            out.append(_Placed(cascade, brand, first + timedelta(seconds=int(offset)), True))
    return out


def _background_times(rng: random.Random, rate: float, s: StreamSettings) -> Iterator[datetime]:
    """A Poisson stream at ``rate`` an hour on average, following `DAILY_RHYTHM` (thinning)."""
    peak = rate * max(DAILY_RHYTHM) / HOUR
    t, end = 0.0, s.days * 24 * HOUR
    while True:
        t += rng.expovariate(peak)
        if t >= end:
            return
        at = s.start + timedelta(seconds=t)
        if rng.random() * max(DAILY_RHYTHM) <= DAILY_RHYTHM[at.astimezone(BEIJING).hour]:
            yield at.replace(microsecond=0)


def build_stream(cascades: list[Cascade], texts: list[str],
                 settings: StreamSettings) -> tuple[list[dict], dict]:
    """Mentions (sorted by time) and the truth of one stream."""
    s = settings
    if s.brands > len(BRAND_NAMES):
        raise UserError(f"--brands {s.brands}: at most {len(BRAND_NAMES)}")
    rng = random.Random(s.seed)
    brands = list(BRAND_NAMES[: s.brands])
    usable = [c for c in cascades if s.half is None or split_of(c.event_id) == s.half]
    crisis_pool = sorted((c for c in usable if c.reposts_within(HOUR) >= s.crisis_min_1h),
                         key=lambda c: c.event_id)
    small_pool = sorted((c for c in usable if len(c.delays) <= s.small_max_12h),
                        key=lambda c: c.event_id)
    placed = _place_crises(rng, brands, crisis_pool, s)
    used = {p.cascade.event_id for p in placed}
    small_pool = [c for c in small_pool if c.event_id not in used]
    need_small = len(brands) * s.small_per_brand
    if need_small and not small_pool:
        raise UserError("no small cascades to place; use --small-per-brand 0")
    # a half of the events holds too few small cascades: then they repeat (other brand, time)
    smalls = (rng.sample(small_pool, need_small) if len(small_pool) >= need_small
              else rng.choices(small_pool, k=need_small))
    for i, cascade in enumerate(smalls):
        offset = rng.uniform(0, s.days * 24 * HOUR - 1)
        placed.append(_Placed(cascade, brands[i // s.small_per_brand],
                              s.start + timedelta(seconds=int(offset)), False))

    mentions: list[dict] = []
    uses: dict[str, int] = defaultdict(int)
    for p in placed:
        uses[p.cascade.event_id] += 1
        n = uses[p.cascade.event_id]
        prefix = f"ced:{p.cascade.event_id}" + (f"~{n}" if n > 1 else "")
        root = f"{prefix}:0"
        mentions.append({"id": root, "source": "weibo", "text": p.cascade.text or "转发微博",
                         "brand": p.brand, "published_at": p.onset})
        for i, (delay, text) in enumerate(zip(p.cascade.delays, p.cascade.texts, strict=True), 1):
            mentions.append({"id": f"{prefix}:{i}", "source": "weibo",
                             "text": text or "转发微博", "brand": p.brand, "parent_id": root,
                             "published_at": p.onset + timedelta(seconds=delay)})
    deck: list[str] = []
    for brand in brands:
        rate = rng.uniform(*s.rate_per_hour)
        for n, at in enumerate(_background_times(rng, rate, s)):
            if not deck:
                deck = texts * s.text_reuse
                rng.shuffle(deck)
            mentions.append({"id": f"post:{brand}:{n}", "source": rng.choice(BACKGROUND_SOURCES),
                             "text": deck.pop(), "brand": brand, "published_at": at})
    end = s.start + timedelta(days=s.days)
    outages = [_clear_of_crises(o, s.start, placed) for o in s.outages]
    kept = [m for m in mentions if m["published_at"] < end and not any(
        m["source"] == o.source and o.brand in ("*", m["brand"]) and a <= m["published_at"] < b
        for o, a, b in outages)]
    kept.sort(key=lambda m: (m["published_at"], m["id"]))
    for m in kept:
        m["published_at"] = m["published_at"].astimezone(BEIJING).isoformat()
    truth = {
        "period": [s.start.isoformat(), end.isoformat()],
        "brands": brands,
        "mentions": len(kept),
        "split": s.half or "all",
        "seed": s.seed,
        "crises": sorted((_crisis_truth(p) for p in placed if p.crisis), key=lambda c: c["onset"]),
        "outages": [{"source": o.source, "brand": o.brand, "start": a.isoformat(),
                     "end": b.isoformat()} for o, a, b in outages],
    }
    return kept, truth


def _clear_of_crises(o: Outage, start: datetime, placed: list[_Placed]
                     ) -> tuple[Outage, datetime, datetime]:
    """The outage's times, moved on by quarter hours until it misses every crisis's first hour.

    A crisis during a collector outage is not in the stream at all, so no
    detector could be scored on it; the two are evaluated apart.
    """
    a = start + timedelta(hours=o.start_hours)
    length = timedelta(hours=o.hours)
    busy = [(p.onset - timedelta(minutes=10), p.onset + timedelta(hours=1)) for p in placed
            if p.crisis and o.brand in ("*", p.brand)]
    while any(x < a + length and a < y for x, y in busy):
        a += timedelta(minutes=15)
    return o, a, a + length


def _crisis_truth(p: _Placed) -> dict:
    def at(n: int) -> str | None:
        delay = p.cascade.time_of(n)
        return None if delay is None else (p.onset + timedelta(seconds=delay)).isoformat()

    return {"brand": p.brand, "event": p.cascade.event_id, "rumour": p.cascade.rumour,
            "onset": p.onset.isoformat(), "t50": at(50), "t200": at(200),
            "reposts_1h": p.cascade.reposts_within(HOUR),
            "reposts_12h": len(p.cascade.delays)}


def write_stream(mentions: list[dict], truth: dict, out: Path) -> tuple[Path, Path]:
    """``OUT.jsonl.gz`` and ``OUT.truth.json``."""
    out = Path(out)
    stream_path = out.with_name(out.name + ".jsonl.gz")
    truth_path = out.with_name(out.name + ".truth.json")
    stream_path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(stream_path, "wb") as raw, io.TextIOWrapper(raw, encoding="utf-8") as handle:
        for m in mentions:
            handle.write(json.dumps(m, ensure_ascii=False) + "\n")
    truth_path.write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return stream_path, truth_path
