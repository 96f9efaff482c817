"""Measuring the models on data with known answers.

Owns the NAB scorer (`nab`), the crisis-stream evaluation of the early
warning (`early_warning`, `early_warning_plot`) and the demo generator of
realistic mentions with labelled crises (`demo`), which `yuqing run --input
demo` also replays.

May import: the models, `yuqing.core`, `yuqing.errors`. Never the flows,
sinks, bus, Bytewax, Kafka or ClickHouse.
"""
