"""Build the Grafana dashboards (grafana/dashboards/*.json) from the panel specs below.

    python grafana/build_dashboards.py          # rewrite the JSON files
    python grafana/build_dashboards.py --check  # exit 1 if a file is out of date

The JSON files are what Grafana provisions; this script is their single source,
so the panels' SQL reads as SQL here and the JSON stays consistent (stable uids,
one datasource uid, grid positions). tests/test_grafana_dashboards.py runs every
query of the JSON files against ClickHouse (chDB) after a demo run.

Queries target grafana-clickhouse-datasource (v4): tables are unqualified (the
datasource's default database is `yuqing`), ReplacingMergeTree tables are read
with FINAL, times are UTC and Grafana shows them in the dashboard time zone.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards"
DS = {"type": "grafana-clickhouse-datasource", "uid": "yuqing-clickhouse"}
TIMEZONE = "Asia/Shanghai"
TAGS = ["yuqing"]

BRAND = "$__conditionalAll(brand IN (${brand:singlequote}), $brand)"
SOURCE = "$__conditionalAll(source IN (${source:singlequote}), $source)"
CATEGORY = "$__conditionalAll(category IN (${category:singlequote}), $category)"
INCIDENT = "incident_id = ${incident_id:singlequote}"
TIER_MAPPINGS = [{"type": "value", "options": {
    "0": {"text": "无 / resolved", "color": "green", "index": 0},
    "1": {"text": "一级 low", "color": "yellow", "index": 1},
    "2": {"text": "二级 medium", "color": "orange", "index": 2},
    "3": {"text": "三级 high", "color": "red", "index": 3},
}}]

# -- template variables ---------------------------------------------------------


def query_variable(name: str, label: str, sql: str, *, multi: bool = True,
                   include_all: bool = True) -> dict:
    return {
        "name": name, "label": label, "type": "query", "datasource": DS,
        "query": {"rawSql": sql, "editorType": "sql", "format": 1},
        "definition": sql, "refresh": 1, "multi": multi, "includeAll": include_all,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]} if include_all else {},
        "sort": 0, "hide": 0, "options": [],
    }


VAR_BRAND = query_variable("brand", "Brand 品牌",
                           "SELECT DISTINCT brand FROM window_metrics ORDER BY brand")
VAR_SOURCE = query_variable("source", "Source 来源",
                            "SELECT DISTINCT source FROM window_metrics ORDER BY source")
VAR_CATEGORY = query_variable(
    "category", "Category 类别",
    "SELECT DISTINCT category FROM mentions WHERE category != '' ORDER BY category")
VAR_INCIDENT = query_variable(
    "incident_id", "Incident 事件",
    "SELECT incident_id, concat(any(brand), ' · ', any(category), ' · ', "
    "formatDateTime(min(opened_at), '%F %R', 'Asia/Shanghai'), ' · ', incident_id) AS label\n"
    "FROM incidents FINAL GROUP BY incident_id ORDER BY max(at) DESC LIMIT 200",
    multi=False, include_all=False)

# -- panels ---------------------------------------------------------------------


def panel(kind: str, title: str, sql: str, *, w: int = 12, h: int = 8, table: bool = False,
          unit: str | None = None, description: str = "", interval: str | None = None,
          options: dict | None = None, custom: dict | None = None,
          mappings: list | None = None, overrides: list | None = None) -> dict:
    """One panel with one SQL target; gridPos x/y are filled in by `layout`."""
    defaults: dict = {}
    if unit:
        defaults["unit"] = unit
    if custom:
        defaults["custom"] = custom
    if mappings:
        defaults["mappings"] = mappings
    spec = {
        "type": kind, "title": title, "description": description, "datasource": DS,
        "gridPos": {"h": h, "w": w, "x": 0, "y": 0},
        "targets": [{
            "refId": "A", "datasource": DS, "editorType": "sql",
            "format": 1 if table else 0, "queryType": "table" if table else "timeseries",
            "rawSql": sql.strip(),
        }],
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or {},
    }
    if interval:
        spec["interval"] = interval
    return spec


def timeseries(title: str, sql: str, **kw) -> dict:
    kw.setdefault("interval", "1m")
    kw.setdefault("options", {"legend": {"displayMode": "table", "placement": "right",
                                         "calcs": ["max", "mean"]},
                              "tooltip": {"mode": "multi", "sort": "desc"}})
    return panel("timeseries", title, sql, **kw)


def table(title: str, sql: str, **kw) -> dict:
    kw.setdefault("options", {"showHeader": True, "cellHeight": "sm"})
    return panel("table", title, sql, table=True, **kw)


def barchart(title: str, sql: str, **kw) -> dict:
    kw.setdefault("options", {"orientation": "horizontal", "showValue": "auto",
                              "legend": {"showLegend": False}, "xTickLabelMaxLength": 24})
    return panel("barchart", title, sql, table=True, **kw)


def stat(title: str, sql: str, **kw) -> dict:
    kw.setdefault("w", 6)
    kw.setdefault("h", 4)
    kw.setdefault("options", {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                                "values": False},
                              "colorMode": "value", "graphMode": "none"})
    return panel("stat", title, sql, table=True, **kw)


def piechart(title: str, sql: str, **kw) -> dict:
    kw.setdefault("options", {"pieType": "donut", "reduceOptions": {
        "calcs": ["lastNotNull"], "fields": "", "values": True},
        "legend": {"displayMode": "table", "placement": "right", "values": ["value", "percent"]}})
    return panel("piechart", title, sql, table=True, **kw)


def annotation(name: str, sql: str, color: str) -> dict:
    return {"name": name, "datasource": DS, "enable": True, "iconColor": color,
            "target": {"refId": "Anno", "editorType": "sql", "format": 1, "rawSql": sql.strip()}}


def layout(panels: list[dict]) -> list[dict]:
    """Flow panels left to right, top to bottom on Grafana's 24-column grid; ids 1..n."""
    x = y = row_h = 0
    for i, p in enumerate(panels, 1):
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24:
            x, y, row_h = 0, y + row_h, 0
        p["gridPos"].update(x=x, y=y)
        p["id"] = i
        x, row_h = x + w, max(row_h, h)
    return panels


