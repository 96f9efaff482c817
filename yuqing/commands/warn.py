"""`yuqing warn`: evaluate the early warning on labelled demo streams, plot it, record verdicts.

    yuqing warn eval [--hours 48] [--seed N] [--expectation NAME] [--warning-config FILE]
    yuqing warn eval --stream FILE.jsonl[.gz] --truth FILE.truth.json [--json OUT]
    yuqing warn stream --ced DIR --texts TSV --out PREFIX [--half tune|report] [--seed N]
    yuqing warn plot --out FILE.png [--hours 6] [--brand 星汇支付] [--category outage]
    yuqing warn false-alarm --incident-id ID --brand B --category C [--out FILE]

`eval` prints one row per crisis (delay to 二级, tiers), the false incidents,
the pipeline-health results, then one JSON line with the totals. With
``--stream`` and ``--truth`` it replays any mention stream instead and scores
it against a truth file in the format of ``ced_dev/stream.truth.json``: per
tier the delays from the onset and from the 50th repost, misses, false
incidents per brand-day, fragmentation, and the health alerts.
`stream` builds such a stream and its truth from CED's real Weibo repost
cascades (`yuqing.evaluation.ced`).
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
    ev.add_argument("--stream", type=Path, help="replay this mention stream (JSONL, .gz too) "
                    "instead of the demo; needs --truth")
    ev.add_argument("--truth", type=Path, help="its truth file (format of "
                    "ced_dev/stream.truth.json)")
    ev.add_argument("--json", type=Path, dest="json_out", help="also write the full report here")
    ev.add_argument("--engine", choices=("auto", "jieba", "rjieba"), default="auto",
                    help="tokenizer of the replay (default auto: rjieba when installed)")
    _common(ev)
    ev.set_defaults(func=run_eval)

    st = actions.add_parser("stream", help="build a crisis stream from CED repost cascades",
                            description="Build a multi-day mention stream for fictional brands "
                            "from CED's real Weibo repost cascades (crises and small cascades) "
                            "over real background posts, with its truth file.")
    st.add_argument("--ced", type=Path, required=True, help="folder with events.csv and "
                    "reposts.csv.gz (e.g. ../shared/data/ced_dev)")
    st.add_argument("--texts", type=Path, required=True, help="background texts, a "
                    "label<TAB>text TSV (e.g. ../shared/data/sentiment/weibo2018_train.tsv)")
    st.add_argument("--out", type=Path, required=True, help="writes OUT.jsonl.gz and OUT.truth.json")
    st.add_argument("--half", choices=("tune", "report"), help="use one fixed half of the "
                    "events only (default: all)")
    st.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    st.add_argument("--brands", type=int, default=12, help="number of brands (default 12)")
    st.add_argument("--days", type=float, default=3.0, help="length in days (default 3)")
    st.add_argument("--crises-per-brand", type=int, default=2, help="default 2")
    st.add_argument("--small-per-brand", type=int, default=18, help="small cascades per brand "
                    "(default 18)")
    st.add_argument("--outage", action="append", default=[], metavar="SOURCE:BRAND:START_H:HOURS",
                    help="remove SOURCE mentions of BRAND (* for all) from hour START_H for "
                    "HOURS, e.g. weibo:*:30:2; repeatable")
    st.set_defaults(func=run_stream)

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
    if args.stream or args.truth:
        return _run_stream_eval(args)
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


def _run_stream_eval(args: argparse.Namespace) -> int:
    import gzip

    from yuqing.evaluation.replay import FlowAnalysis, enrich, monitor
    from yuqing.evaluation.truth import CrisisTruth, score

    if not (args.stream and args.truth):
        raise UserError("--stream and --truth go together: the stream to replay and its truth file")
    truth = CrisisTruth.load(args.truth)
    if not args.stream.is_file():
        raise UserError(f"{args.stream}: not found; give a JSONL mention stream (.gz is fine)")
    opener = gzip.open if args.stream.suffix == ".gz" else open
    with opener(args.stream, "rb") as lines:
        run = monitor(enrich(lines, FlowAnalysis(engine=args.engine)), _config(args))
    report = score(run.updates, run.health, truth)
    report["mentions"] = run.mentions
    report["us_per_push"] = round(run.us_per_push, 1)
    out = sys.stdout
    print(f"{args.stream}: {run.mentions:,} mentions, {len(truth.crises)} crises, "
          f"{len(truth.brands)} brands × {truth.brand_days / max(len(truth.brands), 1):g} days",
          file=out)
    print(f"{'tier':<6} {'reached':>8} {'missed':>7} {'median from onset':>18} "
          f"{'median from t50':>16} {'max from t50':>13} {'false':>6} {'false/brand-day':>16}",
          file=out)
    for k, name in ((1, "一级"), (2, "二级"), (3, "三级")):
        row = report["tiers"][str(k)]
        print(f"{name:<6} {row['reached']:>8} {row['missed']:>7} "
              f"{_seconds(row['median_delay_onset_s']):>18} {_seconds(row['median_delay_t50_s']):>16} "
              f"{_seconds(row['max_delay_t50_s']):>13} {row['false_incidents']:>6} "
              f"{row['false_per_brand_day']:>16}", file=out)
    frag, health = report["fragmentation"], report["health"]
    print(f"fragmentation: {frag['mean']} incidents per crisis on average, at most {frag['max']}",
          file=out)
    print(f"pipeline health: {health['alerts']} alerts, {health['false_alerts']} false; "
          f"{health['outages_detected']}/{health['outages']} outages found "
          f"(slowest after {_seconds(health['max_detection_s'])})", file=out)
    if args.json_out:
        args.json_out.write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str) + "\n",
                                 encoding="utf-8")
        print(f"full report: {args.json_out}", file=out)
    summary = {k: v for k, v in report.items() if k != "per_crisis"}
    for row in summary["tiers"].values():
        row.pop("false_detail", None)
    summary["health"] = {k: v for k, v in health.items() if k != "false_detail"}
    print(json.dumps(summary, ensure_ascii=False), file=out)
    return 0


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} s"


def run_stream(args: argparse.Namespace) -> int:
    from yuqing.evaluation.ced import (
        Outage,
        StreamSettings,
        build_stream,
        load_cascades,
        load_texts,
        write_stream,
    )

    outages = []
    for spec in args.outage:
        parts = spec.split(":")
        try:
            source, brand, start, hours = parts[0], parts[1], float(parts[2]), float(parts[3])
        except (IndexError, ValueError):
            raise UserError(f"--outage {spec!r}: use SOURCE:BRAND:START_H:HOURS, "
                            "e.g. weibo:*:30:2") from None
        outages.append(Outage(source, brand, start, hours))
    settings = StreamSettings(brands=args.brands, days=args.days,
                              crises_per_brand=args.crises_per_brand,
                              small_per_brand=args.small_per_brand, seed=args.seed,
                              half=args.half, outages=tuple(outages))
    mentions, truth = build_stream(load_cascades(args.ced), load_texts(args.texts), settings)
    stream_path, truth_path = write_stream(mentions, truth, args.out)
    print(f"wrote {stream_path} ({len(mentions):,} mentions, {len(truth['crises'])} crises) "
          f"and {truth_path}")
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
