"""The one Yuqing Radar dataflow, top to bottom as the design's data-flow diagram.

    input -> parse -> (bad -> dead letters) -> dedup -> enrich -> mentions table
                                                     -> 1-min windows per brand x source
                                                     -> spike rule per brand -> alerts
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import bytewax.operators as op
import bytewax.operators.windowing as win
from bytewax.dataflow import Dataflow
from bytewax.operators.windowing import EventClock, TumblingWindower

from yuqing.analyzer import Analyzer
from yuqing.dataflows import steps
from yuqing.dataflows.sources import read_input
from yuqing.dataflows.tally import Tally
from yuqing.demo import DemoConfig
from yuqing.endpoints import FileOutput, InputSpec, OutputSpec, StoreSpec
from yuqing.feedback import SentimentFeedback
from yuqing.mention import Mention
from yuqing.records import DeadLetter
from yuqing.sinks import tables
from yuqing.sinks.clickhouse import ClickHouseSink
from yuqing.sinks.jsonl import JsonlSink
from yuqing.sinks.kafka import KafkaTopicSink
from yuqing.spike import SpikeRule
from yuqing.stories import StoryClusterer
from yuqing.window_metrics import WindowMetrics

WINDOW_ALIGN = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass
class FlowConfig:
    """Everything the flow needs; built by `yuqing run` from flags and environment."""

    input: InputSpec
    store: StoreSpec
    alerts: OutputSpec
    dlq: OutputSpec
    window: timedelta = timedelta(minutes=1)
    lateness: timedelta = timedelta(seconds=30)
    dedup_horizon: timedelta = timedelta(hours=24)
    brand_files: tuple[Path, ...] = ()
    user_dicts: tuple[Path, ...] = ()
    lexicons: tuple[Path, ...] = ()
    engine: str = "jieba"
    feedback: InputSpec | None = None
    demo: DemoConfig = field(default_factory=DemoConfig)
    tally: Tally = field(default_factory=Tally)


def _output(step_id: str, stream, spec: OutputSpec, encode_file, encode_kafka, tally, what: str):
    """Send records to a JSONL file or a Kafka topic."""
    if isinstance(spec, FileOutput):
        part = str(spec.path)
        lines = op.map(f"{step_id}_encode", stream, lambda r: (part, encode_file(r)))
        op.output(step_id, lines, JsonlSink(spec.path, on_write=tally.counter(what)))
    else:
        pairs = op.map(f"{step_id}_encode", stream, encode_kafka)
        op.output(step_id, pairs, KafkaTopicSink(spec, on_write=tally.counter(what)))


def build_flow(cfg: FlowConfig) -> Dataflow:
    """Wire the steps; every piece of logic lives in `steps` and the domain modules."""
    flow = Dataflow("yuqing_radar")
    tally = cfg.tally

    raw, input_errors = read_input(flow, cfg.input, cfg.demo)
    feedback = _read_feedback(flow, cfg, tally)
    # RawRecord(origin, bytes)
    parsed = op.map("parse", raw, steps.parse_record)
    # Mention | DeadLetter
    valid = op.branch("split_valid", parsed, lambda x: isinstance(x, Mention))
    dead = valid.falses if input_errors is None else op.merge("all_dead", valid.falses, input_errors)
    # DeadLetter
    op.output("store_dead_letters", op.map("dead_letter_rows", dead, steps.dead_letter_row),
              ClickHouseSink(cfg.store, tables.DEAD_LETTERS))
    _output("dlq", dead, cfg.dlq, steps.dead_letter_message,
            lambda d: (d.origin.encode("utf-8"), steps.dead_letter_message(d)), tally, "dead_letters")

    analyzer = Analyzer.default(cfg.engine, cfg.user_dicts, cfg.lexicons, cfg.brand_files)
    keyed = op.key_on("key_by_brand", valid.trues, analyzer.brand_of)
    # (brand, Mention)
    checked = op.stateful_flat_map("dedup", keyed, partial(steps.dedup, horizon=cfg.dedup_horizon))
    # (brand, Mention | Duplicate)
    fresh = op.branch("split_duplicates", checked, lambda kv: isinstance(kv[1], Mention))
    op.inspect("count_duplicates", fresh.falses, lambda _s, _d: tally.add("duplicates", 1))
    # (brand, Mention)
    analyzed = op.map("analyze", fresh.trues,
                      lambda kv: steps.Analyzed(kv[1], analyzer.analyze(kv[1])))
    # Analyzed(mention, analysis: tokens, sentiment, category)
    to_model = op.key_on("key_for_model", analyzed, lambda _a: "sentiment")
    if feedback is not None:
        labels = op.key_on("key_labels", op.filter(
            "sentiment_labels", feedback, lambda f: isinstance(f, SentimentFeedback)),
            lambda _f: "sentiment")
        to_model = op.merge("mentions_and_labels", to_model, labels)
    # ("sentiment", Analyzed | SentimentFeedback)
    scored = op.key_rm("unkey_model", op.stateful_flat_map(
        "sentiment", to_model, partial(steps.sentiment_step, analyzer=analyzer)))
    # Analyzed | FeedbackOutcome
    learned = op.branch("split_outcomes", scored, lambda x: isinstance(x, steps.Analyzed))
    op.inspect("count_feedback", learned.falses,
               lambda _s, o: tally.add(f"feedback_{o.outcome}", 1))
    by_brand_story = op.key_on("key_for_stories", learned.trues, lambda a: a.analysis.brand)
    enriched = op.key_rm("unkey_stories", op.stateful_flat_map(
        "stories", by_brand_story, partial(steps.story_step, make=StoryClusterer)))
    # EnrichedMention (tokens, sentiment, category, story_id)
    rows = op.map("mention_rows", enriched,
                  partial(steps.mention_row, keywords=analyzer.tokenizer.content))
    op.output("store_mentions", rows,
              ClickHouseSink(cfg.store, tables.MENTIONS, on_write=tally.counter("mentions")))

    by_brand_source = op.key_on("key_by_brand_source", enriched, steps.brand_source_key)
    # ("brand\x1fsource", EnrichedMention)
    clock = EventClock(lambda e: e.mention.published_at, wait_for_system_duration=cfg.lateness)
    windower = TumblingWindower(length=cfg.window, align_to=WINDOW_ALIGN)
    windows = win.fold_window("window_1m", by_brand_source, clock, windower, WindowMetrics,
                              WindowMetrics.add, _merge_metrics)
    # ("brand\x1fsource", (window_id, WindowMetrics))
    op.inspect("count_late", windows.late, lambda _s, _x: tally.add("late", 1))
    rows = op.map("window_rows", windows.down, lambda kv: steps.window_row(
        kv[0], WINDOW_ALIGN + kv[1][0] * cfg.window, cfg.window, kv[1][1]))
    op.output("store_windows", rows,
              ClickHouseSink(cfg.store, tables.WINDOW_METRICS, on_write=tally.counter("windows")))

    by_brand = op.key_on("key_by_brand_again", enriched, lambda e: e.brand)
    # (brand, EnrichedMention)
    alerts = op.key_rm("unkey_alerts", op.stateful_flat_map(
        "spike_rule", by_brand, partial(steps.spike_check, make_rule=SpikeRule)))
    # Alert
    op.output("store_alerts", op.map("alert_rows", alerts, steps.alert_row),
              ClickHouseSink(cfg.store, tables.ALERTS))
    _output("alerts", alerts, cfg.alerts, lambda a: steps.alert_message(a)[1],
            steps.alert_message, tally, "alerts")
    return flow


def _read_feedback(flow: Dataflow, cfg: FlowConfig, tally: Tally):
    """Analysts' labels and verdicts (file or Kafka topic), or None without --feedback."""
    if cfg.feedback is None:
        return None
    raw, _errors = read_input(flow, cfg.feedback, name="read_feedback")
    parsed = op.map("parse_feedback", raw, steps.parse_feedback_record)
    valid = op.branch("split_feedback", parsed, lambda x: not isinstance(x, DeadLetter))
    op.inspect("count_bad_feedback", valid.falses, lambda _s, _d: tally.add("feedback_invalid", 1))
    return valid.trues


def _merge_metrics(a: WindowMetrics, b: WindowMetrics) -> WindowMetrics:
    """Only session windows merge; tumbling windows never call this."""
    raise NotImplementedError("tumbling windows do not merge")
