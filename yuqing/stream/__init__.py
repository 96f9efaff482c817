"""Bookkeeping over the mention stream: a model layer.

Owns exact-duplicate suppression by id (`dedup`) and the per-window
aggregates written to `window_metrics` (`windows`).

May import: `yuqing.core` only. Never Bytewax, Kafka, ClickHouse or gRPC.
"""