def dashboard(uid: str, title: str, description: str, panels: list[dict], variables: list[dict],
              annotations: list[dict] = (), time_from: str = "now-6h") -> dict:
    return {
        "uid": uid, "title": title, "description": description, "tags": TAGS,
        "timezone": TIMEZONE, "editable": True, "graphTooltip": 1, "schemaVersion": 39,
        "version": 1, "refresh": "1m", "time": {"from": time_from, "to": "now"},
        "templating": {"list": variables},
        "annotations": {"list": [
            {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
             "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
             "name": "Annotations & Alerts", "type": "dashboard"},
            *annotations]},
        "links": [{"title": "Yuqing", "type": "dashboards", "tags": TAGS, "asDropdown": True}],
        "panels": layout(panels),
    }


# -- Overview --------------------------------------------------------------------

OVERVIEW = dashboard(
    "yuqing-overview", "Yuqing · Overview 舆情总览",
    "Volume, sentiment, reach, keywords and stories per brand and source.",
    [
        stat("Mentions 提及量", f"""
SELECT sum(mentions) AS mentions FROM window_metrics FINAL
WHERE $__timeFilter(window_start) AND {BRAND} AND {SOURCE}""", unit="short"),
        stat("Negative share 负面占比", f"""
SELECT if(sum(mentions) = 0, 0, sum(negative) / sum(mentions)) AS negative_share
FROM window_metrics FINAL
WHERE $__timeFilter(window_start) AND {BRAND} AND {SOURCE}""", unit="percentunit"),
        stat("Reach 触达", f"""
SELECT sum(reach) AS reach FROM window_metrics FINAL
WHERE $__timeFilter(window_start) AND {BRAND} AND {SOURCE}""", unit="short"),
        stat("Unique authors 作者数", f"""
SELECT uniqExact(author_id) AS authors FROM mentions FINAL
WHERE $__timeFilter(published_at) AND {BRAND} AND {SOURCE} AND {CATEGORY}""", unit="short"),
        timeseries("Mentions per minute by brand 各品牌每分钟提及", f"""
SELECT $__timeInterval(window_start) AS time, brand, sum(mentions) / ($__interval_s / 60) AS per_minute
FROM window_metrics FINAL
WHERE $__timeFilter(window_start) AND {BRAND} AND {SOURCE}
GROUP BY time, brand ORDER BY time""", unit="short"),
        timeseries("Mentions per minute by source 各来源每分钟提及", f"""
SELECT $__timeInterval(window_start) AS time, source, sum(mentions) / ($__interval_s / 60) AS per_minute
FROM window_metrics FINAL
WHERE $__timeFilter(window_start) AND {BRAND} AND {SOURCE}
GROUP BY time, source ORDER BY time""", unit="short",
                   custom={"stacking": {"mode": "normal"}, "fillOpacity": 30}),
        timeseries("Sentiment mix 情感构成", f"""
SELECT $__timeInterval(published_at) AS time, sentiment_label, count() AS mentions
FROM mentions FINAL
WHERE $__timeFilter(published_at) AND {BRAND} AND {SOURCE} AND {CATEGORY}
GROUP BY time, sentiment_label ORDER BY time""",
                   custom={"stacking": {"mode": "percent"}, "fillOpacity": 60}, unit="short",
                   overrides=[
                       {"matcher": {"id": "byRegexp", "options": ".*negative.*"},
                        "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}}]},
                       {"matcher": {"id": "byRegexp", "options": ".*positive.*"},
                        "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "green"}}]},
                       {"matcher": {"id": "byRegexp", "options": ".*neutral.*"},
                        "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "text"}}]},
                   ]),
        timeseries("Negative share by brand 各品牌负面占比", f"""
SELECT $__timeInterval(window_start) AS time, brand,
       sum(negative) / greatest(sum(mentions), 1) AS negative_share
FROM window_metrics FINAL
WHERE $__timeFilter(window_start) AND {BRAND} AND {SOURCE}
GROUP BY time, brand ORDER BY time""", unit="percentunit"),
        timeseries("Reach by brand 各品牌触达", f"""
SELECT $__timeInterval(window_start) AS time, brand, sum(reach) AS reach
FROM window_metrics FINAL
WHERE $__timeFilter(window_start) AND {BRAND} AND {SOURCE}
GROUP BY time, brand ORDER BY time""", unit="short"),
        barchart("Top keywords (negative mentions) 负面热词", f"""
SELECT keyword, count() AS mentions
FROM mentions FINAL ARRAY JOIN keywords AS keyword
WHERE $__timeFilter(published_at) AND {BRAND} AND {SOURCE} AND {CATEGORY}
  AND sentiment_label = 'negative' AND lengthUTF8(keyword) >= 2
GROUP BY keyword ORDER BY mentions DESC LIMIT 20""", h=10),
        table("Top stories 热点话题", f"""
SELECT story_id, any(brand) AS story_brand, count() AS mentions,
       countIf(sentiment_label = 'negative') AS negative,
       sum(reposts + comments + likes) AS engagement,
       min(published_at) AS first_seen,
       argMin(text, published_at) AS first_text
FROM mentions FINAL
WHERE $__timeFilter(published_at) AND {BRAND} AND {SOURCE} AND {CATEGORY}
GROUP BY story_id ORDER BY mentions DESC LIMIT 20""", w=24, h=10),
    ],
    [VAR_BRAND, VAR_SOURCE, VAR_CATEGORY],
    [annotation("Spike alerts 突增告警", """
SELECT at AS time, summary AS text, brand AS tags FROM alerts FINAL
WHERE $__timeFilter(at) ORDER BY time""", "orange")],
)

# -- Early warning ---------------------------------------------------------------

_BAND = f"""
SELECT time, brand, observed, expected, expected + 3 * greatest(spread, sqrt(expected), 1) AS upper
FROM (
  SELECT time, brand, observed,
         avg(observed) OVER w AS expected, stddevPop(observed) OVER w AS spread
  FROM (
    SELECT $__timeInterval(window_start) AS time, brand, toFloat64(sum(mentions)) AS observed
    FROM window_metrics FINAL
    WHERE $__timeFilter(window_start) AND {BRAND} AND {SOURCE}
    GROUP BY time, brand
    ORDER BY brand, time WITH FILL STEP toIntervalSecond($__interval_s)
  )
  WINDOW w AS (PARTITION BY brand ORDER BY time ROWS BETWEEN 30 PRECEDING AND 1 PRECEDING)
)"""

EARLY_WARNING = dashboard(
    "yuqing-early-warning", "Yuqing · Early warning 预警",
    "Risk score and tier per brand × category, open incidents, bursts against the expectation band.",
    [
        stat("Open incidents 未结事件", f"""
SELECT countIf(last_state != 'resolved') AS open_incidents FROM (
  SELECT incident_id, argMax(state, seq) AS last_state FROM incidents FINAL
  WHERE at <= $__toTime AND {BRAND} AND {CATEGORY} GROUP BY incident_id)""",
             options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                      "colorMode": "background", "graphMode": "none"}),
        stat("Highest tier now 当前最高级别", f"""
SELECT max(if(last_state = 'resolved', 0, last_tier)) AS tier FROM (
  SELECT incident_id, argMax(state, seq) AS last_state, argMax(tier, seq) AS last_tier
  FROM incidents FINAL WHERE at <= $__toTime AND {BRAND} AND {CATEGORY} GROUP BY incident_id)""",
             mappings=TIER_MAPPINGS,
             options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                      "colorMode": "background", "graphMode": "none"}),
        stat("Incidents opened in range 期间新事件", f"""
SELECT uniqExact(incident_id) AS opened FROM incidents FINAL
WHERE $__timeFilter(opened_at) AND {BRAND} AND {CATEGORY}"""),
        stat("Spike alerts in range 突增告警", f"""
SELECT count() AS alerts FROM alerts FINAL WHERE $__timeFilter(at) AND {BRAND}"""),
        timeseries("Risk score per brand × category 风险分", f"""
SELECT at AS time, concat(brand, ' · ', category) AS key, risk_score
FROM incidents FINAL
WHERE $__timeFilter(at) AND {BRAND} AND {CATEGORY}
ORDER BY time""", interval=None, unit="none",
                   custom={"lineInterpolation": "stepAfter", "showPoints": "always"}),
        panel("state-timeline", "Tier per brand × category 风险等级", f"""
SELECT at AS time, concat(brand, ' · ', category) AS key, tier
FROM incidents FINAL
WHERE $__timeFilter(at) AND {BRAND} AND {CATEGORY}
ORDER BY time""", mappings=TIER_MAPPINGS,
              options={"mergeValues": True, "showValue": "auto", "rowHeight": 0.8}),
        table("Incidents open in range (current state) 事件", f"""
SELECT incident_id, brand, category, argMax(state, seq) AS current_state,
       argMax(tier, seq) AS current_tier, max(peak_tier) AS peak, round(max(peak_score), 1) AS peak_score,
       min(opened_at) AS opened, max(at) AS last_change
FROM incidents FINAL
WHERE at <= $__toTime AND {BRAND} AND {CATEGORY}
GROUP BY incident_id, brand, category
HAVING current_state != 'resolved' OR last_change >= $__fromTime
ORDER BY current_state = 'resolved', current_tier DESC, opened DESC LIMIT 100""", w=24,
              overrides=[{"matcher": {"id": "byName", "options": "current_tier"},
                          "properties": [{"id": "mappings", "value": TIER_MAPPINGS},
                                         {"id": "custom.cellOptions",
                                          "value": {"type": "color-background"}}]},
                         {"matcher": {"id": "byName", "options": "incident_id"},
                          "properties": [{"id": "links", "value": [{
                              "title": "Drill down",
                              "url": "/d/yuqing-incident?var-incident_id=${__value.raw}&${__url_time_range}"}]}]}]),
        timeseries("Mentions against the expectation band 提及量与预期区间", f"""
SELECT time, sum(observed) AS observed, sum(expected) AS expected, sum(upper) AS upper_band
FROM ({_BAND})
GROUP BY time ORDER BY time""", w=24, unit="short",
                   overrides=[{"matcher": {"id": "byName", "options": "upper_band"},
                               "properties": [{"id": "custom.lineStyle",
                                               "value": {"fill": "dash", "dash": [10, 10]}}]}]),
        table("Bursts above the band 超出预期的突增", f"""
SELECT time, brand, observed, round(expected, 1) AS expected, round(upper, 1) AS upper_band,
       round(observed / greatest(expected, 1), 1) AS ratio
FROM ({_BAND})
WHERE observed > upper AND observed >= 5
ORDER BY time DESC LIMIT 100"""),
        table("Spike alerts 突增告警", f"""
SELECT at AS time, kind, brand, summary FROM alerts FINAL
WHERE $__timeFilter(at) AND {BRAND} ORDER BY at DESC LIMIT 100"""),
    ],
    [VAR_BRAND, VAR_CATEGORY, VAR_SOURCE],
    [annotation("Incident changes 事件变化", f"""
SELECT at AS time, concat(brand, ' · ', category, ': ', change, ' tier ', toString(tier)) AS text,
       change AS tags
FROM incidents FINAL WHERE $__timeFilter(at) AND {BRAND} AND {CATEGORY} ORDER BY time""", "red")],
)

# -- Incident drill-down --------------------------------------------------------------

# The incident's brand, category and time span (first row of the scope subquery).
_SCOPE = f"""
SELECT any(brand) AS b, any(category) AS c, min(opened_at) AS t0,
       coalesce(argMax(resolved_at, seq), max(at), now64(3)) AS t1
FROM incidents FINAL WHERE {INCIDENT}"""
_IN_SCOPE = f"""(brand, category) IN (SELECT b, c FROM ({_SCOPE}))
  AND published_at >= (SELECT t0 - INTERVAL 30 MINUTE FROM ({_SCOPE}))
  AND published_at <= (SELECT t1 FROM ({_SCOPE}))"""

INCIDENT_DRILL = dashboard(
    "yuqing-incident", "Yuqing · Incident drill-down 事件详情",
    "One incident: timeline, evidence, keywords, sources and origin, propagation, "
    "playbook activations and task status.",
    [
        table("Timeline 时间线", f"""
SELECT at, seq, change, state, tier, previous_tier, round(risk_score, 1) AS risk_score,
       peak_tier, round(peak_score, 1) AS peak_score, false_alarm
FROM incidents FINAL WHERE {INCIDENT} ORDER BY seq""", w=24, h=7,
              overrides=[{"matcher": {"id": "byRegexp", "options": "tier|previous_tier|peak_tier"},
                          "properties": [{"id": "mappings", "value": TIER_MAPPINGS}]}]),
        timeseries("Volume around the incident 事件期间提及量", f"""
SELECT $__timeInterval(published_at) AS time, count() AS mentions,
       countIf(sentiment_label = 'negative') AS negative
FROM mentions FINAL
WHERE $__timeFilter(published_at) AND {_IN_SCOPE}
GROUP BY time ORDER BY time""", w=16, unit="short"),
        table("Where it began 起源", f"""
SELECT JSONExtractString(i.evidence, 'began', 'source') AS source,
       JSONExtractString(i.evidence, 'began', 'at') AS began_at,
       JSONExtractString(i.evidence, 'began', 'mention_id') AS mention_id,
       m.text AS text
FROM (SELECT evidence FROM incidents FINAL WHERE {INCIDENT} ORDER BY seq LIMIT 1) AS i
LEFT JOIN (SELECT id, text FROM mentions FINAL WHERE {_IN_SCOPE}) AS m
  ON m.id = JSONExtractString(i.evidence, 'began', 'mention_id')""", w=8),
        table("Evidence mentions 证据", f"""
SELECT published_at, source, author_name, followers, reposts + comments + likes AS engagement,
       round(sentiment, 2) AS sentiment, text, url
FROM mentions FINAL
WHERE (brand, category) IN (SELECT b, c FROM ({_SCOPE}))
  AND id IN (SELECT arrayJoin(JSONExtract(evidence, 'mention_ids', 'Array(String)'))
             FROM incidents FINAL WHERE {INCIDENT})
ORDER BY engagement DESC LIMIT 100""", w=24, h=10),
        barchart("Keywords 关键词", f"""
SELECT keyword, count() AS mentions
FROM mentions FINAL ARRAY JOIN keywords AS keyword
WHERE {_IN_SCOPE} AND sentiment_label = 'negative' AND lengthUTF8(keyword) >= 2
GROUP BY keyword ORDER BY mentions DESC LIMIT 15""", w=8),
        piechart("Sources 来源", f"""
SELECT source, count() AS mentions FROM mentions FINAL
WHERE {_IN_SCOPE} GROUP BY source ORDER BY mentions DESC""", w=8),
        barchart("Propagation: repost chain depth 传播深度", f"""
WITH RECURSIVE
  scope AS (SELECT id, parent_id FROM mentions FINAL WHERE {_IN_SCOPE}),
  chain AS (
    SELECT id, 0 AS depth FROM scope
    WHERE parent_id = '' OR parent_id NOT IN (SELECT id FROM scope)
    UNION ALL
    SELECT s.id, chain.depth + 1 FROM scope AS s INNER JOIN chain ON s.parent_id = chain.id
    WHERE chain.depth < 20)
SELECT concat('depth ', toString(depth)) AS hop, count() AS mentions
FROM chain GROUP BY depth ORDER BY depth""", w=8,
                 description="Depth 0 are original posts; depth n reposts/replies n hops from one."),
        table("Playbook activations 预案启动", f"""
SELECT created_at, playbook_id, playbook_version, tier, match_rank,
       arrayStringConcat(departments, ', ') AS departments, key
FROM activations FINAL WHERE {INCIDENT} ORDER BY created_at""", w=12,
              overrides=[{"matcher": {"id": "byName", "options": "tier"},
                          "properties": [{"id": "mappings", "value": TIER_MAPPINGS}]}]),
        table("Tasks 任务", f"""
SELECT department, task_id, status, assignee, due_at, updated_at,
       if(due_at IS NOT NULL AND status NOT IN ('done', 'cancelled') AND due_at < now64(3),
          'overdue', '') AS flag, detail
FROM tasks FINAL WHERE {INCIDENT} ORDER BY department, task_id""", w=12),
        table("Deliveries to runners 推送", f"""
SELECT runner, kind, status, attempts, enqueued_at, delivered_at, updated_at, detail
FROM deliveries FINAL WHERE {INCIDENT} ORDER BY enqueued_at""", w=24, h=6),
    ],
    [VAR_INCIDENT],
    time_from="now-24h",
)

# -- Playbook operations -----------------------------------------------------------------

ACKED = "status IN ('accepted', 'done', 'failed')"
OPEN_TASK = "status NOT IN ('done', 'cancelled')"

PLAYBOOKS = dashboard(
    "yuqing-playbooks", "Yuqing · Playbook operations 预案执行",
    "Activations per playbook, acknowledgement latency, overdue tasks by department, "
    "delivery failures.",
    [
        stat("Activations 启动次数", f"""
SELECT count() AS activations FROM activations FINAL
WHERE $__timeFilter(created_at) AND {BRAND} AND {CATEGORY}"""),
        stat("Median ack latency 确认时延中位数", f"""
SELECT quantile(0.5)(dateDiff('millisecond', enqueued_at, updated_at) / 1000) AS p50
FROM deliveries FINAL
WHERE $__timeFilter(enqueued_at) AND {ACKED} AND {BRAND} AND {CATEGORY}""", unit="s"),
        stat("Open tasks past due 逾期任务", f"""
SELECT countIf({OPEN_TASK} AND due_at < $__toTime) AS overdue FROM tasks FINAL
WHERE due_at IS NOT NULL AND {BRAND}"""),
        stat("Failed deliveries 推送失败", f"""
SELECT countIf(status = 'failed') AS failed FROM deliveries FINAL
WHERE $__timeFilter(enqueued_at) AND {BRAND} AND {CATEGORY}"""),
        barchart("Activations per playbook 各预案启动次数", f"""
SELECT playbook_id, count() AS activations FROM activations FINAL
WHERE $__timeFilter(created_at) AND {BRAND} AND {CATEGORY}
GROUP BY playbook_id ORDER BY activations DESC"""),
        timeseries("Activations over time 启动趋势", f"""
SELECT $__timeInterval(created_at) AS time, playbook_id, count() AS activations
FROM activations FINAL
WHERE $__timeFilter(created_at) AND {BRAND} AND {CATEGORY}
GROUP BY time, playbook_id ORDER BY time""", custom={"drawStyle": "bars", "stacking": {"mode": "normal"}}),
        timeseries("Acknowledgement latency 确认时延", f"""
SELECT $__timeInterval(enqueued_at) AS time,
       quantile(0.5)(dateDiff('millisecond', enqueued_at, updated_at) / 1000) AS p50,
       quantile(0.9)(dateDiff('millisecond', enqueued_at, updated_at) / 1000) AS p90,
       max(dateDiff('millisecond', enqueued_at, updated_at) / 1000) AS max
FROM deliveries FINAL
WHERE $__timeFilter(enqueued_at) AND {ACKED} AND {BRAND} AND {CATEGORY}
GROUP BY time ORDER BY time""", unit="s", interval="5m"),
        table("Acknowledgement by runner 各执行端确认", f"""
SELECT runner, count() AS deliveries, countIf({ACKED}) AS acknowledged,
       countIf(status = 'failed') AS failed, max(attempts) AS max_attempts,
       round(quantileIf(0.5)(dateDiff('millisecond', enqueued_at, updated_at) / 1000, {ACKED}), 1) AS p50_ack_s,
       argMaxIf(detail, updated_at, status = 'failed') AS last_failure
FROM deliveries FINAL
WHERE $__timeFilter(enqueued_at) AND {BRAND} AND {CATEGORY}
GROUP BY runner ORDER BY failed DESC, runner"""),
        barchart("Tasks overdue by department 各部门逾期任务", f"""
SELECT department,
       countIf({OPEN_TASK} AND due_at < $__toTime) AS overdue_open,
       countIf(status = 'done' AND updated_at > due_at) AS done_late,
       countIf({OPEN_TASK}) AS open
FROM tasks FINAL
WHERE due_at IS NOT NULL AND due_at <= $__toTime AND {BRAND}
GROUP BY department ORDER BY overdue_open DESC, department""",
                 options={"orientation": "horizontal", "stacking": "none", "showValue": "auto",
                          "legend": {"showLegend": True, "placement": "bottom"}}),
        timeseries("Delivery outcomes 推送结果", f"""
SELECT $__timeInterval(updated_at) AS time, status, count() AS deliveries
FROM deliveries FINAL
WHERE $__timeFilter(updated_at) AND {BRAND} AND {CATEGORY}
GROUP BY time, status ORDER BY time""", interval="5m",
                   custom={"drawStyle": "bars", "stacking": {"mode": "normal"}},
                   overrides=[{"matcher": {"id": "byRegexp", "options": ".*failed.*"},
                               "properties": [{"id": "color",
                                               "value": {"mode": "fixed", "fixedColor": "red"}}]}]),
    ],
    [VAR_BRAND, VAR_CATEGORY],
)

# -- Pipeline health -------------------------------------------------------------------

PIPELINE = dashboard(
    "yuqing-pipeline", "Yuqing · Pipeline health 数据管道",
    "Throughput, event-time lag, backlog (Kafka lag, outbox depth), sink latency, dead letters "
    "by reason and model feedback, by processing time. The backlog, latency and run counters are "
    "the samples `yuqing run` writes to pipeline_metrics every --metrics-every seconds.",
    [
        stat("Mentions stored 入库提及", f"""
SELECT count() AS mentions FROM mentions WHERE $__timeFilter(ingested_at) AND {SOURCE}"""),
        stat("Dead letters 死信", """
SELECT count() AS dead_letters FROM dead_letters FINAL WHERE $__timeFilter(received_at)"""),
        stat("p95 event-time lag 事件时间延迟", f"""
SELECT quantile(0.95)(dateDiff('millisecond', published_at, ingested_at) / 1000) AS p95_lag
FROM mentions WHERE $__timeFilter(ingested_at) AND {SOURCE}""", unit="s"),
        stat("Feedback received 反馈", """
SELECT count() AS feedback FROM feedback_events WHERE $__timeFilter(at)"""),
        timeseries("Throughput 吞吐 (mentions/s)", f"""
SELECT $__timeInterval(ingested_at) AS time, source, count() / $__interval_s AS per_second
FROM mentions
WHERE $__timeFilter(ingested_at) AND {SOURCE}
GROUP BY time, source ORDER BY time""", interval="10s", unit="short",
                   custom={"stacking": {"mode": "normal"}, "fillOpacity": 30}),
        timeseries("Event-time lag 事件时间延迟", f"""
SELECT $__timeInterval(ingested_at) AS time,
       quantile(0.5)(dateDiff('millisecond', published_at, ingested_at) / 1000) AS p50,
       quantile(0.95)(dateDiff('millisecond', published_at, ingested_at) / 1000) AS p95,
       max(dateDiff('millisecond', published_at, ingested_at) / 1000) AS max
FROM mentions
WHERE $__timeFilter(ingested_at) AND {SOURCE}
GROUP BY time ORDER BY time""", interval="10s", unit="s",
                   description="ingested_at (store write time) minus published_at (event time)."),
        timeseries("Backlog 积压 (Kafka lag, outbox depth)", """
SELECT $__timeInterval(at) AS time,
       if(name = 'yuqing_kafka_lag', concat('kafka ', labels['topic'], '/', labels['partition']),
          concat('outbox → ', labels['runner'])) AS backlog,
       max(value) AS messages
FROM pipeline_metrics
WHERE name IN ('yuqing_kafka_lag', 'yuqing_outbox_depth') AND $__timeFilter(at)
GROUP BY time, backlog ORDER BY time""", interval="15s", unit="short",
                   description="Kafka: the partition's high watermark less the next offset the "
                               "flow reads. Outbox: events a runner has not yet acknowledged. "
                               "Both only while a run with a Kafka input or a runner is live."),
        timeseries("Sink batch latency 写入耗时 (ms per batch)", """
SELECT $__timeInterval(at) AS time, labels['table'] AS table,
       1000 * max(if(name = 'yuqing_sink_batch_seconds_sum', value, 0))
         / nullIf(max(if(name = 'yuqing_sink_batch_seconds_count', value, 0)), 0) AS ms_per_batch
FROM pipeline_metrics
WHERE name IN ('yuqing_sink_batch_seconds_sum', 'yuqing_sink_batch_seconds_count')
  AND $__timeFilter(at)
GROUP BY time, table ORDER BY time""", interval="15s", unit="ms",
                   description="Mean time of a ClickHouse batch write since the run started."),
        table("Run counters 运行计数", """
SELECT process, name, argMax(value, at) AS value, max(at) AS sampled_at
FROM pipeline_metrics
WHERE $__timeFilter(at) AND name NOT IN ('yuqing_kafka_lag', 'yuqing_outbox_depth')
GROUP BY process, name ORDER BY process, name""",
              description="The last sample of each run metric, per process."),
        barchart("Dead letters by reason 死信原因", """
SELECT trim(BOTH ' ' FROM splitByChar(':', reason)[1]) AS reason_kind, count() AS dead_letters
FROM dead_letters FINAL WHERE $__timeFilter(received_at)
GROUP BY reason_kind ORDER BY dead_letters DESC"""),
        table("Latest dead letters 最新死信", """
SELECT received_at, origin, reason, substring(raw, 1, 200) AS raw
FROM dead_letters FINAL WHERE $__timeFilter(received_at)
ORDER BY received_at DESC LIMIT 50"""),
        timeseries("Model feedback received 模型反馈", """
SELECT $__timeInterval(at) AS time, concat(kind, ' · ', outcome) AS kind_outcome, count() AS events
FROM feedback_events WHERE $__timeFilter(at)
GROUP BY time, kind_outcome ORDER BY time""", interval="1m",
                   custom={"drawStyle": "bars", "stacking": {"mode": "normal"}}),
        table("Feedback by kind and outcome 反馈明细", """
SELECT kind, outcome, count() AS events, max(at) AS last_at
FROM feedback_events WHERE $__timeFilter(at)
GROUP BY kind, outcome ORDER BY events DESC"""),
    ],
    [VAR_SOURCE],
    time_from="now-1h",
)

DASHBOARDS = {
    "overview.json": OVERVIEW,
    "early_warning.json": EARLY_WARNING,
    "incident.json": INCIDENT_DRILL,
    "playbooks.json": PLAYBOOKS,
    "pipeline.json": PIPELINE,
}


def render(board: dict) -> str:
    return json.dumps(board, ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a JSON file is out of date")
    args = parser.parse_args(argv)
    stale = []
    OUT.mkdir(parents=True, exist_ok=True)
    for name, board in DASHBOARDS.items():
        path, text = OUT / name, render(board)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        if args.check:
            stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python grafana/build_dashboards.py",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
