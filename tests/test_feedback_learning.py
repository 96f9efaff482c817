"""Analysts' labels reach the live sentiment model, inside the flow and across restarts."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime

import pytest

from yuqing.core.feedback import InvalidFeedback, SentimentFeedback, parse_feedback
from yuqing.core.mention import Mention
from yuqing.dataflows import steps
from yuqing.dataflows.launcher import RunOptions, launch
from yuqing.text.analyzer import Analyzer

from mentions_factory import encode, make_mentions

SLANG = "星汇支付这次稳如老狗，yyds"


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer.default()


def _analyzed(analyzer, text: str, mention_id: str = "m1") -> steps.Analyzed:
    mention = Mention(mention_id, "weibo", datetime(2026, 11, 20, tzinfo=UTC), text)
    return steps.Analyzed(mention, analyzer.analyze(mention))


def test_labels_move_the_live_model_and_survive_a_snapshot(analyzer):
    learner, before = None, None
    learner, (first,) = steps.sentiment_step(learner, _analyzed(analyzer, SLANG), analyzer)
    before = first.analysis.sentiment
    for _ in range(20):
        learner, (outcome,) = steps.sentiment_step(
            learner, SentimentFeedback(label=-1, text=SLANG), analyzer)
        assert outcome.outcome == "learned"
    learner, (after,) = steps.sentiment_step(learner, _analyzed(analyzer, SLANG), analyzer)
    assert after.analysis.sentiment < before - 0.3
    assert after.analysis.sentiment_label == "negative"

    restored = pickle.loads(pickle.dumps(learner))  # what a Bytewax snapshot keeps
    assert len(pickle.dumps(learner)) < 50_000, "the snapshot holds examples, not the model"
    _, (again,) = steps.sentiment_step(restored, _analyzed(analyzer, SLANG), analyzer)
    assert again.analysis.sentiment == pytest.approx(after.analysis.sentiment)


def test_labels_by_mention_id_use_that_mentions_tokens(analyzer):
    learner, _ = steps.sentiment_step(None, _analyzed(analyzer, SLANG, "weibo:7"), analyzer)
    _, (known,) = steps.sentiment_step(learner, SentimentFeedback(-1, mention_id="weibo:7"), analyzer)
    _, (unknown,) = steps.sentiment_step(learner, SentimentFeedback(-1, mention_id="x:1"), analyzer)
    _, (neutral,) = steps.sentiment_step(learner, SentimentFeedback(0, mention_id="weibo:7"), analyzer)
    assert (known.outcome, unknown.outcome, neutral.outcome) == ("learned", "unknown_mention",
                                                                 "neutral")


def test_feedback_records_are_validated():
    assert parse_feedback('{"text": "好", "label": 1}') == SentimentFeedback(1, text="好")
    assert parse_feedback('{"mention_id": "w:1", "label": "negative"}').label == -1
    verdict = parse_feedback('{"incident_id": "i1", "brand": "b", "category": "outage", '
                             '"verdict": "false_alarm"}')
    assert verdict.verdict == "false_alarm"
    for bad in ('{"label": 1}', '{"text": "x"}', '{"text": "x", "label": "meh"}', "[]", "{",
                '{"incident_id": "i", "verdict": "maybe"}'):
        with pytest.raises(InvalidFeedback):
            parse_feedback(bad)


def test_the_flow_reads_a_feedback_file_and_counts_what_it_learned(tmp_path, store_url, store):
    mentions = make_mentions(200, minutes=5, seed=41)
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(encode(m) for m in mentions))
    labels = [{"text": SLANG, "label": 0}] * 5 + [{"mention_id": "nope", "label": 1}] + [{"x": 1}]
    (tmp_path / "fb.jsonl").write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in labels))
    summary = launch(RunOptions(input=str(tmp_path / "in.jsonl"), store=store_url,
                                feedback=str(tmp_path / "fb.jsonl"),
                                alerts=str(tmp_path / "a.jsonl"), dlq=str(tmp_path / "d.jsonl")))
    assert summary.counts["feedback_learned"] == 5
    assert summary.counts["feedback_unknown_mention"] == 1
    assert summary.counts["feedback_invalid"] == 1
    assert store.query("SELECT count() FROM mentions FINAL")[0][0] == 200


def test_a_label_naming_another_brand_than_the_mention_s_is_not_learnt(analyzer):
    mention = Mention("weibo:8", "weibo", datetime(2026, 11, 20, tzinfo=UTC), SLANG, brand="星汇支付")
    learner, _ = steps.sentiment_step(None, steps.Analyzed(mention, analyzer.analyze(mention)),
                                      analyzer)
    _, (other,) = steps.sentiment_step(
        learner, SentimentFeedback(-1, mention_id="weibo:8", brand="安达消费金融"), analyzer)
    _, (own,) = steps.sentiment_step(
        learner, SentimentFeedback(-1, mention_id="weibo:8", brand="星汇支付"), analyzer)
    assert (other.outcome, own.outcome) == ("wrong_brand", "learned")
    assert parse_feedback('{"mention_id": "m", "label": 0, "brand": "星汇支付"}').brand == "星汇支付"
