"""The incident review (复盘): one incident's story, as HTML + Markdown with a PNG timeline.

What it holds: the timeline of state and tier changes with risk scores, the
evidence (origin, top keywords and stories, the most engaging evidence
mentions), what fired (playbook activations and their deliveries to
runners), when each task was acknowledged and done against its due time, and
the time to first response (first acknowledgement by a runner or a task
owner after the incident opened).

Task history comes from the `tasks` table's rows before FINAL collapses them
(each status change is a row, ReplacingMergeTree(updated_at)); after
ClickHouse merges old versions away, a task's acknowledgement time is the
earliest one still stored, and the report says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from yuqing.errors import UserError
from yuqing.reports import charts
from yuqing.reports.brief import DEFAULT_TZ, local, utc
from yuqing.reports.format import Report, Section, Table
from yuqing.warning.tiers import TIER_NAMES

ACK_STATUSES = ("accepted", "done", "failed")


def volume_step(t0: datetime, t1: datetime) -> int:
    """Seconds per bar of the timeline: whole minutes, about 60 bars."""
    return max(60, int((t1 - t0).total_seconds() / 60) // 60 * 60)


@dataclass(frozen=True)
class ReviewFiles:
    html: Path
    markdown: Path
    chart: Path
    first_response: timedelta | None


def _duration(d: timedelta | None) -> str:
    if d is None:
        return "—"
    seconds = int(d.total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{sign}{h}h {m:02d}m" if h else f"{sign}{m}m {s:02d}s"


class IncidentReview:
    """Queries for one incident; `write` renders them."""

    def __init__(self, store, incident_id: str, tz_name: str = DEFAULT_TZ):
        self.store, self.incident_id, self.tz_name = store, incident_id, tz_name
        self.tz = ZoneInfo(tz_name)
        self.params = {"id": incident_id}

    def q(self, sql: str, extra: dict | None = None) -> list[tuple]:
        return self.store.query(sql, {**self.params, **(extra or {})})

    def changes(self) -> list[tuple]:
        rows = self.q("""
            SELECT seq, change, at, brand, category, state, tier, previous_tier, risk_score,
                   peak_tier, peak_score, opened_at, resolved_at, false_alarm, evidence
            FROM incidents FINAL WHERE incident_id = {id:String} ORDER BY seq""")
        if not rows:
            known = self.store.query(
                "SELECT incident_id FROM incidents FINAL GROUP BY incident_id "
                "ORDER BY max(at) DESC LIMIT 3")
            hint = (f"recent ids: {', '.join(r[0] for r in known)}" if known
                    else "the store has no incidents yet")
            raise UserError(f"incident {self.incident_id!r} not found in the store; {hint}")
        return rows

    def volume(self, brand: str, category: str, t0: datetime, t1: datetime) -> list[tuple]:
        step = volume_step(t0, t1)
        return self.q(f"""
            SELECT toStartOfInterval(published_at, INTERVAL {step} second) AS t, count(),
                   countIf(sentiment_label = 'negative')
            FROM mentions FINAL
            WHERE brand = {{b:String}} AND category = {{c:String}}
              AND published_at >= {{t0:DateTime64(3, 'UTC')}} AND published_at <= {{t1:DateTime64(3, 'UTC')}}
            GROUP BY t ORDER BY t""",
                      {"b": brand, "c": category, "t0": t0.replace(tzinfo=None),
                       "t1": t1.replace(tzinfo=None)})

    def evidence_mentions(self, ids: list[str], brand: str, limit: int = 15) -> list[tuple]:
        if not ids:
            return []
        return self.q(f"""
            SELECT published_at, source, author_name, followers, reposts + comments + likes AS e,
                   round(sentiment, 2), text
            FROM mentions FINAL WHERE brand = {{b:String}} AND id IN {{ids:Array(String)}}
            ORDER BY e DESC LIMIT {int(limit)}""", {"b": brand, "ids": ids})

    def activations(self) -> list[tuple]:
        return self.q("""
            SELECT created_at, playbook_id, playbook_version, tier, arrayStringConcat(departments, ', '), key
            FROM activations FINAL WHERE incident_id = {id:String} ORDER BY created_at""")

    def deliveries(self) -> list[tuple]:
        return self.q("""
            SELECT runner, kind, status, attempts, enqueued_at, updated_at, detail
            FROM deliveries FINAL WHERE incident_id = {id:String} ORDER BY enqueued_at, runner""")

    def tasks(self) -> list[tuple]:
        """(department, task, status, assignee, due, acknowledged, done) from the task's history."""
        return self.q("""
            SELECT department, task_id, argMax(status, updated_at), argMax(assignee, updated_at),
                   any(due_at), minIf(updated_at, status NOT IN ('todo', 'unknown', '')),
                   minIf(updated_at, status = 'done')
            FROM tasks WHERE incident_id = {id:String}
            GROUP BY key, department, task_id ORDER BY department, task_id""")

    def write(self, out_dir: Path) -> ReviewFiles:
        out_dir.mkdir(parents=True, exist_ok=True)
        tz = self.tz
        changes = self.changes()
        first, last = changes[0], changes[-1]
        brand, category = first[3], first[4]
        opened = utc(first[11])
        resolved = utc(last[12])
        end = resolved or max(utc(c[2]) for c in changes)
        evidence = [json.loads(c[14] or "{}") for c in changes]
        began = next((e["began"] for e in evidence if e.get("began")), {})
        # a resolution's evidence window is quiet: describe the last change that had mentions
        latest = next((e for e in reversed(evidence) if e.get("mention_ids")), {})
        ids = sorted({i for e in evidence for i in e.get("mention_ids", [])})
        evidence_total = max([len(ids)] + [e.get("mention_ids_total", 0) for e in evidence])

        span = max(end - opened, timedelta(minutes=30))
        volume = self.volume(brand, category, opened - span / 4, end + span / 4)
        stem = f"incident-{self.incident_id}"
        chart = charts.incident_chart(
            [(utc(t), n, neg) for t, n, neg in volume],
            [(utc(c[2]), c[6], c[8]) for c in changes], out_dir / f"{stem}-timeline.png",
            title=f"{brand} · {category} " + charts.label("事件时间线 incident timeline", "incident timeline"),
            tz=tz, tz_name=self.tz_name, end=end + span / 8,
            interval=timedelta(seconds=volume_step(opened - span / 4, end + span / 4)))

        activations, deliveries, tasks = self.activations(), self.deliveries(), self.tasks()
        responses = [utc(d[5]) for d in deliveries if d[2] in ACK_STATUSES]
        responses += [utc(t[5]) for t in tasks if t[5] is not None and t[5].year > 1970]
        responses = [r for r in responses if r >= opened]
        first_response = (min(responses) - opened) if responses else None

        report = Report(
            f"事件复盘 Incident review {self.incident_id}",
            subtitle=f"{brand} · {category}; times in {self.tz_name}; generated "
                     f"{datetime.now(tz):%Y-%m-%d %H:%M} by yuqing report incident",
            facts=[("品牌 brand", brand), ("类别 category", category),
                   ("开始 opened", local(opened, tz)),
                   ("结束 resolved", local(resolved, tz) if resolved else "open"),
                   ("持续 duration", _duration(end - opened) if resolved else "ongoing"),
                   ("最高级别 peak tier", TIER_NAMES.get(max(c[9] for c in changes), "—")),
                   ("最高风险分 peak score", f"{max(c[10] for c in changes):.1f}"),
                   ("首次响应 time to first response", _duration(first_response)),
                   ("误报 false alarm", "yes" if last[13] else "no")])
        report.add(Section(
            "时间线 Timeline", image=chart.name, table=Table(
                ("at", "change", "state", "tier", "from tier", "risk score"),
                [(local(c[2], tz), c[1], c[5], TIER_NAMES.get(c[6], c[6]),
                  TIER_NAMES.get(c[7], c[7]), round(c[8], 1)) for c in changes])))
        began_text = (f"Began on {began.get('source', '?')} at {local(datetime.fromisoformat(began['at']), tz)}"
                      f" (mention {began.get('mention_id', '?')})." if began.get("at") else
                      "Origin not recorded.")
        keywords = ", ".join(f"{k} ({n})" for k, n in latest.get("top_keywords", [])[:10])
        report.add(Section(
            "证据 Evidence",
            text=began_text + (f" Top keywords: {keywords}." if keywords else "")
            + f" Evidence mentions: {evidence_total:,} (the most engaging below).",
            table=Table(("published", "source", "author", "followers", "engagement", "sentiment",
                         "text"),
                        [(local(m[0], tz), m[1], m[2], m[3], m[4], m[5], m[6][:100])
                         for m in self.evidence_mentions(ids, brand)],
                        empty="no evidence mentions stored")))
        report.add(Section(
            "触发的预案 What fired", table=Table(
                ("created", "playbook", "version", "tier", "departments", "activation key"),
                [(local(a[0], tz), a[1], a[2], TIER_NAMES.get(a[3], a[3]), a[4], a[5])
                 for a in activations], empty="no playbook activation")))
        report.add(Section(
            "推送 Deliveries to runners", table=Table(
                ("runner", "kind", "status", "attempts", "enqueued", "acknowledged", "after", "detail"),
                [(d[0], d[1], d[2], d[3], local(d[4], tz), local(d[5], tz),
                  _duration(utc(d[5]) - utc(d[4])), d[6]) for d in deliveries],
                empty="no deliveries recorded")))
        report.add(Section(
            "任务 Tasks", table=Table(
                ("department", "task", "status", "assignee", "due", "acknowledged", "done",
                 "done vs due"),
                [(t[0], t[1], t[2], t[3], local(t[4], tz), _when(t[5], tz), _when(t[6], tz),
                  _duration(utc(t[6]) - utc(t[4])) if _set(t[6]) and t[4] else "—")
                 for t in tasks], empty="no tasks recorded"),
            note="Acknowledged = first status after todo; negative 'done vs due' is early."))
        html_path, md_path = report.write(out_dir, stem)
        return ReviewFiles(html_path, md_path, chart, first_response)


def _set(t: datetime | None) -> bool:
    return t is not None and t.year > 1970  # minIf over no rows gives the epoch


def _when(t: datetime | None, tz: ZoneInfo) -> str:
    return local(t, tz) if _set(t) else "—"


def write_review(store, incident_id: str, out_dir: Path, tz_name: str = DEFAULT_TZ) -> ReviewFiles:
    """Write the incident's review into `out_dir`; an unknown id is a `UserError`."""
    return IncidentReview(store, incident_id, tz_name).write(out_dir)
