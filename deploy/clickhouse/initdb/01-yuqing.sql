-- Runs once, when the ClickHouse volume is first initialised.
-- The service creates and migrates its tables itself on every start (sinks/tables.py);
-- this only makes the database exist so Grafana's user can be granted on it from the start.
CREATE DATABASE IF NOT EXISTS yuqing;
