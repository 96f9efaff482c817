"""The playbook schema: typed playbooks and a validator that names file, field and fix.

`parse_playbook` turns one YAML document into a `Playbook` and collects every
problem on the way as a `PlaybookIssue` (file, field path, problem, fix)
instead of stopping at the first one, so `yuqing playbooks validate` can list
them all in one run. The vocabularies (categories, tiers, departments,
channels, statement kinds, template placeholders) are defined here once.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

CATEGORIES: dict[str, str] = {
    "data_breach": "数据泄露",
    "outage": "系统故障",
    "regulatory": "监管处罚",
    "complaint_fees": "隐性收费投诉",
    "complaint_collection": "暴力催收投诉",
    "rumor_solvency": "经营风险传闻",
    "product_defect": "产品质量问题",
    "media_exposure": "负面媒体报道",
    "other": "其他舆情",
    "*": "品牌综合舆情",  # the brand-wide key; as a playbook's category: any category (a fallback)
}
ANY_CATEGORY = "*"
TIERS: dict[int, str] = {1: "一级", 2: "二级", 3: "三级"}
DEPARTMENTS: dict[str, str] = {
    "pr": "公关部",
    "tech": "技术部",
    "legal": "法务合规部",
    "customer_service": "客服中心",
    "executive": "管理层",
}
CHANNELS: dict[str, str] = {
    "weibo": "官方微博",
    "wechat": "微信公众号",
    "douyin": "抖音官方号",
    "xiaohongshu": "小红书官方号",
    "zhihu": "知乎机构号",
    "website": "官网公告",
    "app": "App 内公告 / 推送",
    "sms": "短信",
    "email": "邮件",
    "press": "媒体沟通",
    "hotline": "客服热线 / 在线客服",
    "internal": "内部通报",
    "regulator": "监管报送",
    "x": "X (Twitter)",
}
STATEMENT_KINDS: dict[str, str] = {
    "internal_brief": "内部舆情通报",
    "cs_script": "客服口径",
    "holding": "情况说明（初步回应）",
    "apology": "致歉声明",
    "clarification": "澄清声明",
    "update": "进展通报",
    "notice": "公告",
    "media_qa": "媒体问答口径",
}
# Template placeholders filled from the incident snapshot (see yuqing.playbooks.render).
PLACEHOLDERS: dict[str, str] = {
    "brand": "brand name, e.g. 星汇支付",
    "category": "category id, e.g. outage",
    "category_name": "category in Chinese, e.g. 系统故障",
    "tier": "tier number 1-3",
    "tier_name": "tier in Chinese: 一级 / 二级 / 三级",
    "risk_score": "risk score 0-1 with two decimals",
    "incident_id": "incident id",
    "first_seen": "time of the first mention, Beijing time, e.g. 3月5日14:20",
    "first_seen_date": "date of the first mention, e.g. 3月5日",
    "last_seen": "time of the latest mention, Beijing time",
    "today": "date of the activation, e.g. 2025年3月5日",
    "mention_count": "mentions in the incident window",
    "negative_ratio": "share of negative mentions, e.g. 78%",
    "unique_authors": "distinct authors in the window",
    "reach": "summed followers of the authors (potential reach)",
    "top_keywords": "top keywords joined with 、",
    "sources": "platforms in Chinese joined with 、, e.g. 微博、抖音",
    "evidence_count": "evidence mentions attached to the incident",
    "top_evidence": "text of the most influential evidence mention (first 80 characters)",
    "top_evidence_url": "link of that mention",
    "top_evidence_source": "platform of that mention in Chinese",
}

_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_DURATION_FIX = "write a duration like 30m, 2h, 1h30m or 1d"


@dataclass(frozen=True)
class PlaybookIssue:
    """One problem in a playbook file: where it is, what is wrong, how to fix it."""

    file: str
    field: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.problem} — {self.fix}"


@dataclass(frozen=True)
class Match:
    """Which incidents a playbook is for; empty lists mean any."""

    brands: tuple[str, ...] = ()
    sectors: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    require_keyword: bool = False


@dataclass(frozen=True)
class Trigger:
    """The lowest tier and the window thresholds at which a playbook activates."""

    min_tier: int = 1
    min_mentions: int = 0
    min_risk_score: float = 0.0
    min_negative_ratio: float = 0.0


@dataclass(frozen=True)
class Task:
    """A job for one department; `due` maps each tier it applies at to its deadline."""

    id: str
    department: str
    action: str
    due: Mapping[int, timedelta]

    @property
    def tiers(self) -> tuple[int, ...]:
        return tuple(sorted(self.due))


@dataclass(frozen=True)
class Statement:
    """A statement template, published on `channels` from tier `from_tier` on."""

    id: str
    kind: str
    title: str
    template: str
    channels: tuple[str, ...]
    from_tier: int
    approval: tuple[str, ...] = ()


@dataclass(frozen=True)
class EscalationStep:
    """Who leads at one tier, who is told, and how often the public gets an update."""

    owner: str
    notify: tuple[str, ...]
    update_every: timedelta | None = None
    note: str = ""


@dataclass(frozen=True)
class Playbook:
    """A crisis-response playbook from the strategy library (策略库)."""

    id: str
    version: int
    name: str
    category: str
    match: Match
    trigger: Trigger
    tasks: tuple[Task, ...]
    statements: tuple[Statement, ...]
    channels: tuple[str, ...]
    escalation: Mapping[int, EscalationStep]
    description: str = ""
    variables: Mapping[str, str] = field(default_factory=dict)
    source: str = ""

    def tasks_for(self, tier: int) -> tuple[Task, ...]:
        return tuple(t for t in self.tasks if tier in t.due)

    def statements_for(self, tier: int) -> tuple[Statement, ...]:
        return tuple(s for s in self.statements if s.from_tier <= tier)


def parse_duration(text: str) -> timedelta | None:
    """`30m`, `2h`, `1h30m`, `1d` -> timedelta; None when malformed or zero.

    >>> parse_duration("1h30m")
    datetime.timedelta(seconds=5400)
    >>> parse_duration("90") is None
    True
    """
    found = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not found or not any(found.groups()):
        return None
    days, hours, minutes = (int(g or 0) for g in found.groups())
    delta = timedelta(days=days, hours=hours, minutes=minutes)
    return delta or None


def template_fields(template: str) -> tuple[list[str], list[str]]:
    """Placeholder names in a template and the stray braces found.

    `{name}` is a placeholder; `{{` and `}}` are literal braces.

    >>> template_fields("{brand}致歉 {{注}} {oops")
    (['brand'], ['{'])
    """
    names: list[str] = []
    stray: list[str] = []
    for token in _TOKEN.finditer(template):
        if token.group(1) is not None:
            names.append(token.group(1))
        elif token.group(0) in "{}":
            stray.append(token.group(0))
    return names, stray


class _Checker:
    """Walks one YAML document, records issues, returns typed values or None."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.issues: list[PlaybookIssue] = []

    def issue(self, path: str, problem: str, fix: str) -> None:
        self.issues.append(PlaybookIssue(self.file, path or "(document)", problem, fix))

    def mapping(
        self, value: Any, path: str, required: Sequence[str], optional: Sequence[str]
    ) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.issue(path, f"expected a mapping, got {_kind(value)}",
                       f"write `{path or 'the file'}` as key: value lines")
            return None
        allowed = [*required, *optional]
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean `{close[0]}`?" if close else f"allowed keys: {', '.join(allowed)}"
                self.issue(_join(path, key), "unknown key", f"remove it; {hint}")
        for key in required:
            if key not in value:
                self.issue(_join(path, key), "missing", f"add `{key}:` to {path or 'the file'}")
        return value

    def text(self, value: Any, path: str, *, empty: bool = False) -> str | None:
        if isinstance(value, str) and (empty or value.strip()):
            return value
        want = "a string" if empty else "a non-empty string"
        self.issue(path, f"expected {want}, got {_kind(value)}", f"write {want} (quote it if YAML reads it otherwise)")
        return None

    def texts(self, value: Any, path: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.issue(path, f"expected a list, got {_kind(value)}", "write a YAML list such as [a, b]")
            return ()
        out = []
        for i, item in enumerate(value):
            if isinstance(item, str) and item.strip():
                out.append(item.strip())
            else:
                self.issue(f"{path}[{i}]", f"expected a non-empty string, got {_kind(item)}",
                           "quote the item or remove it")
        return tuple(out)

    def choice(self, value: Any, path: str, choices: Mapping[str, str], what: str) -> str | None:
        if isinstance(value, str) and value in choices:
            return value
        close = difflib.get_close_matches(str(value), list(choices), n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        self.issue(path, f"unknown {what} {value!r}", f"{hint}use one of: {', '.join(choices)}")
        return None

    def choices(self, value: Any, path: str, choices: Mapping[str, str], what: str) -> tuple[str, ...]:
        items = self.texts(value, path)
        checked = (self.choice(v, f"{path}[{i}]", choices, what) for i, v in enumerate(items))
        return tuple(v for v in checked if v)

    def tier(self, value: Any, path: str) -> int | None:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, str) and value in TIERS.values():
            value = next(k for k, v in TIERS.items() if v == value)
        if isinstance(value, int) and not isinstance(value, bool) and value in TIERS:
            return value
        self.issue(path, f"unknown tier {value!r}", "use 1, 2 or 3 (一级 low, 二级 medium, 三级 high)")
        return None

    def number(self, value: Any, path: str, low: float, high: float | None) -> float | None:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and value >= low and (high is None or value <= high):
            return float(value)
        span = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        self.issue(path, f"expected a number {span}, got {value!r}", f"write a number {span}")
        return None

    def duration(self, value: Any, path: str) -> timedelta | None:
        delta = parse_duration(value) if isinstance(value, str) else None
        if delta is None:
            self.issue(path, f"bad duration {value!r}", _DURATION_FIX)
        return delta

    def template(self, value: Any, path: str, known: set[str]) -> str | None:
        text = self.text(value, path)
        if text is None:
            return None
        names, stray = template_fields(text)
        for name in names:
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hint = f"did you mean {{{close[0]}}}? " if close else ""
                self.issue(path, f"unknown placeholder {{{name}}}",
                           f"{hint}use a placeholder from docs/playbooks.md or declare `{name}` under variables")
        if stray:
            self.issue(path, "unbalanced brace in template",
                       "write {{ or }} for a literal brace; placeholders look like {brand}")
        return text


def parse_playbook(data: Any, file: str | Path) -> tuple[Playbook | None, list[PlaybookIssue]]:
    """Check one YAML document; the playbook when it is valid, and every issue found."""
    c = _Checker(str(file))
    doc = c.mapping(
        data, "",
        required=("id", "version", "name", "category", "trigger", "tasks", "statements",
                  "channels", "escalation"),
        optional=("schema_version", "description", "match", "variables"),
    )
    if doc is None:
        return None, c.issues
    if doc.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        c.issue("schema_version", f"unsupported schema version {doc['schema_version']!r}",
                f"set schema_version: {SCHEMA_VERSION} and follow docs/playbooks.md")
    pid = c.text(doc.get("id"), "id") if "id" in doc else None
    if pid is not None and not _ID.match(pid):
        c.issue("id", f"bad id {pid!r}", "use lowercase letters, digits, '.', '_' or '-', e.g. outage.cloud")
        pid = None
    version = doc.get("version")
    if "version" in doc and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
        c.issue("version", f"expected a whole number ≥ 1, got {version!r}",
                "write version: 1 and raise it on every change")
        version = None
    name = c.text(doc.get("name"), "name") if "name" in doc else None
    description = c.text(doc.get("description", ""), "description", empty=True) or ""
    category = c.choice(doc.get("category"), "category", CATEGORIES, "category") if "category" in doc else None

    variables = _variables(c, doc.get("variables"))
    known = set(PLACEHOLDERS) | set(variables)
    match = _match(c, doc.get("match"))
    trigger = _trigger(c, doc.get("trigger")) if "trigger" in doc else None
    min_tier = trigger.min_tier if trigger else 1
    tasks = _tasks(c, doc.get("tasks"), min_tier, known) if "tasks" in doc else ()
    statements = _statements(c, doc.get("statements"), min_tier, known) if "statements" in doc else ()
    channels = c.choices(doc.get("channels"), "channels", CHANNELS, "channel") if "channels" in doc else ()
    escalation = _escalation(c, doc.get("escalation"), min_tier) if "escalation" in doc else {}

    if c.issues or None in (pid, version, name, category, trigger):
        return None, c.issues
    return Playbook(
        id=pid, version=version, name=name, category=category, match=match, trigger=trigger,
        tasks=tasks, statements=statements, channels=channels, escalation=escalation,
        description=description, variables=variables, source=str(file),
    ), c.issues


def _variables(c: _Checker, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    raw = c.mapping(value, "variables", (), tuple(value) if isinstance(value, dict) else ())
    out: dict[str, str] = {}
    for key, text in (raw or {}).items():
        path = f"variables.{key}"
        if not isinstance(key, str) or not _NAME.match(key):
            c.issue(path, f"bad variable name {key!r}", "use snake_case letters, e.g. service_channel")
        elif key in PLACEHOLDERS:
            c.issue(path, f"`{key}` is a built-in placeholder", "pick another name; built-ins are filled from the incident")
        elif (checked := c.text(text, path)) is not None:
            out[key] = checked
    return out


def _match(c: _Checker, value: Any) -> Match:
    if value is None:
        return Match()
    raw = c.mapping(value, "match", (), ("brands", "sectors", "sources", "keywords", "require_keyword"))
    if raw is None:
        return Match()
    require = raw.get("require_keyword", False)
    if not isinstance(require, bool):
        c.issue("match.require_keyword", f"expected true or false, got {require!r}", "write true or false")
        require = False
    keywords = c.texts(raw.get("keywords"), "match.keywords")
    if require and not keywords:
        c.issue("match.require_keyword", "true but match.keywords is empty",
                "add keywords under match.keywords or set require_keyword: false")
    sectors = c.texts(raw.get("sectors"), "match.sectors")
    for i, sector in enumerate(sectors):
        if not _NAME.match(sector):
            c.issue(f"match.sectors[{i}]", f"bad sector {sector!r}",
                    "use the sector ids of the brand dictionary, e.g. fintech, consumer_finance, cloud, electronics")
    return Match(
        brands=c.texts(raw.get("brands"), "match.brands"),
        sectors=sectors,
        sources=c.texts(raw.get("sources"), "match.sources"),
        keywords=keywords,
        require_keyword=require,
    )


def _trigger(c: _Checker, value: Any) -> Trigger | None:
    raw = c.mapping(value, "trigger", ("min_tier",),
                    ("min_mentions", "min_risk_score", "min_negative_ratio"))
    if raw is None:
        return None
    tier = c.tier(raw.get("min_tier"), "trigger.min_tier") if "min_tier" in raw else None
    mentions = c.number(raw.get("min_mentions", 0), "trigger.min_mentions", 0, None)
    if mentions is not None and mentions != int(mentions):
        c.issue("trigger.min_mentions", f"expected a whole number, got {mentions!r}", "write a whole number")
    risk = c.number(raw.get("min_risk_score", 0.0), "trigger.min_risk_score", 0, 1)
    ratio = c.number(raw.get("min_negative_ratio", 0.0), "trigger.min_negative_ratio", 0, 1)
    if None in (tier, mentions, risk, ratio):
        return None
    return Trigger(min_tier=tier, min_mentions=int(mentions), min_risk_score=risk, min_negative_ratio=ratio)


def _tasks(c: _Checker, value: Any, min_tier: int, known: set[str]) -> tuple[Task, ...]:
    if not isinstance(value, list) or not value:
        c.issue("tasks", f"expected a non-empty list, got {_kind(value)}",
                "list tasks as `- {department: pr, action: ..., due: 30m}`")
        return ()
    tasks, seen = [], set()
    for i, item in enumerate(value):
        path = f"tasks[{i}]"
        raw = c.mapping(item, path, ("department", "action", "due"), ("id", "from_tier"))
        if raw is None:
            continue
        department = c.choice(raw.get("department"), f"{path}.department", DEPARTMENTS, "department") \
            if "department" in raw else None
        action = c.template(raw.get("action"), f"{path}.action", known) if "action" in raw else None
        start = c.tier(raw["from_tier"], f"{path}.from_tier") if "from_tier" in raw else min_tier
        first = max(start or min_tier, min_tier)
        due = _due(c, raw["due"], f"{path}.due", first, "from_tier" in raw) if "due" in raw else None
        tid = raw.get("id", f"{department or 'task'}-{i + 1}")
        if not isinstance(tid, str) or not _ID.match(tid):
            c.issue(f"{path}.id", f"bad task id {tid!r}", "use lowercase letters, digits, '.', '_' or '-'")
        elif tid in seen:
            c.issue(f"{path}.id", f"duplicate task id {tid!r}", "give each task of a playbook its own id")
        seen.add(tid)
        if department and action and due:
            tasks.append(Task(id=tid, department=department, action=action, due=due))
    return tuple(tasks)


def _due(c: _Checker, value: Any, path: str, start: int, explicit: bool) -> dict[int, timedelta] | None:
    """A duration applies at every tier from `start`; a tier mapping at the tiers it lists."""
    if isinstance(value, str):
        delta = c.duration(value, path)
        return dict.fromkeys((t for t in TIERS if t >= start), delta) if delta else None
    if not isinstance(value, dict) or not value:
        c.issue(path, f"expected a duration or a tier mapping, got {_kind(value)}",
                f"{_DURATION_FIX}, or per tier as {{1: 4h, 2: 1h, 3: 30m}}")
        return None
    out: dict[int, timedelta] = {}
    ok = True
    for key, text in value.items():
        tier = c.tier(key, f"{path}.{key}")
        delta = c.duration(text, f"{path}.{key}")
        if tier is not None and tier < start:
            c.issue(f"{path}.{key}", f"tier {tier} is below the task's first tier {start}",
                    "remove it, or lower from_tier / trigger.min_tier")
            ok = False
        if tier and delta:
            out[tier] = delta
        else:
            ok = False
    missing = [t for t in TIERS if t >= start and t not in out] if explicit else []
    if missing and ok:
        c.issue(path, f"no deadline for tier {', '.join(map(str, missing))} although from_tier is {start}",
                f"add `{missing[0]}: 1h` (or another duration) under {path}, or drop from_tier")
        ok = False
    return out if ok else None


def _statements(c: _Checker, value: Any, min_tier: int, known: set[str]) -> tuple[Statement, ...]:
    if not isinstance(value, list) or not value:
        c.issue("statements", f"expected a non-empty list, got {_kind(value)}",
                "list statements as `- {id: holding, kind: holding, title: ..., template: ...}`")
        return ()
    out, seen = [], set()
    for i, item in enumerate(value):
        path = f"statements[{i}]"
        raw = c.mapping(item, path, ("id", "kind", "title", "template", "channels"), ("from_tier", "approval"))
        if raw is None:
            continue
        sid = raw.get("id")
        if "id" in raw and (not isinstance(sid, str) or not _ID.match(sid)):
            c.issue(f"{path}.id", f"bad statement id {sid!r}", "use lowercase letters, digits, '.', '_' or '-'")
            sid = None
        elif sid in seen:
            c.issue(f"{path}.id", f"duplicate statement id {sid!r}", "give each statement its own id")
        seen.add(sid)
        kind = c.choice(raw.get("kind"), f"{path}.kind", STATEMENT_KINDS, "statement kind") if "kind" in raw else None
        title = c.template(raw.get("title"), f"{path}.title", known) if "title" in raw else None
        template = c.template(raw.get("template"), f"{path}.template", known) if "template" in raw else None
        channels = c.choices(raw.get("channels"), f"{path}.channels", CHANNELS, "channel") if "channels" in raw else ()
        if "channels" in raw and not channels:
            c.issue(f"{path}.channels", "empty", "name at least one channel, e.g. [weibo] or [internal]")
        start = c.tier(raw["from_tier"], f"{path}.from_tier") if "from_tier" in raw else min_tier
        approval = c.choices(raw.get("approval"), f"{path}.approval", DEPARTMENTS, "department")
        if sid and kind and title and template and channels and start:
            out.append(Statement(sid, kind, title, template, channels, max(start, min_tier), approval))
    return tuple(out)


def _escalation(c: _Checker, value: Any, min_tier: int) -> dict[int, EscalationStep]:
    if not isinstance(value, dict):
        c.issue("escalation", f"expected a mapping of tier -> step, got {_kind(value)}",
                "write escalation: {1: {owner: customer_service, notify: [...]}, 2: ..., 3: ...}")
        return {}
    out: dict[int, EscalationStep] = {}
    for key, item in value.items():
        path = f"escalation.{key}"
        tier = c.tier(key, path)
        raw = c.mapping(item, path, ("owner", "notify"), ("update_every", "note"))
        if raw is None or tier is None:
            continue
        owner = c.choice(raw.get("owner"), f"{path}.owner", DEPARTMENTS, "department") if "owner" in raw else None
        notify = c.choices(raw.get("notify"), f"{path}.notify", DEPARTMENTS, "department")
        every = c.duration(raw["update_every"], f"{path}.update_every") if "update_every" in raw else None
        note = c.text(raw.get("note", ""), f"{path}.note", empty=True) or ""
        if owner:
            out[tier] = EscalationStep(owner, notify, every, note)
    missing = [t for t in TIERS if t >= min_tier and t not in out]
    if missing and len(out) == len(value):
        c.issue("escalation", f"no step for tier {', '.join(map(str, missing))}",
                f"add `{missing[0]}: {{owner: pr, notify: [pr]}}` under escalation")
    return out


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "true/false",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)
