"""Keep a worker thread's Python thread state for the thread's life.

Bytewax runs a cluster's workers on threads Rust started. Each call into
Python takes the GIL through `PyGILState_Ensure`, which on such a thread
creates a thread state and, at the matching release, destroys it again:
measured on a 2-process run, ~7,000 thread states (and their 16 KiB frame
stacks, mapped and unmapped) a second per process. One extra `Ensure`,
never released, keeps the state alive, so every later call reuses it.
It is called where a worker first runs our code: input partitions, and
keyed logic (a worker may own keys and read no partition).
"""

from __future__ import annotations

import ctypes
import threading

_kept = threading.local()


def keep_thread_state() -> None:
    """Make the calling thread's Python thread state outlive each call into Python; idempotent."""
    if getattr(_kept, "done", False) or threading.current_thread() is threading.main_thread():
        return
    ctypes.pythonapi.PyGILState_Ensure.restype = ctypes.c_int
    ctypes.pythonapi.PyGILState_Ensure()  # never released: the state lives as long as the thread
    _kept.done = True
