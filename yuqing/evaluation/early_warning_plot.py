"""A PNG of one key: negative mentions against the expectation, the risk score and the tiers.

Chinese labels need a CJK font; when matplotlib finds none, the labels fall
back to ASCII (Tier 1/2/3) so the plot is still readable.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

CST = timezone(timedelta(hours=8))
_CJK_HINTS = ("Noto Sans CJK", "Noto Serif CJK", "WenQuanYi", "Source Han", "SimHei",
              "Microsoft YaHei", "PingFang", "AR PL")
_TIER_COLOURS = {1: "#fff3b0", 2: "#ffc48a", 3: "#ff8a8a"}


def cjk_font() -> str | None:
    """The name of an installed font with Chinese glyphs, or None."""
    from matplotlib import font_manager

    names = sorted({f.name for f in font_manager.fontManager.ttflist})
    for hint in _CJK_HINTS:
        for name in names:
            if name.startswith(hint):
                return name
    return None


def plot_trace(trace: list[tuple], out: Path, title: str, enter: tuple[float, float, float],
               onsets: list[datetime]) -> None:
    """``trace`` rows: (at, negative in window, expected negative, score, tier)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    font = cjk_font()
    if font:
        plt.rcParams["font.family"] = [font, "DejaVu Sans"]
        tiers = {1: "一级 (低)", 2: "二级 (中)", 3: "三级 (高)"}
        labels = ("负面提及 / 5 分钟", "预期", "风险分 0–100", "等级", "危机开始")
    else:
        title = title.encode("ascii", "replace").decode("ascii")
        tiers = {1: "Tier 1 (low)", 2: "Tier 2 (medium)", 3: "Tier 3 (high)"}
        labels = ("negative mentions / 5 min", "expected", "risk score 0-100", "tier", "onset")
    at = [row[0].astimezone(CST) for row in trace]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True,
                                   gridspec_kw={"height_ratios": [1.2, 1]})
    ax1.plot(at, [r[1] for r in trace], color="#c0392b", lw=1.2, label=labels[0])
    ax1.plot(at, [r[2] for r in trace], color="#555555", lw=1.2, ls="--", label=labels[1])
    ax1.set_ylabel(labels[0])
    ax1.set_title(title)
    ax2.plot(at, [r[3] for r in trace], color="#1f4e79", lw=1.2, label=labels[2])
    for tier, level in zip((1, 2, 3), enter, strict=True):
        ax2.axhline(level, color="#888888", lw=0.8, ls=":")
        ax2.text(at[0], level + 1, tiers[tier], fontsize=8, color="#555555")
    for ax in (ax1, ax2):  # shade the tier held, as bands over time
        start, tier = at[0], trace[0][4]
        for when, row in zip([*at[1:], at[-1]], [*trace[1:], (*trace[-1][:4], -1)],
                             strict=True):
            if row[4] != tier:
                if tier:
                    ax.axvspan(start, when, color=_TIER_COLOURS[tier], alpha=0.6, lw=0)
                start, tier = when, row[4]
        for onset in onsets:
            ax.axvline(onset.astimezone(CST), color="black", lw=1, ls="--")
    handles = [plt.Rectangle((0, 0), 1, 1, color=_TIER_COLOURS[t], alpha=0.6) for t in (1, 2, 3)]
    ax2.legend([*handles, plt.Line2D([], [], color="black", ls="--")],
               [tiers[1], tiers[2], tiers[3], labels[4]], loc="upper right", fontsize=8)
    ax1.legend(loc="upper left", fontsize=8)
    ax2.set_ylim(0, 105)
    ax2.set_ylabel(labels[2])
    ax2.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=CST))
    ax2.set_xlabel("UTC+08:00")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
