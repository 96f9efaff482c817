"""The action bus: how activations reach the runners that act on them.

Owns the durable outbox (`outbox`), runner authentication and scopes
(`auth`), the gRPC `ActionBus` server (`server`) and the runner-side client
with cursors and acknowledgements (`client`).

May import: `yuqing.playbooks`, `yuqing.proto`, `yuqing.core`, the models,
grpcio. Never the flows, sinks, commands, Bytewax or ClickHouse.
"""
