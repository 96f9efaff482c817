"""The `yuqing.v1` gRPC contract as Python modules, generated from `proto/` on first use.

Import the messages and stubs from here, never from `yuqing._generated`
directly: importing this module first makes sure the generated code matches
`proto/` (see `yuqing.proto.build`).

>>> from yuqing.proto import activation_pb2
>>> activation_pb2.Tier.Name(3)
'TIER_HIGH'
"""

from __future__ import annotations

import copyreg

from yuqing.proto.build import ensure_generated

ensure_generated()

from yuqing._generated.v1 import (  # noqa: E402
    action_bus_pb2,
    action_bus_pb2_grpc,
    activation_pb2,
)


def _rebuild(module: str, name: str, data: bytes):
    message = getattr(_MODULES[module], name)()
    message.ParseFromString(data)
    return message


def _picklable(module) -> None:
    """Pickle messages as their wire bytes: the generated classes name a module
    (`yuqing.v1.…`) that cannot be imported, and a cluster sends them between
    processes pickled."""
    key = module.__name__.rsplit(".", 1)[1]
    _MODULES[key] = module
    for name in module.DESCRIPTOR.message_types_by_name:
        copyreg.pickle(getattr(module, name),
                       lambda m, name=name: (_rebuild, (key, name, m.SerializeToString())))


_MODULES: dict = {}
_picklable(activation_pb2)
_picklable(action_bus_pb2)

SERVICE_NAME = "yuqing.v1.ActionBus"
ACTIVATION_SCHEMA_VERSION = 1
TICKET_SCHEMA_VERSION = 1

__all__ = [
    "ACTIVATION_SCHEMA_VERSION",
    "SERVICE_NAME",
    "TICKET_SCHEMA_VERSION",
    "action_bus_pb2",
    "action_bus_pb2_grpc",
    "activation_pb2",
]
