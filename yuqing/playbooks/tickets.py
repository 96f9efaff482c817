"""Complaint tickets (客服工单): a customer's complaint as a `yuqing.v1.Ticket` for customer service.

A mention is a complaint when its category is a complaint category
(`complaint_*`), or when it is negative and its author is a known customer:
the user keeps a customer map from `source:author_id` to the id of the
customer's record. The ticket is keyed by the mention (`ticket/<mention id>`),
so a CRM runner opens one ticket per complaint, and its priority is the
author's influence in [0, 1]:

    priority = 0.6 · min(1, log10(1 + followers) / 7)
             + 0.15 · verified
             + 0.25 · min(1, log10(1 + reposts + comments + likes) / 5)

Ten million followers fill the first term, a hundred thousand reactions the last.

>>> round(influence(followers=120_000, verified=True, engagement=300), 3)
0.709
>>> round(influence(followers=15, verified=False, engagement=0), 3)
0.103
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from yuqing.core.enriched import EnrichedMention
from yuqing.core.mention import Mention
from yuqing.core.yaml_text import YAMLError, load_yaml
from yuqing.errors import UserError
from yuqing.proto import TICKET_SCHEMA_VERSION, activation_pb2

pb = activation_pb2


class CustomerMap:
    """Author accounts the user knows as customers: `source:author_id` (or bare author id) → record id.

    >>> customers = CustomerMap({"weibo:u1": "C-0001", "u9": "C-0009"})
    >>> customers.customer_of("weibo", "u1"), customers.customer_of("douyin", "u9"), customers.customer_of("x", "u1")
    ('C-0001', 'C-0009', '')
    """

    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        self._ids = {str(k): str(v) for k, v in (mapping or {}).items() if v not in (None, "")}

    def __len__(self) -> int:
        return len(self._ids)

    def customer_of(self, source: str, author_id: str) -> str:
        if not author_id:
            return ""
        return self._ids.get(f"{source}:{author_id}") or self._ids.get(author_id, "")

    @classmethod
    def load(cls, path: str | Path) -> CustomerMap:
        """A YAML (or JSON) file: `weibo:123: C-0001` lines, or `weibo: {123: C-0001}` per source."""
        try:
            data = load_yaml(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, YAMLError) as err:
            raise UserError(f"customer map {path}: cannot read it ({err}); give a YAML mapping "
                            "of source:author_id to customer id") from None
        if not isinstance(data, dict):
            raise UserError(f"customer map {path}: expected a mapping like `weibo:123: C-0001`")
        flat: dict[str, str] = {}
        for key, value in data.items():
            if isinstance(value, dict):
                flat.update({f"{key}:{author}": str(customer) for author, customer in value.items()})
            else:
                flat[str(key)] = str(value)
        return cls(flat)


def influence(followers: int, verified: bool, engagement: int) -> float:
    """The author's influence in [0, 1] (see the module docstring)."""
    reach = min(1.0, math.log10(1 + max(0, followers)) / 7)
    echo = min(1.0, math.log10(1 + max(0, engagement)) / 5)
    return 0.6 * reach + 0.15 * bool(verified) + 0.25 * echo


def is_complaint(category: str, negative: bool, customer_id: str = "") -> bool:
    """A complaint category, or a negative mention by a known customer.

    >>> is_complaint("complaint_fees", negative=False), is_complaint("outage", True, "C-1")
    (True, True)
    >>> is_complaint("outage", negative=True)
    False
    """
    return category.startswith("complaint") or (negative and bool(customer_id))


def ticket_key(mention_id: str) -> str:
    return f"ticket/{mention_id}"


def build_ticket(
    mention: Mention,
    *,
    brand: str,
    category: str,
    customer_id: str = "",
    incident_id: str = "",
    created_at: datetime | None = None,
) -> activation_pb2.Ticket:
    """The ticket for one complaint mention, prioritised by its author's influence."""
    author, engagement = mention.author, mention.engagement
    ticket = pb.Ticket(
        schema_version=TICKET_SCHEMA_VERSION,
        ticket_key=ticket_key(mention.id),
        mention_id=mention.id, brand=brand, category=category, source=mention.source,
        title=mention.title, text=mention.text, url=mention.url,
        author=pb.Author(id=author.id, name=author.name, followers=author.followers,
                         verified=author.verified),
        engagement=pb.Engagement(reposts=engagement.reposts, comments=engagement.comments,
                                 likes=engagement.likes),
        priority=round(influence(author.followers, author.verified, engagement.total), 4),
        department=pb.DEPARTMENT_CUSTOMER_SERVICE,
        incident_id=incident_id, customer_id=customer_id,
    )
    ticket.published_at.FromDatetime(mention.published_at)
    ticket.created_at.FromDatetime(created_at or datetime.now(UTC))
    return ticket


def complaint_ticket(
    enriched: EnrichedMention,
    customers: CustomerMap | None = None,
    *,
    incident_id: str = "",
    created_at: datetime | None = None,
) -> activation_pb2.Ticket | None:
    """The ticket when the mention is a complaint, else None."""
    m = enriched.mention
    customer = customers.customer_of(m.source, m.author.id) if customers else ""
    if not is_complaint(enriched.category, enriched.is_negative, customer):
        return None
    return build_ticket(m, brand=enriched.brand, category=enriched.category, customer_id=customer,
                        incident_id=incident_id, created_at=created_at)
