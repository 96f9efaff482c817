"""Stop a run cleanly on SIGTERM (`docker stop`) or Ctrl-C: drain, then say what was done.

The first signal sets the run's stop event: every input ends at its next
batch, so Bytewax finishes the epoch, sinks flush, the last snapshot is taken
(with `--recovery`) and the summary prints. A second signal stops at once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("yuqing.run")

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Drain:
    """Signal handlers for the life of a run (a context manager); `received` names the signal."""

    def __init__(
        self,
        stop: threading.Event,
        recovering: bool = False,
        forward: Callable[[signal.Signals], None] | None = None,
    ) -> None:
        self.stop = stop
        self.recovering = recovering
        self.forward = forward  # passes the signal on (to a cluster's other processes)
        self.received: signal.Signals | None = None
        self._previous: dict[signal.Signals, object] = {}

    @property
    def exit_code(self) -> int:
        return 0 if self.received is None else EXIT_CODES[self.received]

    def __enter__(self) -> Drain:
        if threading.current_thread() is threading.main_thread():  # only it may set handlers
            for sig in EXIT_CODES:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *_exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        sig = signal.Signals(signum)
        if self.forward is not None:
            self.forward(sig)
        if self.received is not None:
            log.warning("%s again: stopping at once, without draining", sig.name)
            os._exit(EXIT_CODES[sig])
        self.received = sig
        log.warning(
            "%s: draining (inputs stop, sinks flush%s); send it again to stop at once",
            sig.name,
            ", a last snapshot is taken" if self.recovering else "",
        )
        self.stop.set()
