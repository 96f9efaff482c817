"""Importing the package before numpy keeps numpy's BLAS from starting idle, spinning threads."""

from __future__ import annotations

import os
import subprocess
import sys

_THREADS = ("import os, sys, yuqing, numpy; "
            "print(len(os.listdir('/proc/self/task')), os.environ['OPENBLAS_NUM_THREADS'])")


def _run(env: dict[str, str]) -> list[str]:
    done = subprocess.run([sys.executable, "-c", _THREADS], env=env, capture_output=True,
                          text=True, check=True)
    return done.stdout.split()


def test_numpy_imported_after_yuqing_starts_no_blas_threads():
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert _run(env) == ["1", "1"]


def test_a_user_setting_wins():
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    _threads, setting = _run(env)
    assert setting == "2"  # not overwritten (how many threads OpenBLAS then starts is its own call)
