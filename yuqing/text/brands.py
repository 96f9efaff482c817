"""Brand dictionary: which brand a mention is about when the collector did not say.

One regular expression over every alias (longest first) finds the earliest
brand name in the title or text in a single pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from yuqing.core.yaml_text import YAMLError, load_yaml
from yuqing.errors import UserError

UNKNOWN_BRAND = "unknown"


@dataclass(frozen=True)
class Brand:
    """A canonical brand name, its sector and the aliases that refer to it."""

    name: str
    sector: str
    aliases: tuple[str, ...]


def load_brands(paths: Iterable[Path] = ()) -> list[Brand]:
    """The shipped dictionary plus user files; a later file's brand replaces an earlier one."""
    merged: dict[str, Brand] = {}
    shipped = resources.files("yuqing").joinpath("data/brands.yaml").read_text(encoding="utf-8")
    sources: list[tuple[str, str]] = [("shipped brands.yaml", shipped)]
    for path in paths:
        try:
            sources.append((str(path), Path(path).read_text(encoding="utf-8")))
        except OSError as err:
            raise UserError(f"--brands {path}: cannot read ({err.strerror}); give a YAML file") from None
    for origin, text in sources:
        for brand in _parse(origin, text):
            merged[brand.name] = brand
    return list(merged.values())


def _parse(origin: str, text: str) -> list[Brand]:
    try:
        data = load_yaml(text) or {}
    except YAMLError as err:
        raise UserError(f"{origin}: not valid YAML ({err}); see yuqing/data/brands.yaml") from None
    if not isinstance(data, dict):
        raise UserError(f"{origin}: expected a mapping of brand -> {{sector, aliases}}")
    brands = []
    for name, entry in data.items():
        entry = entry or {}
        aliases = entry.get("aliases", []) if isinstance(entry, dict) else None
        if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
            raise UserError(f"{origin}: brand {name!r}: aliases must be a list of non-empty strings")
        brands.append(Brand(str(name), str(entry.get("sector", "")), (str(name), *aliases)))
    return brands


class BrandMatcher:
    """Finds the first brand alias in a text.

    Examples
    --------
    >>> matcher = BrandMatcher([Brand("星汇支付", "fintech", ("星汇支付", "星汇"))])
    >>> matcher.match("今天星汇又无法提现了")
    '星汇支付'
    >>> matcher.match("天气不错") is None
    True
    """

    def __init__(self, brands: Iterable[Brand]) -> None:
        self.brands = list(brands)
        self._by_alias = {a.lower(): b.name for b in self.brands for a in b.aliases}
        aliases = sorted(self._by_alias, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, aliases)), re.IGNORECASE) if aliases else None

    @classmethod
    def default(cls, extra: Iterable[Path] = ()) -> BrandMatcher:
        return cls(load_brands(extra))

    def match(self, text: str) -> str | None:
        if self._pattern is None:
            return None
        found = self._pattern.search(text)
        return self._by_alias[found.group(0).lower()] if found else None

    def sector(self, brand: str) -> str:
        return next((b.sector for b in self.brands if b.name == brand), "")

    def knows(self, brand: str) -> bool:
        """Whether ``brand`` is a configured brand's name or alias."""
        return brand.lower() in self._by_alias


class BrandGate:
    """A bound on the brands the flow keeps state for.

    Brands come from the brand dictionary. A collector may also name a brand
    the dictionary does not know (the mention's ``brand`` field): such brands
    are admitted, in the order they first appear, up to ``limit``; a mention
    of a further new one is refused (the flow dead-letters it with the reason),
    so per-brand state cannot grow without bound however many names arrive.

    >>> gate = BrandGate(BrandMatcher([Brand("星汇支付", "fintech", ("星汇支付",))]), limit=2)
    >>> [gate.admits(b) for b in ("星汇支付", "甲", "乙", "甲", "丙", "星汇支付")]
    [True, True, True, True, False, True]
    """

    def __init__(self, brands: BrandMatcher, limit: int = 1000) -> None:
        self.brands = brands
        self.limit = limit
        self.unconfigured: set[str] = set()

    def admits(self, brand: str) -> bool:
        if brand in self.unconfigured or self.brands.knows(brand):
            return True
        if len(self.unconfigured) < self.limit:
            self.unconfigured.add(brand)
            return True
        return False
