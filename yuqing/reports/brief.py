"""The daily briefing (日报): one day of one store, as HTML + Markdown with PNG charts.

What it holds: volume and sentiment per brand (with an hourly chart), the
day's incidents with tier and status, the top stories, emerging keywords
(today against the previous seven days) and playbook activity (activations,
tasks, failed deliveries). The day is a calendar day in the report's time
zone (default Asia/Shanghai).

Every number is aggregated by ClickHouse (a handful of GROUP BY queries over
the day's rows), so a day of a million mentions takes seconds; Python only
lays out the few hundred rows that come back.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from yuqing.reports import charts
from yuqing.reports.format import Report, Section, Table
from yuqing.warning.tiers import TIER_NAMES

log = logging.getLogger(__name__)

DEFAULT_TZ = "Asia/Shanghai"


def utc(t: datetime | None) -> datetime | None:
    """ClickHouse returns naive UTC datetimes; make them aware."""
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def local(t: datetime | None, tz: ZoneInfo) -> str:
    return "—" if t is None else utc(t).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a calendar day in `tz`, in UTC."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


@dataclass(frozen=True)
class BriefFiles:
    html: Path
    markdown: Path
    charts: tuple[Path, ...]
    mentions: int
    activations: int = 0


class Brief:
    """Queries for one day; `write` renders them."""

    def __init__(self, store, day: date, tz_name: str = DEFAULT_TZ):
        self.store, self.day, self.tz_name = store, day, tz_name
        self.tz = ZoneInfo(tz_name)
        self.t0, self.t1 = day_bounds(day, self.tz)
        self.params = {"t0": self.t0.replace(tzinfo=None), "t1": self.t1.replace(tzinfo=None),
                       "b0": (self.t0 - timedelta(days=7)).replace(tzinfo=None)}

    def q(self, sql: str) -> list[tuple]:
        return self.store.query(sql, self.params)

    _DAY = "published_at >= {t0:DateTime64(3, 'UTC')} AND published_at < {t1:DateTime64(3, 'UTC')}"

    def volume(self) -> list[tuple]:
        """(brand, hour UTC, sentiment label, mentions, reach, sentiment sum)."""
        return self.q(f"""
            SELECT brand, toStartOfHour(published_at) AS hour, sentiment_label, count(),
                   sum(followers), sum(sentiment)
            FROM mentions FINAL WHERE {self._DAY}
            GROUP BY brand, hour, sentiment_label ORDER BY brand, hour""")

    def incidents(self) -> list[tuple]:
        return self.q("""
            SELECT incident_id, brand, category, min(opened_at) AS opened, max(peak_tier),
                   max(peak_score), argMax(state, seq), argMax(tier, seq), argMax(resolved_at, seq),
                   max(false_alarm)
            FROM incidents FINAL
            GROUP BY incident_id, brand, category
            HAVING opened < {t1:DateTime64(3, 'UTC')}
               AND (argMax(state, seq) != 'resolved' OR max(at) >= {t0:DateTime64(3, 'UTC')})
            ORDER BY max(peak_tier) DESC, opened""")

    def stories(self, limit: int = 10) -> list[tuple]:
        return self.q(f"""
            SELECT story_id, any(brand), count() AS n, countIf(sentiment_label = 'negative'),
                   sum(reposts + comments + likes), min(published_at),
                   argMax(text, reposts + comments + likes)
            FROM mentions FINAL WHERE {self._DAY}
            GROUP BY story_id ORDER BY n DESC LIMIT {int(limit)}""")

    def emerging_keywords(self, limit: int = 15) -> list[tuple]:
        """Keywords used far more today than on an average day of the week before."""
        return self.q(f"""
            SELECT keyword, countIf(published_at >= {{t0:DateTime64(3, 'UTC')}}) AS today,
                   countIf(published_at < {{t0:DateTime64(3, 'UTC')}}) / 7 AS per_day_before,
                   countIf(published_at >= {{t0:DateTime64(3, 'UTC')}} AND sentiment_label = 'negative')
            FROM mentions FINAL ARRAY JOIN keywords AS keyword
            WHERE published_at >= {{b0:DateTime64(3, 'UTC')}} AND published_at < {{t1:DateTime64(3, 'UTC')}}
              AND lengthUTF8(keyword) >= 2
            GROUP BY keyword HAVING today >= 5
            ORDER BY (today + 1) / (per_day_before + 1) DESC, today DESC LIMIT {int(limit)}""")

    def playbooks(self) -> list[tuple]:
        return self.q("""
            SELECT a.playbook_id, count() AS activations, uniqExact(a.incident_id),
                   arrayStringConcat(groupUniqArray(a.brand), ', ')
            FROM activations AS a FINAL
            WHERE a.created_at >= {t0:DateTime64(3, 'UTC')} AND a.created_at < {t1:DateTime64(3, 'UTC')}
            GROUP BY a.playbook_id ORDER BY activations DESC""")

    def task_status(self) -> list[tuple]:
        return self.q("""
            SELECT department, countIf(status = 'done'), countIf(status NOT IN ('done', 'cancelled')),
                   countIf(status NOT IN ('done', 'cancelled') AND due_at < {t1:DateTime64(3, 'UTC')})
            FROM tasks FINAL
            WHERE key IN (SELECT key FROM activations FINAL WHERE created_at >= {t0:DateTime64(3, 'UTC')}
                          AND created_at < {t1:DateTime64(3, 'UTC')})
            GROUP BY department ORDER BY department""")

    def failed_deliveries(self) -> int:
        """Failed deliveries of the day's activations (by event time, so a replayed day has its own)."""
        return self.q("""
            SELECT countIf(status = 'failed') FROM deliveries FINAL
            WHERE key IN (SELECT key FROM activations FINAL WHERE created_at >= {t0:DateTime64(3, 'UTC')}
                          AND created_at < {t1:DateTime64(3, 'UTC')})""")[0][0]

    def write(self, out_dir: Path) -> BriefFiles:
        out_dir.mkdir(parents=True, exist_ok=True)
        day, tz = self.day.isoformat(), self.tz
        stem = f"brief-{day}"
        volume = self.volume()
        per_brand: dict[str, dict] = defaultdict(lambda: {"n": 0, "reach": 0, "s": 0.0,
                                                          "mix": defaultdict(int)})
        hourly: dict[str, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
        for brand, hour, label, n, reach, s in volume:
            b = per_brand[brand]
            b["n"] += n
            b["reach"] += reach
            b["s"] += s
            b["mix"][label] += n
            hourly[brand][utc(hour)] += n
        total = sum(b["n"] for b in per_brand.values())
        negative = sum(b["mix"]["negative"] for b in per_brand.values())

        made = [
            charts.volume_chart({k: sorted(v.items()) for k, v in hourly.items()},
                                out_dir / f"{stem}-volume.png", day=day, tz=tz, tz_name=self.tz_name),
            charts.sentiment_chart({k: dict(v["mix"]) for k, v in per_brand.items()},
                                   out_dir / f"{stem}-sentiment.png", day=day),
        ]
        incidents = self.incidents()
        playbooks = self.playbooks()
        if playbooks:
            made.append(charts.playbook_chart({p[0]: p[1] for p in playbooks},
                                              out_dir / f"{stem}-playbooks.png", day=day))

        report = Report(
            f"舆情日报 Daily briefing {day}",
            subtitle=f"{day} 00:00–24:00 {self.tz_name}; generated "
                     f"{datetime.now(tz):%Y-%m-%d %H:%M} by yuqing report brief",
            facts=[("提及量 mentions", f"{total:,}"),
                   ("负面占比 negative share", f"{negative / total:.1%}" if total else "—"),
                   ("品牌 brands", str(len(per_brand))),
                   ("事件 incidents", str(len(incidents))),
                   ("最高级别 highest tier",
                    TIER_NAMES.get(max((i[4] for i in incidents), default=0), "—")),
                   ("预案启动 activations", str(sum(p[1] for p in playbooks)))])
        rows = sorted(per_brand.items(), key=lambda kv: -kv[1]["n"])
        report.add(Section(
            "声量与情感 Volume and sentiment per brand", image=made[0].name,
            table=Table(("brand", "mentions", "negative", "neutral", "positive", "negative share",
                         "avg sentiment", "reach (followers)"),
                        [(brand, b["n"], b["mix"]["negative"], b["mix"]["neutral"],
                          b["mix"]["positive"], f"{b['mix']['negative'] / b['n']:.1%}",
                          round(b["s"] / b["n"], 2), b["reach"]) for brand, b in rows],
                        empty="no mentions on this day")))
        report.add(Section("情感构成 Sentiment mix", image=made[1].name))
        report.add(Section(
            "当日事件 Incidents", table=Table(
                ("incident", "brand", "category", "opened", "peak tier", "peak score", "status",
                 "current tier", "resolved"),
                [(i[0], i[1], i[2], local(i[3], tz), TIER_NAMES.get(i[4], i[4]), round(i[5], 1),
                  "false alarm" if i[9] else i[6], TIER_NAMES.get(i[7], i[7]), local(i[8], tz))
                 for i in incidents], empty="no incidents on this day"),
            note="Details: yuqing report incident ID --out DIR"))
        report.add(Section(
            "热点话题 Top stories", table=Table(
                ("story", "brand", "mentions", "negative", "engagement", "first seen", "most engaging post"),
                [(s[0], s[1], s[2], s[3], s[4], local(s[5], tz), s[6][:80]) for s in self.stories()],
                empty="no stories")))
        report.add(Section(
            "新兴关键词 Emerging keywords", table=Table(
                ("keyword", "today", "per day, 7 days before", "negative today"),
                [(k, n, round(b, 1), neg) for k, n, b, neg in self.emerging_keywords()],
                empty="no keyword rose today"),
            note="Ranked by (today + 1) / (average day of the previous week + 1); at least 5 uses."))
        tasks = self.task_status()
        report.add(Section(
            "预案执行 Playbook activity", image=made[2].name if playbooks else "",
            table=Table(("playbook", "activations", "incidents", "brands"), playbooks,
                        empty="no playbook fired on this day"),
            text=f"Failed deliveries of these activations to runners: {self.failed_deliveries():,}."))
        report.add(Section(
            "任务 Tasks by department", table=Table(
                ("department", "done", "open", "open past due"), tasks,
                empty="no tasks from this day's activations")))
        html_path, md_path = report.write(out_dir, stem)
        return BriefFiles(html_path, md_path, tuple(made), total,
                          sum(p[1] for p in playbooks))


def write_brief(store, day: date, out_dir: Path, tz_name: str = DEFAULT_TZ) -> BriefFiles:
    """Write the day's briefing into `out_dir` (created if missing)."""
    return Brief(store, day, tz_name).write(out_dir)
