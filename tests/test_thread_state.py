"""A worker thread that Rust started keeps one Python thread state across calls into Python."""

from __future__ import annotations

import threading

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, cluster_main

from yuqing.dataflows.thread_state import keep_thread_state


def _fresh_states(keep: bool) -> int:
    """Calls into Python that found their thread's `threading.local` empty: a new thread state."""
    local, fresh, lock = threading.local(), [0], threading.Lock()

    def look(x):
        if keep:
            keep_thread_state()
        if not getattr(local, "seen", False):
            local.seen = True
            with lock:
                fresh[0] += 1
        return x

    flow = Dataflow("thread_state")
    items = op.input("in", flow, TestingSource(range(200), batch_size=1))
    op.output("out", op.map("look", items, look), TestingSink([]))
    cluster_main(flow, [], 0, worker_count_per_proc=2)
    return fresh[0]


def test_a_worker_thread_keeps_its_python_state_between_calls():
    assert _fresh_states(keep=False) > 50  # without: a new state (and a new local) per call
    assert _fresh_states(keep=True) <= 2  # with: one per worker thread
