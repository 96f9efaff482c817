"""Destinations: ClickHouse tables, JSONL files and Kafka topics."""
