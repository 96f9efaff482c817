"""`yuqing warn`: evaluate the early warning on labelled demo streams, plot it, record verdicts.

    yuqing warn eval [--hours 48] [--seed N] [--expectation NAME] [--warning-config FILE]
    yuqing warn plot --out FILE.png [--hours 6] [--brand 星汇支付] [--category outage]
    yuqing warn false-alarm --incident-id ID --brand B --category C [--out FILE]

`eval` prints one row per crisis (delay to 二级, tiers), the false incidents,
the pipeline-health results, then one JSON line with the totals.
`false-alarm` writes the analyst's verdict as a `yuqing.feedback/v1` line
(stdout or appended to FILE) for the flow's feedback input, which hands it
to `BrandMonitor.mark_false_alarm`.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from yuqing.errors import UserError
from yuqing.evaluation.demo import DemoConfig, scenario
from yuqing.warning.config import WarningConfig
from yuqing.warning.expectation import EXPECTATIONS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "warn", help="early warning: evaluate on labelled demo crises, plot, false alarms",
        description="Evaluate the early warning (risk score, tiers, incidents, silence) on demo "
        "streams with labelled crises, plot a series with its score and tiers, or record an "
        "analyst's false-alarm verdict.")
    parser.set_defaults(func=lambda _args: parser.print_help() or 2)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    ev = actions.add_parser("eval", help="detection delay, missed crises, false incidents",
                            description="Run a multi-day demo scenario through BrandMonitor and "
                            "score it against the labelled crises and collector outages.")
    ev.add_argument("--hours", type=float, default=48.0, help="simulated hours (default 48)")
    ev.add_argument("--seed", type=int, default=7, help="random seed of the demo (default 7)")
    _common(ev)
    ev.set_defaults(func=run_eval)

    plot = actions.add_parser("plot", help="PNG of a series, its risk score and tiers",
                              description="Run the demo and plot one key's negative mentions "
                              "against the expectation, its risk score and its tiers.")
    plot.add_argument("--out", type=Path, required=True, help="PNG file to write")
    plot.add_argument("--hours", type=float, default=6.0, help="simulated hours (default 6)")
    plot.add_argument("--seed", type=int, default=7, help="random seed of the demo (default 7)")
    plot.add_argument("--brand", default="星汇支付", help="brand to plot (default 星汇支付)")
    plot.add_argument("--category", default="outage", help="category key to plot, or * (default outage)")
    _common(plot)
    plot.set_defaults(func=run_plot)

    fa = actions.add_parser("false-alarm", help="record an analyst's false-alarm verdict",
                            description="Write a yuqing.feedback/v1 verdict line for the flow's "
                            "feedback input; the detector then raises that key's bar for a while.")
    fa.add_argument("--incident-id", required=True)
    fa.add_argument("--brand", required=True)
    fa.add_argument("--category", required=True)
    fa.add_argument("--at", help="time of the verdict, RFC 3339 (default now)")
    fa.add_argument("--analyst", default="")
    fa.add_argument("--out", type=Path, help="append to this JSONL file (default stdout)")
    fa.set_defaults(func=run_false_alarm)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--expectation", choices=sorted(EXPECTATIONS),
                        help="expectation model (default: the config's, seasonal)")
    parser.add_argument("--warning-config", type=Path, help="YAML thresholds and tuning")


def _config(args: argparse.Namespace) -> WarningConfig:
    cfg = WarningConfig.from_yaml(args.warning_config) if args.warning_config else WarningConfig()
    if args.expectation:
        from dataclasses import replace

        cfg = replace(cfg, expectation=args.expectation)
    return cfg


def _demo(hours: float, seed: int) -> DemoConfig:
    if hours <= 0:
        raise UserError(f"--hours {hours}: give a positive number of simulated hours")
    return scenario(days=hours / 24, seed=seed)


def run_eval(args: argparse.Namespace) -> int:
    from yuqing.evaluation.early_warning import evaluate

    result = evaluate(_demo(args.hours, args.seed), _config(args))
    out = sys.stdout
    print(f"{'brand':<8} {'category':<21} {'onset (+08:00)':<17} exp peak "
          f"{'delay 二级':>10} {'delay 三级':>10}", file=out)
    for c in result.crises():
        d2 = f"{c['delay_s']:.0f} s" if c["delay_s"] is not None else "MISSED"
        d3 = f"{c['delay_tier3_s']:.0f} s" if c["delay_tier3_s"] is not None else "-"
        onset = datetime.fromisoformat(c["onset"]).strftime("%m-%d %H:%M")
        print(f"{c['brand']:<8} {c['category']:<21} {onset:<17} {c['tier_expected']:>3} "
              f"{c['peak_tier']:>4} {d2:>10} {d3:>10}", file=out)
    for t in result.false_incidents():
        print(f"false incident: {t.brand} {t.category} 二级 at {t.tier2_at.isoformat()} "
              f"(peak tier {t.peak_tier})", file=out)
    summary = result.summary()
    health = summary["health"]
    print(f"pipeline health: {health['detected']}/{health['outages']} collector outages found, "
          f"median delay {health['median_delay_s']} s, {health['false_alerts']} false alerts",
          file=out)
    health.pop("false_alerts_detail", None)
    print(json.dumps(summary, ensure_ascii=False), file=out)
    return 0


def run_plot(args: argparse.Namespace) -> int:
    from yuqing.evaluation.early_warning import evaluate
    from yuqing.evaluation.early_warning_plot import plot_trace

    demo = DemoConfig(hours=args.hours, seed=args.seed) if args.hours <= 6 else _demo(
        args.hours, args.seed)
    cfg = _config(args)
    result = evaluate(demo, cfg, trace=(args.brand, args.category))
    if not result.trace:
        raise UserError(f"no mentions of {args.brand} / {args.category} in the demo; "
                        "pick a brand and category of the demo (e.g. 星汇支付 outage)")
    onsets = [c.onset for c in demo.crises if c.brand == args.brand
              and args.category in (c.category, "*")]
    thresholds = cfg.thresholds_for(args.brand, args.category)
    plot_trace(result.trace, args.out, f"{args.brand} / {args.category}", thresholds.enter,
               onsets)
    print(f"wrote {args.out}")
    return 0


def run_false_alarm(args: argparse.Namespace) -> int:
    try:
        at = datetime.fromisoformat(args.at).astimezone(UTC) if args.at else datetime.now(UTC)
    except ValueError:
        raise UserError(f"--at {args.at!r}: use RFC 3339, e.g. 2026-11-20T10:45:00+08:00") from None
    record = {"schema": "yuqing.feedback/v1", "incident_id": args.incident_id,
              "brand": args.brand, "category": args.category, "verdict": "false_alarm",
              "at": at.isoformat(), "analyst": args.analyst}
    line = json.dumps(record, ensure_ascii=False)
    if args.out is None:
        print(line)
        return 0
    try:
        with args.out.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    except OSError as err:
        raise UserError(f"{args.out}: cannot append ({err.strerror}); choose a writable file") from None
    print(f"recorded false alarm for {args.incident_id} in {args.out}")
    return 0
