"""The mention contract (design.md, "Contracts"): parsing and validation at the edge.

Inside the flow a mention is a typed, immutable `Mention`. Anything that breaks
the contract becomes an `InvalidMention` with a reason a person can act on, so
the dead-letter output can say exactly why a record was refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

SCHEMA_VERSION = "yuqing.mention/v1"
MAX_TEXT_CHARS = 20_000
_OPTIONAL_STRINGS = ("title", "url", "lang", "parent_id", "brand")


class InvalidMention(ValueError):
    """A record that breaks the mention contract; the message is the DLQ reason."""


@dataclass(frozen=True, slots=True)
class Author:
    """Who wrote a mention; `followers` drives reach."""

    id: str = ""
    name: str = ""
    followers: int = 0
    verified: bool = False


@dataclass(frozen=True, slots=True)
class Engagement:
    """Reactions to a mention at collection time."""

    reposts: int = 0
    comments: int = 0
    likes: int = 0

    @property
    def total(self) -> int:
        return self.reposts + self.comments + self.likes


@dataclass(frozen=True, slots=True)
class Mention:
    """One validated mention; `published_at` is timezone-aware UTC (event time)."""

    id: str
    source: str
    published_at: datetime
    text: str
    title: str = ""
    url: str = ""
    lang: str = ""
    author: Author = field(default_factory=Author)
    engagement: Engagement = field(default_factory=Engagement)
    parent_id: str = ""
    brand: str = ""

    def to_json(self) -> dict:
        """The contract's JSON shape (what `parse_mention` accepts back)."""
        out: dict = {
            "id": self.id,
            "source": self.source,
            "published_at": self.published_at.isoformat(),
            "text": self.text,
        }
        for name in _OPTIONAL_STRINGS:
            value = getattr(self, name)
            if value:
                out[name] = value
        if self.author != Author():
            out["author"] = {
                "id": self.author.id,
                "name": self.author.name,
                "followers": self.author.followers,
                "verified": self.author.verified,
            }
        if self.engagement != Engagement():
            out["engagement"] = {
                "reposts": self.engagement.reposts,
                "comments": self.engagement.comments,
                "likes": self.engagement.likes,
            }
        return out


def parse_mention(raw: bytes | str) -> Mention:
    """Decode and validate one JSON mention, or raise `InvalidMention(reason)`."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
    except UnicodeDecodeError as err:
        raise InvalidMention(f"not UTF-8 at byte {err.start}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidMention(f"not JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    if not isinstance(obj, dict):
        raise InvalidMention(f"expected a JSON object, got {type(obj).__name__}")
    return mention_from_dict(obj)


def mention_from_dict(obj: dict) -> Mention:
    """Validate a decoded JSON object against the mention contract."""
    mention_id = _required_string(obj, "id")
    source = _required_string(obj, "source").lower()
    published_at = parse_timestamp(_required_string(obj, "published_at"))
    text = _required_string(obj, "text")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidMention(f"text: {len(text)} chars, the limit is {MAX_TEXT_CHARS}")
    optional = {name: _optional_string(obj, name) for name in _OPTIONAL_STRINGS}
    return Mention(
        id=mention_id,
        source=source,
        published_at=published_at,
        text=text,
        author=_author(obj.get("author")),
        engagement=_engagement(obj.get("engagement")),
        **optional,
    )


def parse_timestamp(value: str) -> datetime:
    """RFC 3339 with an explicit offset (or Z), returned in UTC."""
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidMention(
            f"published_at: {value!r} is not RFC 3339 (e.g. 2026-11-23T08:15:00+08:00)"
        ) from None
    if stamp.tzinfo is None:
        raise InvalidMention(f"published_at: {value!r} has no UTC offset (add Z or +08:00)")
    return stamp.astimezone(UTC)


def _required_string(obj: dict, name: str) -> str:
    value = obj.get(name)
    if value is None:
        raise InvalidMention(f"{name}: required field is missing")
    if not isinstance(value, str):
        raise InvalidMention(f"{name}: expected a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidMention(f"{name}: must not be empty")
    return value


def _optional_string(obj: dict, name: str) -> str:
    value = obj.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidMention(f"{name}: expected a string, got {type(value).__name__}")
    return value


def _count(obj: dict, name: str, where: str) -> int:
    value = obj.get(name, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidMention(f"{where}.{name}: expected an integer, got {type(value).__name__}")
    if value < 0:
        raise InvalidMention(f"{where}.{name}: must be >= 0, got {value}")
    return value


def _author(value: object) -> Author:
    if value is None:
        return Author()
    if not isinstance(value, dict):
        raise InvalidMention(f"author: expected an object, got {type(value).__name__}")
    verified = value.get("verified", False)
    if not isinstance(verified, bool):
        raise InvalidMention(f"author.verified: expected true/false, got {verified!r}")
    return Author(
        id=_optional_string(value, "id"),
        name=_optional_string(value, "name"),
        followers=_count(value, "followers", "author"),
        verified=verified,
    )


def _engagement(value: object) -> Engagement:
    if value is None:
        return Engagement()
    if not isinstance(value, dict):
        raise InvalidMention(f"engagement: expected an object, got {type(value).__name__}")
    return Engagement(
        reposts=_count(value, "reposts", "engagement"),
        comments=_count(value, "comments", "engagement"),
        likes=_count(value, "likes", "engagement"),
    )
