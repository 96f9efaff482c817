"""The throughput benchmark's corpus (real texts replace demo posts once each, never cycled),
and its start-up run in a fresh process."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "loadtest"))

from bench_flow import start_up_cpu, write_corpus


def test_each_real_text_is_used_once_and_the_corpus_ends_with_them(tmp_path):
    real = [f"第{i}条真实的微博正文" for i in range(40)]
    texts = write_corpus(tmp_path / "c.jsonl", hours=24.0, rate=8.0, seed=3, replace_texts=real)
    used = [t for t in texts if any(t.endswith(r) for r in real)]
    assert sorted(t.split(" ", 1)[1] for t in used) == sorted(real)  # each once
    assert len(texts) < 24 * 60 * 8  # ended when the real texts ran out, long before 24 h


def test_without_real_texts_the_demo_stream_runs_its_hours(tmp_path):
    texts = write_corpus(tmp_path / "c.jsonl", hours=0.5, rate=8.0, seed=3)
    assert len(texts) > 100


def test_the_start_up_run_goes_in_a_fresh_process_on_the_corpus_head(tmp_path):
    """A second run in this process would find the engine and dictionary loaded already."""
    write_corpus(tmp_path / "c.jsonl", hours=0.5, rate=8.0, seed=3)
    run = start_up_cpu(tmp_path / "c.jsonl", tmp_path, "jieba", lines=20)
    assert run["mentions"] == 20
    assert run["cpu_s"] > 0.05  # store, schema and models, not a no-op
