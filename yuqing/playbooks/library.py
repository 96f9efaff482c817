"""The strategy library (策略库): playbook folders loaded, validated and matched to incidents.

The shipped library lives in `yuqing/data/playbooks/` (inside the package, so
it ships in the wheel); users add folders of their own. Loading collects every
issue of every file; an invalid library is refused as a whole, with the
reasons, so the service never runs on half a library.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yuqing.core.yaml_text import YAMLError, load_yaml_all
from yuqing.errors import UserError
from yuqing.playbooks.schema import ANY_CATEGORY, Playbook, PlaybookIssue, parse_playbook


def shipped_playbook_dir() -> Path:
    """The folder of the shipped playbooks, in a source checkout and in an installed wheel."""
    return Path(__file__).resolve().parent.parent / "data" / "playbooks"


class PlaybookLibraryError(UserError):
    """The library has issues; `issues` lists all of them."""

    def __init__(self, issues: list[PlaybookIssue]) -> None:
        self.issues = issues
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(
            f"invalid playbook library: {issues[0]}{more}; "
            "run `yuqing playbooks validate DIR` to list every error"
        )


def read_playbooks(dirs: Iterable[str | Path]) -> tuple[list[Playbook], list[PlaybookIssue]]:
    """Parse every `*.yaml` / `*.yml` under `dirs`; the valid playbooks and all issues."""
    playbooks: list[Playbook] = []
    issues: list[PlaybookIssue] = []
    owners: dict[str, str] = {}
    for folder in map(Path, dirs):
        if not folder.is_dir():
            issues.append(PlaybookIssue(str(folder), "(folder)", "not a folder",
                                        "give the path of a folder of playbook YAML files"))
            continue
        files = sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml")
                       and p.is_file() and not p.name.startswith("."))
        if not files:
            issues.append(PlaybookIssue(str(folder), "(folder)", "no playbook files (*.yaml)",
                                        "add playbooks or drop this folder from the flags"))
        for path in files:
            playbook, found, pid = _read_file(path)
            issues.extend(found)
            if isinstance(pid, str) and pid in owners:
                issues.append(PlaybookIssue(
                    str(path), "id", f"duplicate id {pid!r}, also in {owners[pid]}",
                    "give this playbook its own id; to adapt a shipped one, copy it under a new id "
                    "and narrow match.brands (brand-specific playbooks are matched first)"))
                continue
            if isinstance(pid, str):
                owners[pid] = str(path)
            if playbook is not None:
                playbooks.append(playbook)
    return playbooks, issues


def _read_file(path: Path) -> tuple[Playbook | None, list[PlaybookIssue], Any]:
    """The playbook (None when invalid), its issues, and the raw `id` for duplicate checks."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return None, [PlaybookIssue(str(path), "(file)", f"cannot read ({err})",
                                    "save the file as UTF-8 text readable by the service")], None
    try:
        docs = [d for d in load_yaml_all(text) if d is not None]
    except YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        return None, [PlaybookIssue(str(path), "(file)", f"not valid YAML{where}: {problem}",
                                    "fix the YAML syntax there (indentation, quotes, colons)")], None
    if len(docs) != 1:
        return None, [PlaybookIssue(str(path), "(file)", f"{len(docs)} YAML documents",
                                    "put exactly one playbook in each file")], None
    raw_id = docs[0].get("id") if isinstance(docs[0], dict) else None
    return (*parse_playbook(docs[0], path), raw_id)


@dataclass(frozen=True)
class PlaybookLibrary:
    """A validated set of playbooks with unique ids."""

    playbooks: tuple[Playbook, ...]

    @classmethod
    def load(cls, dirs: Iterable[str | Path] = (), *, shipped: bool = True) -> PlaybookLibrary:
        """The shipped library (unless `shipped=False`) plus `dirs`; raises PlaybookLibraryError."""
        folders = [*([shipped_playbook_dir()] if shipped else []), *dirs]
        playbooks, issues = read_playbooks(folders)
        if issues:
            raise PlaybookLibraryError(issues)
        return cls(tuple(sorted(playbooks, key=lambda p: p.id)))

    def __len__(self) -> int:
        return len(self.playbooks)

    def get(self, playbook_id: str) -> Playbook | None:
        return next((p for p in self.playbooks if p.id == playbook_id), None)

    def match(
        self,
        brand: str,
        category: str,
        tier: int,
        sources: Iterable[str] = (),
        keywords: Iterable[str] = (),
        *,
        sector: str = "",
        metrics: Mapping[str, Any] | None = None,
    ) -> list[Playbook]:
        """The playbooks for an incident, most specific first.

        A playbook matches when its category is the incident's, the tier has
        reached `trigger.min_tier`, and each non-empty `match` list agrees
        (brands, sectors, sources; a keyword must occur in one of `keywords`
        when `require_keyword` is set). When `metrics` (mention_count,
        risk_score, negative_ratio) are given, the trigger thresholds apply.
        Order: brand-specific, then sector-specific, then more keyword hits,
        then source-specific, then id.

        A playbook of category ``*`` matches any category and is the fallback:
        it comes only when no playbook of the incident's own category matches,
        so every incident (``other``, the brand-wide ``*``) gets a response.
        """
        sources, keywords = list(sources), list(keywords)
        return (self._match(brand, category, tier, sources, keywords, sector, metrics)
                or self._match(brand, ANY_CATEGORY, tier, sources, keywords, sector, metrics))

    def _match(self, brand: str, category: str, tier: int, sources: Iterable[str],
               keywords: Iterable[str], sector: str, metrics: Mapping[str, Any] | None
               ) -> list[Playbook]:
        incident_sources = set(sources)
        texts = [k for k in keywords if isinstance(k, str) and k]
        ranked = []
        for p in self.playbooks:
            m = p.match
            if p.category != category or tier < p.trigger.min_tier:
                continue
            if (m.brands and brand not in m.brands) or (m.sectors and sector not in m.sectors):
                continue
            if m.sources and not incident_sources & set(m.sources):
                continue
            hits = sum(any(k in text for text in texts) for k in m.keywords)
            if m.require_keyword and not hits:
                continue
            if metrics is not None and not _meets(p, metrics):
                continue
            ranked.append(((not m.brands, not m.sectors, -hits, not m.sources, p.id), p))
        return [p for _, p in sorted(ranked, key=lambda pair: pair[0])]


def _meets(playbook: Playbook, metrics: Mapping[str, Any]) -> bool:
    t = playbook.trigger
    pairs = (("mention_count", t.min_mentions), ("risk_score", t.min_risk_score),
             ("negative_ratio", t.min_negative_ratio))
    for key, floor in pairs:
        value = metrics.get(key)
        if floor and isinstance(value, int | float) and value < floor:
            return False
    return True
