"""The console runner: each delivery printed readably (tasks, deadlines, statements, evidence)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO

from yuqing.bus.client import Outcome
from yuqing.proto import action_bus_pb2
from yuqing.runners.format import markdown, plain


@dataclass
class ConsoleRunner:
    """Prints to `out` (stdout by default); a handler for `RunnerClient.run`."""

    out: TextIO = field(default_factory=lambda: sys.stdout)

    def __call__(self, delivery: action_bus_pb2.Delivery) -> Outcome:
        _, body = markdown(delivery)
        again = f", attempt {delivery.attempt}" if delivery.attempt > 1 else ""
        self.out.write(f"── #{delivery.cursor}{again} " + "─" * 40 + "\n" + plain(body) + "\n\n")
        self.out.flush()
        return Outcome.done("printed")
