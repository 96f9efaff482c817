"""Deliveries as text people read: a title and a Markdown body, in Chinese, for chat tools and consoles.

`markdown(delivery)` gives (title, body). The body uses the Markdown that
WeCom, DingTalk and Feishu robots all render (headings, bold, lists, links,
quotes); `slack_mrkdwn` rewrites it for Slack, `plain` for a terminal.
Evidence text is quoted as it came, shortened to `snippet` characters.
"""

from __future__ import annotations

import re
from datetime import UTC, timedelta, timezone

from google.protobuf import json_format, timestamp_pb2

from yuqing.playbooks.activation import department_name
from yuqing.playbooks.schema import CATEGORIES, DEPARTMENTS, STATEMENT_KINDS, TIERS
from yuqing.proto import action_bus_pb2, activation_pb2

BEIJING = timezone(timedelta(hours=8), "CST")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def markdown(delivery: action_bus_pb2.Delivery, *, snippet: int = 120) -> tuple[str, str]:
    """The delivery's title and Markdown body."""
    if delivery.WhichOneof("payload") == "ticket":
        return _ticket(delivery.ticket, snippet)
    return _activation(delivery.activation, snippet)


def _activation(a: activation_pb2.Activation, snippet: int) -> tuple[str, str]:
    inc = a.incident
    category = CATEGORIES.get(inc.category, inc.category)
    title = f"【{TIERS.get(a.tier, a.tier)}舆情】{inc.brand} · {category}"
    m = inc.metrics
    lines = [
        f"## {title}",
        f"**预案**：{a.playbook_name}（{a.playbook_id} v{a.playbook_version}）",
        f"**风险分**：{inc.risk_score:.2f}　**提及**：{m.mention_count:,}　"
        f"**负面占比**：{m.negative_ratio:.0%}　**触达**：{m.reach:,}",
    ]
    if inc.sources or inc.top_keywords:
        lines.append(f"**平台**：{'、'.join(inc.sources) or '—'}　**关键词**：{'、'.join(inc.top_keywords) or '—'}")
    if a.tasks:
        lines += ["", "### 任务"]
        lines += [f"- **{_dept(t.department)}** {t.action}（截止 {_when(t.due_at)}）" for t in a.tasks]
    if a.statements:
        lines += ["", "### 待发声明"]
        for s in a.statements:
            approval = "、".join(_dept(d) for d in s.approval)
            lines.append(f"- {STATEMENT_KINDS.get(s.kind, s.kind)}：{s.title}"
                         + (f"（需 {approval} 审核）" if approval else ""))
    if inc.evidence:
        lines += ["", "### 证据"]
        for e in inc.evidence[:5]:
            link = f" [原文]({e.url})" if e.url else ""
            who = f"{e.author.name}（{e.author.followers:,} 粉丝）" if e.author.name else e.source
            lines.append(f"- [{e.source}] {who}：{_short(e.text, snippet)}{link}")
    lines += ["", f"`{a.idempotency_key}`"]
    return title, "\n".join(lines)


def _ticket(t: activation_pb2.Ticket, snippet: int) -> tuple[str, str]:
    category = CATEGORIES.get(t.category, t.category)
    title = f"【客服工单】{t.brand} · {category}"
    author = t.author
    who = author.name or author.id or "匿名"
    badge = "，认证" if author.verified else ""
    lines = [
        f"## {title}",
        f"**优先级**：{t.priority:.2f}　**平台**：{t.source}　**发布**：{_when(t.published_at)}",
        f"**作者**：{who}（{author.followers:,} 粉丝{badge}）"
        + (f"　**客户**：{t.customer_id}" if t.customer_id else ""),
        "",
        f"> {_short(t.text, snippet * 4)}",
    ]
    if t.url:
        lines += ["", f"[查看原文]({t.url})"]
    lines += ["", f"`{t.ticket_key}`"]
    return title, "\n".join(lines)


def slack_mrkdwn(text: str) -> str:
    """Markdown to Slack mrkdwn: `**b**` → `*b*`, `[t](u)` → `<u|t>`, headings → bold.

    >>> slack_mrkdwn("## 标题\\n**任务** [原文](https://x.cn/1)")
    '*标题*\\n*任务* <https://x.cn/1|原文>'
    """
    text = re.sub(r"^#{1,6} (.+)$", r"**\1**", text, flags=re.MULTILINE)
    return _LINK.sub(r"<\2|\1>", _BOLD.sub(r"*\1*", text))


def plain(text: str) -> str:
    """Markdown for a terminal: markers dropped, links as `text <url>`.

    >>> plain("## 标题\\n**任务** [原文](https://x.cn/1)")
    '标题\\n任务 原文 <https://x.cn/1>'
    """
    text = re.sub(r"^#{1,6} ", "", text, flags=re.MULTILINE)
    return _LINK.sub(r"\1 <\2>", _BOLD.sub(r"\1", text)).replace("`", "")


def _dept(value: int) -> str:
    name = department_name(value)
    return DEPARTMENTS.get(name, name)


def _when(stamp: timestamp_pb2.Timestamp) -> str:
    if not stamp.seconds and not stamp.nanos:
        return "—"
    local = stamp.ToDatetime(UTC).astimezone(BEIJING)
    return f"{local.month}月{local.day}日{local:%H:%M}"


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


DELIVERY_JSON_SCHEMA = "yuqing.delivery/v1"


def delivery_dict(delivery: action_bus_pb2.Delivery) -> dict:
    """The delivery as JSON for scripts and webhooks: cursor, attempt, key, kind and the payload.

    The payload follows the protobuf JSON mapping with the .proto field names
    (so 64-bit integers such as `followers` are strings, times are RFC 3339).
    """
    kind = delivery.WhichOneof("payload") or "activation"
    message = delivery.ticket if kind == "ticket" else delivery.activation
    return {
        "schema": DELIVERY_JSON_SCHEMA,
        "cursor": delivery.cursor,
        "attempt": delivery.attempt,
        "kind": kind,
        "key": delivery.ticket.ticket_key if kind == "ticket" else delivery.activation.idempotency_key,
        "enqueued_at": delivery.enqueued_at.ToDatetime(UTC).isoformat(),
        kind: json_format.MessageToDict(message, preserving_proto_field_name=True),
    }
