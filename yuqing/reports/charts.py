"""PNG charts for the daily briefing and the incident review (matplotlib, Agg backend).

Chinese labels need a CJK font: `cjk_font()` looks for one among the fonts
installed on the machine (Noto Sans CJK, Source Han Sans, WenQuanYi, …; on
Debian `apt-get install fonts-noto-cjk`), without any network. When none is
found the charts still render, with English titles and axes, and a warning
says what to install (brand names then show as boxes).

Every chart has a title, labelled axes with units, and times in the report's
time zone.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK JP", "Noto Sans CJK TC",
    "Sarasa Gothic SC", "Microsoft YaHei", "SimHei", "PingFang SC", "Heiti SC",
    "AR PL UMing CN", "Droid Sans Fallback", "Noto Serif CJK SC",
)
INSTALL_HINT = ("no CJK font found: charts use English labels and Chinese names render as boxes; "
                "install one, e.g. `apt-get install fonts-noto-cjk` (Debian/Ubuntu)")
TIER_COLORS = {0: "#8fbc8f", 1: "#f2c84b", 2: "#f28c28", 3: "#d62728"}
SENTIMENT_COLORS = {"negative": "#d62728", "neutral": "#a0a0a0", "positive": "#2ca02c"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@cache
def cjk_font() -> str | None:
    """The family name of an installed CJK font, or None (then a warning is logged once)."""
    _pyplot()
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in installed:
            return family
    for name in sorted(installed):  # any other face that says it is CJK
        if any(tag in name for tag in ("CJK", "Hei", "Han Sans", "Ming", "Song")):
            return name
    log.warning(INSTALL_HINT)
    return None


def label(zh: str, en: str) -> str:
    """`zh` (Chinese, usually with the English beside it) with a CJK font, else `en`."""
    return zh if cjk_font() else en


def _figure(width: float = 10.0, height: float = 4.8):
    plt = _pyplot()
    family = cjk_font()
    rc = {"font.family": "sans-serif", "axes.unicode_minus": False, "figure.dpi": 110,
          "axes.titlesize": 13, "axes.titleweight": "bold", "axes.grid": True,
          "grid.alpha": 0.3}
    if family:
        rc["font.sans-serif"] = [family, "DejaVu Sans"]
    with plt.rc_context(rc):
        fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    return plt, fig, ax, rc


def _save(plt, fig, rc: dict, path: Path) -> Path:
    with plt.rc_context(rc), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.savefig(path, format="png")
    plt.close(fig)
    return path


def _time_axis(ax, tz: tzinfo, every_hours: int | None = None) -> None:
    import matplotlib.dates as mdates

    if every_hours:
        ax.xaxis.set_major_locator(mdates.HourLocator(byhour=range(0, 24, every_hours), tz=tz))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=tz))


def volume_chart(series: Mapping[str, Sequence[tuple[datetime, int]]], path: Path, *, day: str,
                 tz: tzinfo, tz_name: str) -> Path:
    """Mentions per hour, one line per brand."""
    plt, fig, ax, rc = _figure()
    with plt.rc_context(rc):
        for brand, points in sorted(series.items()):
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.8, label=brand)
        ax.set_title(label(f"各品牌每小时提及量 Mentions per hour by brand, {day}",
                           f"Mentions per hour by brand, {day}"))
        ax.set_xlabel(label(f"时间 time ({tz_name})", f"time ({tz_name})"))
        ax.set_ylabel(label("提及量 mentions per hour", "mentions per hour"))
        _time_axis(ax, tz, every_hours=2)
        ax.set_ylim(bottom=0)
        if series:
            ax.legend(loc="upper left", fontsize=9)
    return _save(plt, fig, rc, path)


def sentiment_chart(mix: Mapping[str, Mapping[str, int]], path: Path, *, day: str) -> Path:
    """Stacked horizontal bars: negative / neutral / positive mentions per brand."""
    plt, fig, ax, rc = _figure(height=0.6 * max(len(mix), 3) + 1.6)
    with plt.rc_context(rc):
        brands = sorted(mix, key=lambda b: sum(mix[b].values()))
        left = [0] * len(brands)
        for sentiment, zh in (("negative", "负面"), ("neutral", "中性"), ("positive", "正面")):
            counts = [mix[b].get(sentiment, 0) for b in brands]
            ax.barh(brands, counts, left=left, color=SENTIMENT_COLORS[sentiment],
                    label=label(f"{zh} {sentiment}", sentiment))
            left = [a + b for a, b in zip(left, counts, strict=True)]
        ax.set_title(label(f"各品牌情感构成 Sentiment by brand, {day}", f"Sentiment by brand, {day}"))
        ax.set_xlabel(label("提及量 mentions", "mentions"))
        ax.set_ylabel(label("品牌 brand", "brand"))
        ax.legend(loc="lower right", fontsize=9)
        ax.grid(axis="y", visible=False)
    return _save(plt, fig, rc, path)


def playbook_chart(counts: Mapping[str, int], path: Path, *, day: str) -> Path:
    """Activations per playbook."""
    plt, fig, ax, rc = _figure(height=0.5 * max(len(counts), 3) + 1.6)
    with plt.rc_context(rc):
        names = sorted(counts, key=counts.get)
        ax.barh(names, [counts[n] for n in names], color="#4c72b0")
        ax.set_title(label(f"预案启动次数 Playbook activations, {day}",
                           f"Playbook activations, {day}"))
        ax.set_xlabel(label("启动次数 activations", "activations"))
        ax.set_ylabel(label("预案 playbook", "playbook"))
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(axis="y", visible=False)
    return _save(plt, fig, rc, path)


def _per(interval: timedelta) -> tuple[str, str]:
    """'5 min' / '1 h' for an axis label, in Chinese and English."""
    minutes = max(1, round(interval.total_seconds() / 60))
    if minutes % 60 == 0:
        return f"每{minutes // 60}小时", f"{minutes // 60} h"
    return f"每{minutes}分钟", f"{minutes} min"


def tier_labels(changes: Sequence[tuple[datetime, int, float]], start: datetime, end: datetime,
                min_gap: float = 0.04) -> list[tuple[datetime, list[int]]]:
    """Tier changes grouped so that no two labels sit closer than `min_gap` of the time axis.

    A burst that climbs 一级→二级→三级 within minutes gets one label for the
    climb instead of three printed over each other.
    """
    span = max((end - start).total_seconds(), 1.0)
    groups: list[tuple[datetime, list[int]]] = []
    for at, tier, _ in changes:
        if groups and (at - groups[-1][0]).total_seconds() / span < min_gap:
            groups[-1][1].append(tier)
        else:
            groups.append((at, [tier]))
    return groups


def _tier_text(tiers: list[int]) -> str:
    names = ["结束", "一级", "二级", "三级"]
    zh = "→".join(names[min(t, 3)] for t in tiers)
    en = "→".join(str(t) for t in tiers)
    return label(f"{zh} tier {en}", f"tier {en}")


def incident_chart(volume: Sequence[tuple[datetime, int, int]],
                   changes: Sequence[tuple[datetime, int, float]], path: Path, *, title: str,
                   tz: tzinfo, tz_name: str, end: datetime,
                   interval: timedelta = timedelta(minutes=1)) -> Path:
    """Mentions and negative mentions per `interval` (bars) under the risk score (steps, tier-coloured)."""
    plt, fig, ax, rc = _figure(height=5.2)
    per_zh, per_en = _per(interval)
    with plt.rc_context(rc):
        if volume:
            xs = [v[0] for v in volume]
            width = interval * 0.9
            ax.bar(xs, [v[1] for v in volume], width=width, color="#c6d4e1", align="edge",
                   label=label("提及量 mentions", "mentions"))
            ax.bar(xs, [v[2] for v in volume], width=width, color="#e58e8e", align="edge",
                   label=label("负面 negative", "negative"))
        ax.set_ylabel(label(f"{per_zh}提及量 mentions per {per_en}", f"mentions per {per_en}"))
        ax.set_xlabel(label(f"时间 time ({tz_name})", f"time ({tz_name})"))
        ax.set_title(title)
        _time_axis(ax, tz)
        score = ax.twinx()
        if changes:
            times = [c[0] for c in changes] + [end]
            scores = [c[2] for c in changes] + [changes[-1][2]]
            score.step(times, scores, where="post", color="black", linewidth=1.6,
                       label=label("风险分 risk score", "risk score"))
            for at, tier, _ in changes:
                score.axvline(at, color=TIER_COLORS.get(tier, "grey"), linewidth=2, alpha=0.8)
            start = min([c[0] for c in changes] + [v[0] for v in volume])
            for at, tiers in tier_labels(changes, start, end):
                score.annotate(_tier_text(tiers), (at, 103), xytext=(2, 0),
                               textcoords="offset points", fontsize=8, rotation=90, va="top",
                               ha="left", color=TIER_COLORS.get(max(tiers), "grey"),
                               fontweight="bold", bbox={"facecolor": "white", "alpha": 0.8,
                                                        "edgecolor": "none", "pad": 1})
        score.set_ylim(0, 105)
        score.set_ylabel(label("风险分 risk score (0-100)", "risk score (0-100)"))
        score.grid(visible=False)
        handles = ax.get_legend_handles_labels()
        more = score.get_legend_handles_labels()
        if handles[0] or more[0]:
            ax.legend(handles[0] + more[0], handles[1] + more[1], loc="upper center",
                      bbox_to_anchor=(0.5, -0.13), ncol=3, fontsize=9, frameon=False)
    return _save(plt, fig, rc, path)
