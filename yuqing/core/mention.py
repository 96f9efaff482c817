"""The mention contract (design.md, "Contracts"): parsing and validation at the edge.

Inside the flow a mention is a typed, immutable `Mention`. Anything that breaks
the contract becomes an `InvalidMention` with a reason a person can act on, so
the dead-letter output can say exactly why a record was refused.

Every field has a bound, so that a line that passes here can never stop a
later step or fail a sink: a record is at most `MAX_RECORD_BYTES`; strings
have a length limit each, no lone surrogates, and ids, sources and brands no
control characters; counts are integers from 0 to `MAX_COUNT` (followers to
`MAX_FOLLOWERS`); ``published_at`` lies between `EARLIEST` and
`MAX_AHEAD` after the wall clock.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson

from yuqing.core.ticks import MICROSECOND, from_ticks, ticks

SCHEMA_VERSION = "yuqing.mention/v1"
MAX_TEXT_CHARS = 20_000
MAX_RECORD_BYTES = 1 << 20  # a whole line or message
MAX_COUNT = 4_294_967_295  # reposts, comments, likes (UInt32 in ClickHouse)
MAX_FOLLOWERS = 10_000_000_000  # far above any real account; reach sums stay in UInt64
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_AHEAD = timedelta(days=1)  # collectors' clocks drift; a year ahead is a broken record
_OPTIONAL_STRINGS = ("title", "url", "lang", "parent_id", "brand")
MAX_CHARS = {"id": 512, "source": 64, "published_at": 64, "text": MAX_TEXT_CHARS,
             "parent_id": 512, "brand": 128, "url": 8192,
             "title": 2000, "lang": 35, "author.id": 256, "author.name": 256}
_KEYS = frozenset(("id", "source", "parent_id", "brand", "author.id"))  # used as keys: no controls
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


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

    def __reduce__(self) -> tuple:
        """Pickle as one flat tuple: mentions cross between cluster processes by pickle, and
        the dataclass default (a state list per object, the UTC tzinfo reduced each time)
        took 3x as long."""
        a, e, at = self.author, self.engagement, self.published_at
        if at.tzinfo is UTC:
            at = ticks(at, MICROSECOND)
        return (_mention_of, (self.id, self.source, at, self.text, self.title, self.url, self.lang,
                              a.id, a.name, a.followers, a.verified, e.reposts, e.comments, e.likes,
                              self.parent_id, self.brand))

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


def _mention_of(mention_id, source, at, text, title, url, lang, author_id, author_name, followers,
                verified, reposts, comments, likes, parent_id, brand) -> Mention:
    """A mention from the tuple of `Mention.__reduce__`."""
    if isinstance(at, int):
        at = from_ticks(at, MICROSECOND)
    return Mention(mention_id, source, at, text, title, url, lang,
                   Author(author_id, author_name, followers, verified),
                   Engagement(reposts, comments, likes), parent_id, brand)


def parse_mention(raw: bytes | str, now: datetime | None = None) -> Mention:
    """Decode and validate one JSON mention, or raise `InvalidMention(reason)`."""
    if len(raw) > MAX_RECORD_BYTES:
        raise InvalidMention(f"record: {len(raw):,} bytes, the limit is {MAX_RECORD_BYTES:,}")
    try:  # orjson reads about 3x faster; what it refuses or reads apart takes the slow path
        fast = orjson.loads(raw)
    except orjson.JSONDecodeError:
        fast = None
    if isinstance(fast, dict):
        try:
            return mention_from_dict(fast, now)
        except InvalidMention:
            pass  # the reason comes from the standard library's reading, as it always did
    obj = _lenient_loads(raw)
    if not isinstance(obj, dict):
        raise InvalidMention(f"expected a JSON object, got {type(obj).__name__}")
    return mention_from_dict(obj, now)


def _lenient_loads(raw: bytes | str) -> object:
    """The standard library's reading, whose reasons the contract's messages quote.

    orjson refuses lone surrogates, NaN and deep nesting, which this reads
    and the contract then refuses with its own reasons, and it reads an
    integer beyond 64 bits as a float, which would change the reason given.
    A record orjson reads into a valid mention reads the same here.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
    except UnicodeDecodeError as err:
        raise InvalidMention(f"not UTF-8 at byte {err.start}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidMention(f"not JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except RecursionError:
        raise InvalidMention("not JSON we accept: nested too deep") from None
    except ValueError as err:  # e.g. an integer of thousands of digits
        raise InvalidMention(f"not JSON we accept: {str(err).split(';')[0]}") from None
    return obj


def mention_from_dict(obj: dict, now: datetime | None = None) -> Mention:
    """Validate a decoded JSON object against the mention contract."""
    mention_id = _required_string(obj, "id")
    source = _required_string(obj, "source").lower()
    published_at = parse_timestamp(_required_string(obj, "published_at"), now)
    text = _required_string(obj, "text", MAX_TEXT_CHARS)
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


def parse_timestamp(value: str, now: datetime | None = None) -> datetime:
    """RFC 3339 with an explicit offset (or Z), returned in UTC, between `EARLIEST` and now + `MAX_AHEAD`."""
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidMention(
            f"published_at: {value!r} is not RFC 3339 (e.g. 2026-11-23T08:15:00+08:00)"
        ) from None
    if stamp.tzinfo is None:
        raise InvalidMention(f"published_at: {value!r} has no UTC offset (add Z or +08:00)")
    try:
        stamp = stamp.astimezone(UTC)
    except OverflowError:
        raise InvalidMention(f"published_at: {value!r} is out of range") from None
    latest = (now or datetime.now(UTC)) + MAX_AHEAD
    if not EARLIEST <= stamp <= latest:
        raise InvalidMention(f"published_at: {value!r} is outside {EARLIEST:%Y-%m-%d} .. "
                             f"{latest:%Y-%m-%dT%H:%M}Z (now + {MAX_AHEAD.days} day); "
                             "fix the collector's clock or the field")
    return stamp


def _checked(name: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidMention(f"{name}: {len(value):,} chars, the limit is {limit:,}")
    if _SURROGATE.search(value):
        raise InvalidMention(f"{name}: not valid Unicode (a lone surrogate such as \\ud800)")
    if name in _KEYS and _CONTROL.search(value):
        raise InvalidMention(f"{name}: control characters are not allowed")
    return value


def _required_string(obj: dict, name: str, limit: int | None = None) -> str:
    value = obj.get(name)
    if value is None:
        raise InvalidMention(f"{name}: required field is missing")
    if not isinstance(value, str):
        raise InvalidMention(f"{name}: expected a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidMention(f"{name}: must not be empty")
    return _checked(name, value, limit or MAX_CHARS[name])


def _optional_string(obj: dict, name: str, where: str = "") -> str:
    value = obj.get(name)
    if value is None:
        return ""
    path = f"{where}.{name}" if where else name
    if not isinstance(value, str):
        raise InvalidMention(f"{path}: expected a string, got {type(value).__name__}")
    return _checked(path, value, MAX_CHARS[path])


def _count(obj: dict, name: str, where: str, limit: int = MAX_COUNT) -> int:
    value = obj.get(name, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidMention(f"{where}.{name}: expected an integer, got {type(value).__name__}")
    if value < 0:
        raise InvalidMention(f"{where}.{name}: must be >= 0, got {value}")
    if value > limit:
        raise InvalidMention(f"{where}.{name}: {value} is above the limit {limit:,}")
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
        id=_optional_string(value, "id", "author"),
        name=_optional_string(value, "name", "author"),
        followers=_count(value, "followers", "author", MAX_FOLLOWERS),
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
