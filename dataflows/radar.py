"""The one Yuqing Radar dataflow, top to bottom as the design's data-flow diagram.

input -> parse -> (bad -> dead letters) -> key by brand -> dedup -> analyze (tokens,
category) -> live sentiment model (+ analysts' labels) -> stories per brand
  -> mentions table
  -> 1-min event-time windows per brand x source -> window_metrics
  -> early warning per brand (+ analysts' verdicts) -> incidents, health alerts
  -> watch of every brand's sources -> health alerts (a collector down)
       -> matching playbooks -> activations -> outbox (gRPC bus), activations table
  -> complaints -> tickets -> outbox
  -> alert stream (incident changes, health, false alarms, activations) + alerts table
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from threading import Event

import bytewax.operators as op
import bytewax.operators.windowing as win
from bytewax.dataflow import Dataflow
from bytewax.operators.windowing import TumblingWindower

from yuqing.bus.outbox import Outbox
from yuqing.core.endpoints import FileOutput, InputSpec, OutputSpec, StoreSpec
from yuqing.core.feedback import IncidentVerdict, SentimentFeedback
from yuqing.core.mention import Mention
from yuqing.core.records import DeadLetter
from yuqing.dataflows import labels, linkage, steps
from yuqing.dataflows import state as keyed_state
from yuqing.dataflows.clock import ResumingEventClock
from yuqing.dataflows.progress import InputProgress
from yuqing.dataflows.sentiment_board import SentimentBoard
from yuqing.dataflows.sources import KafkaOptions, OutboxFeedbackSource, read_input
from yuqing.dataflows.status import RunStatus
from yuqing.dataflows.tally import Tally
from yuqing.dataflows.warning import (
    IncidentChange,
    source_beats,
    source_watch_builder,
    warning_builder,
)
from yuqing.evaluation.demo import DemoConfig
from yuqing.playbooks.library import PlaybookLibrary
from yuqing.playbooks.tickets import CustomerMap, complaint_ticket
from yuqing.sinks import tables
from yuqing.sinks.bus import IncidentRecordSink, OutboxSink
from yuqing.sinks.clickhouse import ClickHouseSink
from yuqing.sinks.jsonl import JsonlSink
from yuqing.sinks.kafka import KafkaTopicSink
from yuqing.sinks.process_local import ProcessLocalSink, to_every_process
from yuqing.sinks.single_writer import SingleWriterSink
from yuqing.stream.windows import WindowMetrics, sample_of, sample_time
from yuqing.text.analyzer import Analyzer
from yuqing.text.brands import BrandGate
from yuqing.text.stories import StoryClusterer
from yuqing.warning.config import WarningConfig
from yuqing.warning.monitor import FalseAlarm

WINDOW_ALIGN = datetime(2020, 1, 1, tzinfo=UTC)
LABEL_MEMORY = 100_000 // labels.BUCKETS  # recent mentions' tokens kept per id bucket


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
    max_brands: int = 1000  # unconfigured brands watched at most (BrandGate)
    jsonl_bases: dict[str, int] = field(default_factory=dict)  # JSONL lengths at the store's start
    status: RunStatus | None = None  # what --http serves (/metrics, /healthz)
    brand_files: tuple[Path, ...] = ()
    user_dicts: tuple[Path, ...] = ()
    lexicons: tuple[Path, ...] = ()
    engine: str = "jieba"
    feedback: InputSpec | None = None
    warning: WarningConfig = field(default_factory=WarningConfig)
    library: PlaybookLibrary = field(default_factory=PlaybookLibrary.load)
    outbox: Outbox = field(default_factory=lambda: Outbox(":memory:"))
    customers: CustomerMap = field(default_factory=CustomerMap)
    tick: timedelta | None = None  # wall-clock timer for live inputs (silence, cooling incidents)
    bus_feedback: bool = False  # also read analysts' feedback sent to the gRPC bus
    recovering: bool = False  # snapshot keyed state (only needed with --recovery)
    demo: DemoConfig = field(default_factory=DemoConfig)
    tally: Tally = field(default_factory=Tally)
    position: InputProgress = field(default_factory=InputProgress)  # share of a finite input read
    stop: Event = field(default_factory=Event)  # set on SIGTERM/Ctrl-C: inputs end, the flow drains
    kafka: KafkaOptions = field(default_factory=KafkaOptions)  # consumer group and start position
    board: SentimentBoard | None = None  # the model this process scores with (made by build_flow)
    owner: bool = True  # this process opens the embedded store and the outbox (process 0)
    store_hold: float = 1.0  # seconds rows wait for one insert into the embedded store; 0: each batch
    shared_outbox: bool = False  # the outbox is a bus log replica in every process (kafka://)
    process_id: int = 0  # this process in the cluster (lessons for its board come home to it)
    processes: int = 1  # processes in the cluster (every one gets the learner's lessons)


def _output(
    step_id: str,
    stream,
    spec: OutputSpec,
    encode_file,
    encode_kafka,
    tally,
    what: str,
    bases: dict[str, int],
):
    """Send records to a JSONL file or a Kafka topic."""
    if isinstance(spec, FileOutput):
        part = str(spec.path)
        lines = op.map(f"{step_id}_encode", stream, lambda r: (part, encode_file(r)))
        op.output(
            step_id, lines, JsonlSink(spec.path, on_write=tally.counter(what), base=bases.get(part))
        )
    else:
        pairs = op.map(f"{step_id}_encode", stream, encode_kafka)
        op.output(step_id, pairs, KafkaTopicSink(spec, on_write=tally.counter(what)))


def build_flow(cfg: FlowConfig) -> Dataflow:
    """Wire the steps; every piece of logic lives in `steps` and the domain modules."""
    flow = Dataflow("yuqing_radar")
    tally = cfg.tally

    status = cfg.status
    raw, input_errors = read_input(
        flow,
        cfg.input,
        cfg.demo,
        on_message=status.kafka.saw if status else None,
        stop=cfg.stop,
        kafka=cfg.kafka,
        progress=cfg.position,
    )
    feedback = _read_feedback(flow, cfg, tally)
    analyzer = Analyzer.default(cfg.engine, cfg.user_dicts, cfg.lexicons, cfg.brand_files)
    analyzer.tokenizer.load()  # the dictionary now, not inside the first batch
    # RawRecord(origin, bytes)
    gate = BrandGate(analyzer.brands, cfg.max_brands)
    parsed = op.map("parse", raw, partial(steps.parse_record, gate=gate))
    # Mention | DeadLetter
    valid = op.branch("split_valid", parsed, lambda x: isinstance(x, Mention))
    dead = (
        valid.falses if input_errors is None else op.merge("all_dead", valid.falses, input_errors)
    )
    # DeadLetter

    keyed = op.key_on("key_by_brand", valid.trues, analyzer.brand_of)
    # (brand, Mention)
    checked = keyed_state.stateful_flat_map(
        "dedup", keyed, partial(steps.dedup, horizon=cfg.dedup_horizon), cfg.recovering
    )
    # (brand, Mention | Duplicate)
    fresh = op.branch("split_duplicates", checked, lambda kv: isinstance(kv[1], Mention))
    op.inspect("count_duplicates", fresh.falses, lambda _s, _d: tally.add("duplicates", 1))
    # (brand, Mention)
    failures = []  # dead letters of mentions a step could not process (the bug is logged)
    board = cfg.board if cfg.board is not None else SentimentBoard(analyzer.sentiment)
    cfg.board = board
    analyzed = _split_failures(
        "analyze",
        op.flat_map_batch(
            "analyze", fresh.trues, partial(steps.analyze_batch, analyzer=analyzer, board=board)
        ),
        failures,
    )
    # Analyzed(mention, analysis: tokens, sentiment, category), scored on this worker
    if feedback is not None:
        _learn_labels(cfg, feedback, analyzed, analyzer, board, tally)
    by_brand_story = op.key_on("key_for_stories", analyzed, lambda a: a.analysis.brand)
    enriched = _split_failures(
        "stories",
        op.key_rm(
            "unkey_stories",
            keyed_state.stateful_batch_flat_map(
                "stories", by_brand_story, partial(steps.story_batch, make=StoryClusterer),
                cfg.recovering,
            ),
        ),
        failures,
    )
    # EnrichedMention (tokens, sentiment, category, story_id)
    rows = _split_failures(
        "mention_rows",
        op.map(
            "mention_rows",
            enriched,
            steps.guarded(
                "mention_rows", partial(steps.mention_row, keywords=analyzer.tokenizer.distinct_content)
            ),
        ),
        failures,
    )
    _write(
        "store_mentions",
        rows,
        _clickhouse(cfg, tables.MENTIONS, on_write=tally.counter("mentions")),
    )

    by_brand_source = op.map_value(
        "window_samples",
        op.key_on("key_by_brand_source", enriched, steps.brand_source_key),
        sample_of,
    )
    # ("brand\x1fsource", Sample: a plain tuple, cheap to send to another process)
    clock = ResumingEventClock(
        sample_time,
        wait_for_system_duration=cfg.lateness,
        keep_open=lambda: cfg.recovering and cfg.stop.is_set(),  # drained to resume: keep windows
    )
    windower = TumblingWindower(length=cfg.window, align_to=WINDOW_ALIGN)
    windows = win.fold_window(
        "window_1m",
        by_brand_source,
        clock,
        windower,
        WindowMetrics,
        WindowMetrics.add,
        _merge_metrics,
    )
    # ("brand\x1fsource", (window_id, WindowMetrics))
    op.inspect("count_late", windows.late, lambda _s, _x: tally.add("late", 1))
    rows = op.map(
        "window_rows",
        windows.down,
        lambda kv: steps.window_row(
            kv[0], WINDOW_ALIGN + kv[1][0] * cfg.window, cfg.window, kv[1][1]
        ),
    )
    _write(
        "store_windows",
        rows,
        _clickhouse(cfg, tables.WINDOW_METRICS, on_write=tally.counter("windows")),
    )

    by_brand = op.key_on("key_for_warning", enriched, lambda e: e.brand)
    if feedback is not None:
        verdicts = op.key_on(
            "key_verdicts",
            op.filter("incident_verdicts", feedback, lambda f: isinstance(f, IncidentVerdict)),
            lambda v: v.brand,
        )
        by_brand = op.merge("mentions_and_verdicts", by_brand, verdicts)
    # (brand, EnrichedMention | IncidentVerdict)
    warnings = _split_failures(
        "early_warning",
        op.key_rm(
            "unkey_warnings",
            op.stateful(
                "early_warning", by_brand, warning_builder(cfg.warning, cfg.tick, cfg.recovering)
            ),
        ),
        failures,
    )
    # IncidentChange | HealthAlert | FalseAlarm
    beats = op.flat_map_batch("source_beats", valid.trues, source_beats)
    # ("*", (source, at, repost) of each mention of a batch): taken before the brand-keyed
    # steps, which group a batch by brand and so reorder it in event time; the watch needs
    # the input's order
    collectors = op.key_rm(
        "unkey_collectors",
        op.stateful(
            "watch_sources", beats, source_watch_builder(cfg.warning, cfg.tick, cfg.recovering)
        ),
    )
    # HealthAlert (a source of every brand gone quiet)
    warnings = op.merge("warnings_and_collectors", warnings, collectors)
    changes = op.filter("incident_changes", warnings, lambda w: isinstance(w, IncidentChange))
    op.inspect("count_tiers", changes, partial(_count_change, tally))
    # IncidentChange
    _write(
        "store_incidents",
        op.map("incident_rows", changes, lambda c: c.update.to_row()),
        _clickhouse(cfg, tables.INCIDENTS, on_write=tally.counter("incident_changes")),
    )
    sector_of = analyzer.brands.sector
    _write(
        "record_incidents",
        op.map(
            "incident_snapshots",
            changes,
            lambda c: linkage.incident_snapshot(c, sector_of(c.update.brand)),
        ),
        _outbox_sink(cfg, IncidentRecordSink(cfg.outbox)),
    )
    activations = op.flat_map(
        "activate_playbooks",
        changes,
        partial(linkage.activate, library=cfg.library, sector_of=sector_of),
    )
    # Activation (protobuf)
    op.inspect(
        "count_activations", activations,
        lambda _s, a: tally.add_distinct("activations", a.idempotency_key),
    )
    _write(
        "store_activations",
        op.map("activation_rows", activations, linkage.activation_table_row),
        _clickhouse(cfg, tables.ACTIVATIONS, on_write=tally.counter("activation_rows")),
    )
    tickets = _split_failures(
        "complaint_tickets",
        op.filter_map(
            "complaint_tickets",
            enriched,
            steps.guarded(
                "complaint_tickets",
                lambda e: complaint_ticket(  # stamped with the complaint's time
                    e, cfg.customers, created_at=e.mention.published_at
                ),
            ),
        ),
        failures,
    )
    # Ticket (protobuf)
    op.inspect("count_tickets", tickets, lambda _s, _t: tally.add("tickets", 1))
    _write("publish", op.merge("bus_messages", activations, tickets), _outbox_sink(cfg, OutboxSink(cfg.outbox)))

    verdicts_done = op.filter("false_alarms", warnings, lambda w: isinstance(w, FalseAlarm))
    _write(
        "store_verdicts",
        op.map("verdict_rows", verdicts_done, steps.feedback_row),
        _clickhouse(cfg, tables.FEEDBACK_EVENTS),
    )
    records = op.map(
        "alert_records", op.merge("alert_stream", warnings, activations), linkage.alert_record
    )
    # AlertRecord (incident change, pipeline health, false alarm, activation)
    _write(
        "store_alerts",
        op.map("alert_rows", records, linkage.AlertRecord.row),
        _clickhouse(cfg, tables.ALERTS),
    )
    _output(
        "alerts",
        records,
        cfg.alerts,
        lambda r: r.message()[1],
        linkage.AlertRecord.message,
        tally,
        "alerts",
        cfg.jsonl_bases,
    )

    dead = op.merge("dead_and_failed", dead, *failures)
    # DeadLetter (refused at the edge, or a step failed on it)
    op.inspect(
        "count_dead_reasons",
        dead,
        lambda _s, d: tally.add(f"dead_letter_reason:{steps.reason_kind(d.reason)}", 1),
    )
    _write(
        "store_dead_letters",
        op.map("dead_letter_rows", dead, steps.dead_letter_row),
        _clickhouse(cfg, tables.DEAD_LETTERS),
    )
    _output(
        "dlq",
        dead,
        cfg.dlq,
        steps.dead_letter_message,
        lambda d: (d.origin.encode("utf-8"), steps.dead_letter_message(d)),
        tally,
        "dead_letters",
        cfg.jsonl_bases,
    )
    return flow


def _clickhouse(cfg: FlowConfig, table, on_write=None) -> ClickHouseSink | SingleWriterSink:
    """A ClickHouse sink for ``table`` whose batch times reach /metrics when --http is on.

    A server takes writes from every worker; the embedded chDB store is opened
    by one process only, so its rows all go to one writer in the owning process,
    which holds them up to ``store_hold`` seconds for fewer, larger inserts.
    """
    sink = ClickHouseSink(
        cfg.store,
        table,
        on_write=on_write,
        on_batch=cfg.status.sinks.record if cfg.status else None,
    )
    if cfg.store.kind != "chdb":
        return sink
    return SingleWriterSink(f"store:{table.name}", partial(sink.partition, hold=cfg.store_hold),
                            cfg.owner)


def _outbox_sink(cfg: FlowConfig, sink: OutboxSink | IncidentRecordSink):
    """A SQLite outbox has one writer, in the process that serves the bus; every
    worker appends to its own replica of a bus log."""
    if cfg.shared_outbox:
        return sink
    return SingleWriterSink("outbox", lambda: sink.build("outbox", 0, 1), cfg.owner)


def _write(step_id: str, stream, sink) -> None:
    """`op.output`; a single-writer sink gets each batch as one item (one hop between processes)."""
    if isinstance(sink, SingleWriterSink):
        stream = op.flat_map_batch(f"{step_id}_to_writer", stream, _bundle)
    op.output(step_id, stream, sink)


def _bundle(batch: list) -> list[tuple[str, list]]:
    """A worker's batch as one keyed item: routing and pickling then cost once per batch, not per row."""
    return [("writer", batch)]


