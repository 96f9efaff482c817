"""Rendering a playbook for one incident: deadlines made absolute, statements filled in.

`render` is what an activation carries: the tasks due at the incident's tier
with absolute due times, and the statements with their placeholders filled
from the incident snapshot (see `yuqing.playbooks.schema.PLACEHOLDERS`).
Evidence text is inserted verbatim and never parsed as a template, so any
string a mention carries renders safely.

The incident snapshot is a plain mapping:

    incident_id, brand, category, tier, risk_score,
    first_seen, last_seen, opened_at, tier_since   (datetime or RFC 3339 string)
    metrics: {mention_count, negative_ratio, unique_authors, reach}
    evidence: [{id, source, text, url, published_at, author: {name, followers}}]
    top_keywords: [str], sources: [str]

Missing values render as an empty string and are listed in the statement's
`unfilled`, so the PR team sees what to complete before sending.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from yuqing.playbooks.schema import CATEGORIES, TIERS, Playbook

BEIJING = timezone(timedelta(hours=8), "CST")
SOURCE_NAMES = {
    "weibo": "微博", "wechat": "微信", "douyin": "抖音", "news": "新闻媒体", "forum": "论坛",
    "x": "X", "app_review": "应用商店评论", "xiaohongshu": "小红书", "zhihu": "知乎",
    "bilibili": "哔哩哔哩", "heimao": "黑猫投诉", "toutiao": "今日头条", "kuaishou": "快手",
}
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def render(
    playbook: Playbook, incident: Mapping[str, Any], tier: int, *, at: datetime | None = None
) -> dict[str, Any]:
    """The playbook's tasks and statements for `incident` at `tier`.

    Deadlines (and `{today}`) count from `at`, else the incident's `tier_since`,
    `opened_at` or `first_seen`, else now (UTC).
    """
    start = at or next(
        (t for t in (_time(incident.get(k)) for k in ("tier_since", "opened_at", "first_seen")) if t),
        None,
    ) or datetime.now(UTC)
    values = {**placeholder_values(incident, tier, start), **playbook.variables}
    tasks = []
    for task in playbook.tasks_for(tier):
        action, _ = fill(task.action, values)
        tasks.append({
            "task_id": task.id,
            "department": task.department,
            "action": action,
            "due": task.due[tier],
            "due_at": start + task.due[tier],
        })
    tasks.sort(key=lambda t: (t["due_at"], t["department"], t["task_id"]))
    statements = []
    for statement in playbook.statements_for(tier):
        title, missing_title = fill(statement.title, values)
        text, missing_text = fill(statement.template, values)
        statements.append({
            "statement_id": statement.id,
            "kind": statement.kind,
            "title": title,
            "text": text,
            "channels": list(statement.channels),
            "approval": list(statement.approval),
            "unfilled": sorted(set(missing_title) | set(missing_text)),
        })
    step = playbook.escalation.get(tier)
    return {
        "playbook_id": playbook.id,
        "playbook_version": playbook.version,
        "playbook_name": playbook.name,
        "category": playbook.category,
        "tier": tier,
        "tier_name": TIERS.get(tier, str(tier)),
        "tasks": tasks,
        "statements": statements,
        "channels": list(playbook.channels),
        "escalation": {
            "owner": step.owner if step else "",
            "notify": list(step.notify) if step else [],
            "update_every": step.update_every if step else None,
            "note": step.note if step else "",
        },
    }


def fill(template: str, values: Mapping[str, str]) -> tuple[str, list[str]]:
    """Substitute `{name}` from `values`; `{{`/`}}` are literal braces. Returns text and missing names.

    >>> fill("{brand}致歉 {{注}} {nope}", {"brand": "星汇支付"})
    ('星汇支付致歉 {注} ', ['nope'])
    """
    missing: list[str] = []

    def substitute(token: re.Match[str]) -> str:
        whole, name = token.group(0), token.group(1)
        if name is None:
            return whole[0]
        value = values.get(name, "")
        if not value:
            missing.append(name)
        return value

    return _TOKEN.sub(substitute, template), missing


def placeholder_values(incident: Mapping[str, Any], tier: int, at: datetime | None = None) -> dict[str, str]:
    """The built-in placeholders as strings; empty where the snapshot has no value.

    `at` is the activation time that `{today}` shows (default now).
    """
    metrics = incident.get("metrics")
    metrics = metrics if isinstance(metrics, Mapping) else {}

    def metric(key: str) -> Any:
        return metrics.get(key, incident.get(key))

    evidence = [e for e in _list(incident.get("evidence")) if isinstance(e, Mapping)]
    top = max(evidence, key=_followers, default={})
    first, last = _time(incident.get("first_seen")), _time(incident.get("last_seen"))
    category = _text(incident.get("category"))
    ratio = metric("negative_ratio")
    risk = incident.get("risk_score")
    today = (at or datetime.now(UTC)).astimezone(BEIJING)
    return {
        "brand": _text(incident.get("brand")),
        "category": category,
        "category_name": CATEGORIES.get(category, ""),
        "tier": str(tier),
        "tier_name": TIERS.get(tier, ""),
        "risk_score": f"{risk:.2f}" if _is_number(risk) else "",
        "incident_id": _text(incident.get("incident_id")),
        "first_seen": _clock(first),
        "first_seen_date": _day(first),
        "last_seen": _clock(last),
        "today": f"{today.year}年{today.month}月{today.day}日",
        "mention_count": _count(metric("mention_count")),
        "negative_ratio": f"{ratio:.0%}" if _is_number(ratio) else "",
        "unique_authors": _count(metric("unique_authors")),
        "reach": _count(metric("reach")),
        "top_keywords": "、".join(_text(k) for k in _list(incident.get("top_keywords")) if _text(k)),
        "sources": "、".join(dict.fromkeys(
            SOURCE_NAMES.get(s, s) for s in map(_text, _list(incident.get("sources"))) if s)),
        "evidence_count": str(len(evidence)) if evidence else "",
        "top_evidence": _snippet(_text(top.get("text"))),
        "top_evidence_url": _text(top.get("url")),
        "top_evidence_source": SOURCE_NAMES.get(_text(top.get("source")), _text(top.get("source"))),
    }


def _time(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime) or not 1900 <= value.year <= 9000:
        return None  # absent, or too far out to add deadlines to
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _clock(moment: datetime | None) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(BEIJING)
    return f"{local.month}月{local.day}日{local:%H:%M}"


def _day(moment: datetime | None) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(BEIJING)
    return f"{local.month}月{local.day}日"


def _followers(evidence: Mapping[str, Any]) -> float:
    author = evidence.get("author")
    followers = author.get("followers") if isinstance(author, Mapping) else None
    return float(followers) if _is_number(followers) else -1.0


def _snippet(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _count(value: Any) -> str:
    return f"{int(value):,}" if _is_number(value) and abs(value) < 1e18 else ""


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []
