"""The exec runner: one command run per delivery, the delivery as JSON on its stdin (for IT-ops scripts).

The command gets `yuqing.delivery/v1` JSON (see `yuqing.runners.format.delivery_dict`)
on stdin and `YUQING_CURSOR`, `YUQING_KEY`, `YUQING_KIND` and `YUQING_ATTEMPT`
in its environment. Exit status 0 acknowledges DONE with the last line of
stdout as the detail (e.g. the ticket number a CRM returned); 75
(EX_TEMPFAIL) or a timeout acknowledges FAILED and asks for the delivery
again later; any other status acknowledges FAILED with the end of stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from yuqing.bus.client import Outcome, delivery_key
from yuqing.proto import action_bus_pb2
from yuqing.runners.format import delivery_dict

EX_TEMPFAIL = 75


@dataclass
class ExecRunner:
    """Runs `argv` per delivery; a handler for `RunnerClient.run`."""

    argv: Sequence[str]
    timeout: float = 60.0

    def __call__(self, delivery: action_bus_pb2.Delivery) -> Outcome:
        event = delivery_dict(delivery)
        env = {**os.environ, "YUQING_CURSOR": str(delivery.cursor), "YUQING_KEY": delivery_key(delivery),
               "YUQING_KIND": event["kind"], "YUQING_ATTEMPT": str(delivery.attempt)}
        data = json.dumps(event, ensure_ascii=False).encode("utf-8")
        try:
            done = subprocess.run(list(self.argv), input=data, capture_output=True, env=env,
                                  timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            return Outcome.failed(f"{self.argv[0]} timed out after {self.timeout:g} s", retry=True)
        except OSError as err:
            return Outcome.failed(f"cannot run {self.argv[0]}: {err.strerror}", retry=True)
        if done.returncode == 0:
            return Outcome.done(_last_line(done.stdout) or "exit 0")
        tail = _last_line(done.stderr) or _last_line(done.stdout)
        return Outcome.failed(f"{self.argv[0]} exited {done.returncode}: {tail}",
                              retry=done.returncode == EX_TEMPFAIL)


def _last_line(output: bytes) -> str:
    lines = [ln.strip() for ln in output.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1][:500] if lines else ""