def _split_failures(step_id: str, stream, failures: list):
    """The items a guarded step produced; its dead letters go to ``failures``."""
    split = op.branch(f"{step_id}_failed", stream, lambda x: not isinstance(x, DeadLetter))
    failures.append(split.falses)
    return split.trues


def _learn_labels(cfg: FlowConfig, feedback, analyzed, analyzer: Analyzer,
                  board: SentimentBoard, tally: Tally) -> None:
    """Analysts' sentiment labels teach the board every worker of this process scores with."""
    sentiment = op.filter("sentiment_labels", feedback, lambda f: isinstance(f, SentimentFeedback))
    looked = op.map("label_first_look", sentiment, lambda f: (f, labels.first_look(f, analyzer)))
    by_id = op.branch("labels_by_id", looked, lambda pair: pair[1] is None)
    to_memory = op.merge(
        "seen_and_labels",
        op.key_on("key_seen", op.map("seen", analyzed, _seen), lambda s: labels.bucket(s.mention_id)),
        op.key_on(
            "key_labels_by_id",
            op.map("label_by_id", by_id.trues, lambda pair: pair[0]),
            lambda f: labels.bucket(f.mention_id),
        ),
    )
    # (id bucket, Seen | SentimentFeedback)
    resolved = op.merge(
        "resolved_labels",
        op.map("settled_labels", by_id.falses, lambda pair: pair[1]),
        op.key_rm(
            "unkey_memory",
            keyed_state.stateful_flat_map(
                "token_memory",
                to_memory,
                partial(labels.memory_step, analyzer=analyzer, remember=LABEL_MEMORY),
                cfg.recovering,
            ),
        ),
    )
    # Resolved | FeedbackOutcome
    examples = op.filter("examples", resolved, lambda r: isinstance(r, labels.Resolved))
    taught = op.key_rm(
        "unkey_learner",
        op.stateful(
            "learn_labels",
            op.key_on("key_learner", examples, lambda _r: labels.LEARNER_KEY),
            lambda resume: labels.LearnerLogic(resume, cfg.recovering),
        ),
    )
    # FeedbackOutcome("learned") | Lesson
    lessons = op.filter("lessons", taught, lambda r: isinstance(r, labels.Lesson))
    op.output(
        "teach_every_board",
        op.flat_map("lesson_per_process", lessons,
                    partial(to_every_process, processes=cfg.processes)),
        ProcessLocalSink(cfg.process_id, partial(labels.teach, board)),
    )
    learned = op.filter("learned", taught, lambda r: isinstance(r, labels.FeedbackOutcome))
    outcomes = op.merge(
        "label_outcomes",
        op.filter("not_learned", resolved, lambda r: isinstance(r, labels.FeedbackOutcome)),
        learned,
    )
    # FeedbackOutcome
    op.inspect("count_feedback", outcomes, lambda _s, o: tally.add(f"feedback_{o.outcome}", 1))
    _write(
        "store_label_outcomes",
        op.map("label_rows", outcomes, steps.feedback_row),
        _clickhouse(cfg, tables.FEEDBACK_EVENTS),
    )


