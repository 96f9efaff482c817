"""Destinations: ClickHouse tables, JSONL files, Kafka topics, the bus outbox (installed as `yuqing.sinks`).

A sink takes typed rows and writes them, batched and idempotent; it does not
decide what to write.

May import: `yuqing.bus` (outbox and server), `yuqing.proto`, `yuqing.core`,
`yuqing.errors`, clickhouse-connect, confluent-kafka, Bytewax's sink API.
Never the flows or commands.
"""
