"""Reports read from ClickHouse: the daily brief (每日舆情简报) and the incident review (复盘).

Owns the queries' shaping, the HTML/Markdown formatting and the PNG charts.
The caller hands in a clickhouse-connect client; reports never open one.

May import: the models (for tier names), `yuqing.core`, `yuqing.errors`,
matplotlib. Never the flows, sinks or bus.
"""