def _seen(item: steps.Analyzed) -> labels.Seen:
    return labels.Seen(item.mention.id, item.analysis.brand, item.analysis.tokens)


def _count_change(tally: Tally, _step: str, change: IncidentChange) -> None:
    tally.add(f"incident_tier:{change.update.tier}", 1)
    tally.add_distinct("incidents", change.update.incident_id)


def _read_feedback(flow: Dataflow, cfg: FlowConfig, tally: Tally):
    """Analysts' labels and verdicts (file or Kafka topic), or None without --feedback."""
    if cfg.feedback is None and not cfg.bus_feedback:
        return None
    streams = []
    if cfg.feedback is not None:
        streams.append(
            read_input(flow, cfg.feedback, name="read_feedback", stop=cfg.stop, kafka=cfg.kafka)[0]
        )
    if cfg.bus_feedback:
        streams.append(
            op.input(
                "read_bus_feedback", flow, OutboxFeedbackSource(cfg.outbox, cfg.stop, cfg.owner)
            )
        )
    raw = streams[0] if len(streams) == 1 else op.merge("all_feedback", *streams)
    parsed = op.map("parse_feedback", raw, steps.parse_feedback_record)
    valid = op.branch("split_feedback", parsed, lambda x: not isinstance(x, DeadLetter))
    op.inspect("count_bad_feedback", valid.falses, lambda _s, _d: tally.add("feedback_invalid", 1))
    return valid.trues


def _merge_metrics(a: WindowMetrics, b: WindowMetrics) -> WindowMetrics:
    """Only session windows merge; tumbling windows never call this."""
    raise NotImplementedError("tumbling windows do not merge")
