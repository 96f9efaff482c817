"""The throughput benchmark's corpus: real texts replace demo posts once each, never cycled."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "loadtest"))

from bench_flow import write_corpus


def test_each_real_text_is_used_once_and_the_corpus_ends_with_them(tmp_path):
    real = [f"第{i}条真实的微博正文" for i in range(40)]
    texts = write_corpus(tmp_path / "c.jsonl", hours=24.0, rate=8.0, seed=3, replace_texts=real)
    used = [t for t in texts if any(t.endswith(r) for r in real)]
    assert sorted(t.split(" ", 1)[1] for t in used) == sorted(real)  # each once
    assert len(texts) < 24 * 60 * 8  # ended when the real texts ran out, long before 24 h


def test_without_real_texts_the_demo_stream_runs_its_hours(tmp_path):
    texts = write_corpus(tmp_path / "c.jsonl", hours=0.5, rate=8.0, seed=3)
    assert len(texts) > 100
