"""One report document, written twice: as standalone HTML and as Markdown.

A `Report` is a title, a few facts and a list of `Section`s (text, tables,
images); `write` renders both files next to their PNG charts, so the two
formats can never say different things.

Examples
--------
>>> r = Report("日报 2026-11-20", facts=[("Mentions", "4,458")])
>>> r.add(Section("Top stories", table=Table(("story", "mentions"), [("支付失败", 274)])))
>>> print(r.markdown().splitlines()[-1])
| 支付失败 | 274 |
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

_CSS = """
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",system-ui,sans-serif;
margin:2rem auto;max-width:1100px;color:#222;line-height:1.5;padding:0 1rem}
h1{border-bottom:3px solid #d62728;padding-bottom:.3rem}h2{margin-top:2rem;color:#333}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}tr:nth-child(even) td{background:#fafafa}
.facts{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}
.fact{background:#f6f8fa;border-radius:6px;padding:.5rem .9rem}
.fact b{display:block;font-size:1.3rem}.note{color:#666;font-size:.85rem}
img{max-width:100%;border:1px solid #eee;margin:.5rem 0}
"""


@dataclass
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[object]]
    empty: str = "none"


@dataclass
class Section:
    title: str
    text: str = ""
    table: Table | None = None
    image: str = ""  # file name of a PNG beside the report
    note: str = ""


@dataclass
class Report:
    title: str
    subtitle: str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    def add(self, section: Section) -> None:
        self.sections.append(section)

    def html(self) -> str:
        e = html.escape
        out = ["<!doctype html>", '<html lang="zh-CN"><head><meta charset="utf-8">',
               f"<title>{e(self.title)}</title><style>{_CSS}</style></head><body>",
               f"<h1>{e(self.title)}</h1>"]
        if self.subtitle:
            out.append(f'<p class="note">{e(self.subtitle)}</p>')
        if self.facts:
            out.append('<div class="facts">' + "".join(
                f'<div class="fact">{e(k)}<b>{e(v)}</b></div>' for k, v in self.facts) + "</div>")
        for s in self.sections:
            out.append(f"<h2>{e(s.title)}</h2>")
            if s.text:
                out.append(f"<p>{e(s.text)}</p>")
            if s.image:
                out.append(f'<img src="{e(s.image)}" alt="{e(s.title)}">')
            if s.table is not None:
                out.append(_html_table(s.table))
            if s.note:
                out.append(f'<p class="note">{e(s.note)}</p>')
        out.append("</body></html>")
        return "\n".join(out) + "\n"

    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        if self.subtitle:
            out += [f"_{self.subtitle}_", ""]
        for k, v in self.facts:
            out.append(f"- **{k}**: {v}")
        for s in self.sections:
            out += ["", f"## {s.title}", ""]
            if s.text:
                out += [s.text, ""]
            if s.image:
                out += [f"![{s.title}]({s.image})", ""]
            if s.table is not None:
                out += _md_table(s.table)
            if s.note:
                out += ["", f"_{s.note}_"]
        return "\n".join(out).rstrip() + "\n"

    def write(self, out_dir: Path, stem: str) -> tuple[Path, Path]:
        """Write STEM.html and STEM.md in `out_dir`; return both paths."""
        html_path, md_path = out_dir / f"{stem}.html", out_dir / f"{stem}.md"
        html_path.write_text(self.html(), encoding="utf-8")
        md_path.write_text(self.markdown(), encoding="utf-8")
        return html_path, md_path


def _cell(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _html_table(table: Table) -> str:
    e = html.escape
    if not table.rows:
        return f'<p class="note">{e(table.empty)}</p>'
    head = "".join(f"<th>{e(h)}</th>" for h in table.headers)
    body = "".join("<tr>" + "".join(f"<td>{e(_cell(c))}</td>" for c in row) + "</tr>"
                   for row in table.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _md_table(table: Table) -> list[str]:
    if not table.rows:
        return [f"_{table.empty}_"]

    def clean(v: object) -> str:
        return _cell(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(clean(h) for h in table.headers) + " |",
             "|" + "---|" * len(table.headers)]
    lines += ["| " + " | ".join(clean(c) for c in row) + " |" for row in table.rows]
    return lines
