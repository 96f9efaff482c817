"""The ClickHouse schema: one `Table` per destination, created and migrated on start.

Every table but `feedback_events` is a ReplacingMergeTree keyed by a
deterministic row key, because Bytewax sinks are at-least-once: a row written
twice after a restart collapses into one, and readers use FINAL (or argMax) to
see the collapsed state. Tables that grow with the traffic are partitioned by
month, their big text columns are ZSTD-compressed, and each names the
wall-clock column its retention (TTL) counts from (see `sinks/schema.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CODEC = re.compile(r"^\s*(\w+)\s.*?\s(CODEC\(.*\))\s*,?\s*$")


@dataclass(frozen=True)
class Table:
    """A table: its columns in insert order, column definitions, engine keys and retention.

    `added` holds `name type` column definitions introduced after a table first
    shipped; they are applied with ADD COLUMN IF NOT EXISTS on every start, so an
    existing store catches up without losing data. `expires` is the wall-clock
    column a TTL counts from and `keep` the retention setting that applies
    (`Retention` field name); a replay of an old day is then kept as long as a
    live one, not dropped at once.
    """

    name: str
    columns: tuple[str, ...]
    schema: str  # column definitions, one per line
    order_by: str
    partition_by: str = ""
    engine: str = "ReplacingMergeTree"
    added: tuple[str, ...] = ()
    expires: str = ""
    keep: str = ""

    def create_sql(self, database: str, ttl_days: int = 0) -> str:
        """The table as it is wanted now: later-added columns included, TTL after `ttl_days`."""
        columns = ",\n".join([self.schema, *(f"        {c}" for c in self.added)])
        partition = f"\n    PARTITION BY {self.partition_by}" if self.partition_by else ""
        ttl = f"\n    TTL {self.ttl_expression(ttl_days)}" if ttl_days and self.expires else ""
        return (f"CREATE TABLE IF NOT EXISTS {database}.{self.name} (\n{columns}\n    )"
                f" ENGINE = {self.engine}{partition}\n    ORDER BY {self.order_by}{ttl}")

    def ttl_expression(self, days: int) -> str:
        """As ClickHouse prints it back, so a stored TTL can be compared with the wanted one."""
        return f"toDateTime({self.expires}) + toIntervalDay({days})"

    def codecs(self) -> dict[str, str]:
        """Column -> its CODEC(...) clause, for the columns that declare one."""
        lines = [*self.schema.splitlines(), *self.added]
        return {m.group(1): m.group(2) for m in map(_CODEC.match, lines) if m}


WRITTEN_AT = "written_at DateTime DEFAULT now()"  # when this process wrote the row
# aggregates and the incident record: stamped when written, kept --keep-records days
KEPT_AS_RECORD: dict = {"added": (WRITTEN_AT,), "expires": "written_at", "keep": "records"}

MENTIONS = Table(
    "mentions",
    ("id", "source", "brand", "published_at", "text", "title", "url", "lang", "author_id",
     "author_name", "followers", "verified", "reposts", "comments", "likes", "parent_id",
     "sentiment", "sentiment_label", "category", "category_evidence", "story_id", "keywords"),
    """        id String,
        source LowCardinality(String),
        brand LowCardinality(String),
        published_at DateTime64(3, 'UTC') CODEC(Delta(8), ZSTD(1)),
        text String CODEC(ZSTD(3)),
        title String CODEC(ZSTD(3)),
        url String CODEC(ZSTD(3)),
        lang LowCardinality(String),
        author_id String,
        author_name String,
        followers UInt64,
        verified UInt8,
        reposts UInt32,
        comments UInt32,
        likes UInt32,
        parent_id String,
        sentiment Float32,
        sentiment_label LowCardinality(String),
        category LowCardinality(String),
        category_evidence Array(String) CODEC(ZSTD(3)),
        story_id String,
        keywords Array(String) CODEC(ZSTD(3))""",
    order_by="(brand, published_at, id)",
    partition_by="toYYYYMM(published_at)",
    added=("ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)",),
    expires="ingested_at",
    keep="mentions",
)

WINDOW_METRICS = Table(
    "window_metrics",
    ("brand", "source", "window_start", "window_end", "mentions", "negative", "unique_authors",
     "reach", "engagement", "verified", "sentiment_avg"),
    """        brand LowCardinality(String),
        source LowCardinality(String),
        window_start DateTime('UTC') CODEC(Delta(4), ZSTD(1)),
        window_end DateTime('UTC') CODEC(Delta(4), ZSTD(1)),
        mentions UInt32,
        negative UInt32,
        unique_authors UInt32,
        reach UInt64,
        engagement UInt64,
        verified UInt32,
        sentiment_avg Float32""",
    order_by="(brand, source, window_start)",
    partition_by="toYYYYMM(window_start)",
    **KEPT_AS_RECORD,
)

DEAD_LETTERS = Table(
    "dead_letters",
    ("origin", "reason", "raw"),
    """        origin String,
        reason String CODEC(ZSTD(3)),
        raw String CODEC(ZSTD(3)),
        received_at DateTime64(3, 'UTC') DEFAULT now64(3)""",
    order_by="origin",
    partition_by="toYYYYMM(received_at)",
    expires="received_at",
    keep="dead_letters",
)

ALERTS = Table(
    "alerts",
    ("key", "kind", "brand", "at", "summary", "payload"),
    """        key String,
        kind LowCardinality(String),
        brand LowCardinality(String),
        at DateTime64(3, 'UTC'),
        summary String CODEC(ZSTD(3)),
        payload String CODEC(ZSTD(3))""",
    order_by="key",
    partition_by="toYYYYMM(at)",
    **KEPT_AS_RECORD,
)

INCIDENTS = Table(
    "incidents",
    ("incident_id", "seq", "change", "at", "brand", "category", "state", "tier", "previous_tier",
     "risk_score", "peak_tier", "peak_score", "opened_at", "resolved_at", "false_alarm",
     "evidence"),
    """        incident_id String,
        seq UInt32,
        change LowCardinality(String),
        at DateTime64(3, 'UTC'),
        brand LowCardinality(String),
        category LowCardinality(String),
        state LowCardinality(String),
        tier UInt8,
        previous_tier UInt8,
        risk_score Float32,
        peak_tier UInt8,
        peak_score Float32,
        opened_at DateTime64(3, 'UTC'),
        resolved_at Nullable(DateTime64(3, 'UTC')),
        false_alarm UInt8,
        evidence String CODEC(ZSTD(3))""",
    order_by="(incident_id, seq)",
    partition_by="toYYYYMM(opened_at)",
    **KEPT_AS_RECORD,
)

ACTIVATIONS = Table(
    "activations",
    ("key", "incident_id", "brand", "category", "tier", "playbook_id", "playbook_version",
     "match_rank", "departments", "created_at", "payload"),
    """        key String,
        incident_id String,
        brand LowCardinality(String),
        category LowCardinality(String),
        tier UInt8,
        playbook_id LowCardinality(String),
        playbook_version UInt32,
        match_rank UInt8,
        departments Array(LowCardinality(String)),
        created_at DateTime64(3, 'UTC'),
        payload String CODEC(ZSTD(3))""",
    order_by="(brand, key)",
    partition_by="toYYYYMM(created_at)",
    **KEPT_AS_RECORD,
)

DELIVERIES = Table(
    "deliveries",
    ("runner", "seq", "key", "kind", "incident_id", "brand", "category", "tier", "departments",
     "attempts", "status", "detail", "enqueued_at", "delivered_at", "updated_at"),
    """        runner LowCardinality(String),
        seq UInt64,
        key String,
        kind LowCardinality(String),
        incident_id String,
        brand LowCardinality(String),
        category LowCardinality(String),
        tier UInt8,
        departments Array(LowCardinality(String)),
        attempts UInt32,
        status LowCardinality(String),
        detail String,
        enqueued_at DateTime64(3, 'UTC'),
        delivered_at DateTime64(3, 'UTC'),
        updated_at DateTime64(3, 'UTC')""",
    order_by="(runner, seq)",
    engine="ReplacingMergeTree(updated_at)",
)

TASKS = Table(
    "tasks",
    ("key", "task_id", "incident_id", "brand", "department", "status", "assignee", "detail",
     "due_at", "updated_at"),
    """        key String,
        task_id String,
        incident_id String,
        brand LowCardinality(String),
        department LowCardinality(String),
        status LowCardinality(String),
        assignee String,
        detail String,
        due_at Nullable(DateTime64(3, 'UTC')),
        updated_at DateTime64(3, 'UTC')""",
    order_by="(key, task_id)",
    engine="ReplacingMergeTree(updated_at)",
)

FEEDBACK_EVENTS = Table(
    "feedback_events",
    ("at", "kind", "outcome", "detail"),
    """        at DateTime64(3, 'UTC'),
        kind LowCardinality(String),
        outcome LowCardinality(String),
        detail String""",
    order_by="at",
    engine="MergeTree",
)

PIPELINE_METRICS = Table(
    "pipeline_metrics",
    ("at", "process", "name", "labels", "value"),
    """        at DateTime64(3, 'UTC') CODEC(Delta(8), ZSTD(1)),
        process LowCardinality(String),
        name LowCardinality(String),
        labels Map(LowCardinality(String), String),
        value Float64 CODEC(Gorilla(8), ZSTD(1))""",
    order_by="(name, process, at)",
    partition_by="toYYYYMM(at)",
    engine="MergeTree",
    expires="at",
    keep="metrics",
)

ALL_TABLES: tuple[Table, ...] = (
    MENTIONS, WINDOW_METRICS, DEAD_LETTERS, ALERTS, INCIDENTS, ACTIVATIONS, DELIVERIES, TASKS,
    FEEDBACK_EVENTS, PIPELINE_METRICS,
)
