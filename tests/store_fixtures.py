"""Store fixtures: one chDB directory per test session, one database per test.

chDB lets a process open a single data directory, so every in-process test
shares the session's directory and isolates itself by database name. Flows run
in subprocesses get their own directory and are read back with `yuqing sql`.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys

import pytest

_serial = itertools.count()


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def store_url(chdb_dir, request) -> str:
    """A fresh database in the session's chDB directory, as a --store URL."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:40]
    return f"chdb://{chdb_dir}?database=t{next(_serial)}_{name}"


@pytest.fixture
def store(store_url):
    """An open `Store` on the test's database, schema created."""
    from yuqing.core.endpoints import parse_store
    from yuqing.sinks.clickhouse import Store

    s = Store(parse_store(store_url))
    s.ensure_schema()
    s.client.database = s.spec.database
    yield s
    s.close()


def sql_in_subprocess(store_url: str, query: str) -> list[dict]:
    """Read a store another process owns (chDB allows one process per directory)."""
    done = subprocess.run(
        [sys.executable, "-m", "yuqing.cli", "sql", "--store", store_url, "--format", "jsonl", query],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
