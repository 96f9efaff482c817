"""The crisis-response strategy library (策略库) and what it produces.

Owns the playbook schema and validator, the shipped library and its matcher,
rendering of tasks and statements, activation events, and complaint
tickets. An activation is a contract message, so this layer builds protobuf
messages from `yuqing.proto`.

May import: the models (`yuqing.warning`, `yuqing.text`, `yuqing.stream`),
`yuqing.core`, `yuqing.proto`, `yuqing.errors`. Never the bus, sinks or
flows, and never Bytewax, Kafka or ClickHouse.
"""
