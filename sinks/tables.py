"""The ClickHouse schema: one `Table` per destination, created idempotently on start.

Every table is a ReplacingMergeTree keyed by a deterministic row key, because
Bytewax sinks are at-least-once: a row written twice after a restart collapses
into one, and readers use FINAL (or argMax) to see the collapsed state.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    """A table's name, its columns in insert order, its DDL body and later-added columns.

    `added` holds `name type` column definitions introduced after a table first
    shipped; they are applied with ADD COLUMN IF NOT EXISTS on every start, so an
    existing store catches up without losing data.
    """

    name: str
    columns: tuple[str, ...]
    ddl: str
    added: tuple[str, ...] = ()

    def create_sql(self, database: str) -> str:
        return f"CREATE TABLE IF NOT EXISTS {database}.{self.name} {self.ddl}"

    def migrations(self, database: str) -> list[str]:
        return [f"ALTER TABLE {database}.{self.name} ADD COLUMN IF NOT EXISTS {column}"
                for column in self.added]


MENTIONS = Table(
    "mentions",
    ("id", "source", "brand", "published_at", "text", "title", "url", "lang", "author_id",
     "author_name", "followers", "verified", "reposts", "comments", "likes", "parent_id",
     "sentiment", "sentiment_label", "category", "category_evidence", "story_id", "keywords"),
    """(
        id String,
        source LowCardinality(String),
        brand LowCardinality(String),
        published_at DateTime64(3, 'UTC'),
        text String,
        title String,
        url String,
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
        category_evidence Array(String),
        story_id String,
        keywords Array(String)
    ) ENGINE = ReplacingMergeTree
    PARTITION BY toYYYYMM(published_at)
    ORDER BY (brand, published_at, id)""",
    added=("ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)",),
)

WINDOW_METRICS = Table(
    "window_metrics",
    ("brand", "source", "window_start", "window_end", "mentions", "negative", "unique_authors",
     "reach", "engagement", "verified", "sentiment_avg"),
    """(
        brand LowCardinality(String),
        source LowCardinality(String),
        window_start DateTime('UTC'),
        window_end DateTime('UTC'),
        mentions UInt32,
        negative UInt32,
        unique_authors UInt32,
        reach UInt64,
        engagement UInt64,
        verified UInt32,
        sentiment_avg Float32
    ) ENGINE = ReplacingMergeTree
    PARTITION BY toYYYYMM(window_start)
    ORDER BY (brand, source, window_start)""",
)

DEAD_LETTERS = Table(
    "dead_letters",
    ("origin", "reason", "raw"),
    """(
        origin String,
        reason String,
        raw String,
        received_at DateTime64(3, 'UTC') DEFAULT now64(3)
    ) ENGINE = ReplacingMergeTree
    ORDER BY origin""",
)

ALERTS = Table(
    "alerts",
    ("key", "kind", "brand", "at", "summary", "payload"),
    """(
        key String,
        kind LowCardinality(String),
        brand LowCardinality(String),
        at DateTime64(3, 'UTC'),
        summary String,
        payload String
    ) ENGINE = ReplacingMergeTree
    ORDER BY key""",
)

INCIDENTS = Table(
    "incidents",
    ("incident_id", "seq", "change", "at", "brand", "category", "state", "tier", "previous_tier",
     "risk_score", "peak_tier", "peak_score", "opened_at", "resolved_at", "false_alarm",
     "evidence"),
    """(
        incident_id String,
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
        evidence String
    ) ENGINE = ReplacingMergeTree
    PARTITION BY toYYYYMM(opened_at)
    ORDER BY (incident_id, seq)""",
)

ACTIVATIONS = Table(
    "activations",
    ("key", "incident_id", "brand", "category", "tier", "playbook_id", "playbook_version",
     "match_rank", "departments", "created_at", "payload"),
    """(
        key String,
        incident_id String,
        brand LowCardinality(String),
        category LowCardinality(String),
        tier UInt8,
        playbook_id LowCardinality(String),
        playbook_version UInt32,
        match_rank UInt8,
        departments Array(LowCardinality(String)),
        created_at DateTime64(3, 'UTC'),
        payload String
    ) ENGINE = ReplacingMergeTree
    ORDER BY (brand, key)""",
)

DELIVERIES = Table(
    "deliveries",
    ("runner", "seq", "key", "kind", "incident_id", "brand", "category", "tier", "departments",
     "attempts", "status", "detail", "enqueued_at", "delivered_at", "updated_at"),
    """(
        runner LowCardinality(String),
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
        updated_at DateTime64(3, 'UTC')
    ) ENGINE = ReplacingMergeTree(updated_at)
    ORDER BY (runner, seq)""",
)

TASKS = Table(
    "tasks",
    ("key", "task_id", "incident_id", "brand", "department", "status", "assignee", "detail",
     "due_at", "updated_at"),
    """(
        key String,
        task_id String,
        incident_id String,
        brand LowCardinality(String),
        department LowCardinality(String),
        status LowCardinality(String),
        assignee String,
        detail String,
        due_at Nullable(DateTime64(3, 'UTC')),
        updated_at DateTime64(3, 'UTC')
    ) ENGINE = ReplacingMergeTree(updated_at)
    ORDER BY (key, task_id)""",
)

FEEDBACK_EVENTS = Table(
    "feedback_events",
    ("at", "kind", "outcome", "detail"),
    """(
        at DateTime64(3, 'UTC'),
        kind LowCardinality(String),
        outcome LowCardinality(String),
        detail String
    ) ENGINE = MergeTree
    ORDER BY at""",
)

ALL_TABLES: tuple[Table, ...] = (
    MENTIONS, WINDOW_METRICS, DEAD_LETTERS, ALERTS, INCIDENTS, ACTIVATIONS, DELIVERIES, TASKS,
    FEEDBACK_EVENTS,
)
