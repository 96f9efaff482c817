"""Analysts' labels reach the live sentiment model, inside the flow and across restarts."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime

import pytest

from yuqing.core.feedback import InvalidFeedback, SentimentFeedback, parse_feedback
from yuqing.core.mention import Mention
from yuqing.dataflows import labels
from yuqing.dataflows.launcher import RunOptions, launch
from yuqing.dataflows.sentiment_board import SentimentBoard
from yuqing.text.analyzer import Analyzer

from mentions_factory import encode, make_mentions

SLANG = "星汇支付这次稳如老狗，yyds"


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer.default()


def _mention(text: str, mention_id: str = "m1", brand: str = "") -> Mention:
    return Mention(mention_id, "weibo", datetime(2026, 11, 20, tzinfo=UTC), text, brand=brand)


def _seen(analyzer, text: str, mention_id: str, brand: str = "") -> labels.Seen:
    analysis = analyzer.analyze(_mention(text, mention_id, brand))
    return labels.Seen(mention_id, analysis.brand, analysis.tokens)


def test_lessons_move_every_board_and_a_restored_learner_resends_its_whole_list(analyzer):
    board = SentimentBoard(analyzer.sentiment)
    before = analyzer.analyze(_mention(SLANG), score=board.score).sentiment
    learner = labels.LearnerLogic(None, recovering=True)
    tokens = analyzer.analyze(_mention(SLANG)).tokens
    elsewhere = SentimentBoard(analyzer.sentiment)  # another process's board
    assert learner.notify_at() is None, "a learner with nothing restored has nothing to announce"
    for i in range(20):
        (outcome, lesson), _discard = learner.on_item(labels.Resolved(tokens, 0))
        assert outcome.outcome == "learned" and lesson.start == i and len(lesson.examples) == 1
        labels.teach(board, [lesson])
        labels.teach(elsewhere, [lesson])
    assert elsewhere.fingerprint() == board.fingerprint() and elsewhere.learned == 20
    after = analyzer.analyze(_mention(SLANG), score=board.score)
    assert after.sentiment < before - 0.3 and after.sentiment_label == "negative"
    assert analyzer.analyze(_mention(SLANG)).sentiment == pytest.approx(before)  # shipped as shipped

    snapshot = learner.snapshot()  # what a Bytewax snapshot keeps
    assert len(snapshot) < 50_000, "the snapshot holds examples, not the model"
    restored = labels.LearnerLogic(snapshot, recovering=True)  # before any new label
    assert restored.notify_at() is not None, "a restored learner must announce its list"
    (whole,), _discard = restored.on_eof()  # an input that ends at once still carries it
    assert whole.start == 0 and len(whole.examples) == 20 and restored.notify_at() is None
    assert restored.on_notify() == ((), False), "announced once"
    fresh = SentimentBoard(analyzer.sentiment)  # a restarted process starts empty
    labels.teach(fresh, [whole])
    assert fresh.learned == 20 and fresh.fingerprint() == board.fingerprint()
    again = analyzer.analyze(_mention(SLANG), score=fresh.score).sentiment
    assert again == pytest.approx(after.sentiment)


def test_a_board_handed_an_older_list_of_examples_starts_again_from_it(analyzer):
    board = SentimentBoard(analyzer.sentiment)
    one, two = (("好",), 1), (("差",), 0)
    assert board.catch_up([one, two]) == 2 and board.catch_up([one, two]) == 0
    assert board.catch_up([two]) == 1 and board.learned == 1
    other = SentimentBoard(analyzer.sentiment)
    other.catch_up([two])
    assert board.fingerprint() == other.fingerprint()


def test_a_lesson_continues_what_a_board_knows_and_a_gap_is_refused(analyzer):
    board = SentimentBoard(analyzer.sentiment)
    one, two, three = (("好",), 1), (("差",), 0), (("慢",), 0)
    labels.teach(board, [labels.Lesson(0, (one,)), labels.Lesson(1, (two,))])
    assert board.learned == 2
    labels.teach(board, [labels.Lesson(0, (one, two, three))])  # a restored learner's whole list
    assert board.learned == 3
    assert board.catch_up([three], start=5) == 0 and board.learned == 3  # a lesson lost before


def test_labels_by_mention_id_use_that_mentions_tokens(analyzer):
    memory, _ = labels.memory_step(None, _seen(analyzer, SLANG, "weibo:7"), analyzer, 100)
    _, (known,) = labels.memory_step(memory, SentimentFeedback(-1, mention_id="weibo:7"), analyzer, 100)
    _, (unknown,) = labels.memory_step(memory, SentimentFeedback(-1, mention_id="x:1"), analyzer, 100)
    assert isinstance(known, labels.Resolved) and known.label == 0 and "yyds" in known.tokens
    assert unknown.outcome == "unknown_mention"
    neutral = labels.first_look(SentimentFeedback(0, mention_id="weibo:7"), analyzer)
    assert neutral.outcome == "neutral"
    assert labels.first_look(SentimentFeedback(1, mention_id="weibo:7"), analyzer) is None
    assert labels.first_look(SentimentFeedback(1, text=SLANG), analyzer).label == 1
    assert pickle.loads(pickle.dumps(memory))._recent == {}, "the memory is a cache"


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
    memory, _ = labels.memory_step(None, _seen(analyzer, SLANG, "weibo:8", brand="星汇支付"),
                                   analyzer, 100)
    _, (other,) = labels.memory_step(
        memory, SentimentFeedback(-1, mention_id="weibo:8", brand="安达消费金融"), analyzer, 100)
    _, (own,) = labels.memory_step(
        memory, SentimentFeedback(-1, mention_id="weibo:8", brand="星汇支付"), analyzer, 100)
    assert other.outcome == "wrong_brand" and isinstance(own, labels.Resolved)
    assert parse_feedback('{"mention_id": "m", "label": 0, "brand": "星汇支付"}').brand == "星汇支付"


def _two_worker_run(tmp_path, store_url, mentions, feedback, recovery=None):
    options = RunOptions(input=str(tmp_path / "in.jsonl"), store=store_url, workers=2,
                         feedback=str(feedback), alerts=str(tmp_path / "a.jsonl"),
                         dlq=str(tmp_path / "d.jsonl"), outbox=tmp_path / "o.sqlite3",
                         bus="off", recovery=recovery)
    return launch(options)


def test_two_workers_score_with_one_taught_model_that_a_restart_restores(tmp_path, store_url):
    mentions = make_mentions(300, minutes=5, seed=43)
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(encode(m) for m in mentions))
    taught = [{"mention_id": m["id"], "label": 1} for m in mentions[:40:4]]  # by id: via the memory
    taught += [{"text": SLANG, "label": "negative"}] * 6
    feedback = tmp_path / "fb.jsonl"
    feedback.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in taught))
    first = _two_worker_run(tmp_path, store_url, mentions, feedback, tmp_path / "rec")
    board = first.config.board
    assert first.counts["feedback_learned"] + first.counts.get("feedback_unknown_mention", 0) == 16
    assert board.learned == first.counts["feedback_learned"] >= 6
    assert f"labels learned (model {board.fingerprint()}" in first.render(1.0)
    # a restart on the same inputs reads nothing new: only the restored learner can teach its board
    again = _two_worker_run(tmp_path, store_url + "_again", mentions, feedback, tmp_path / "rec")
    assert again.counts.get("feedback_learned", 0) == 0
    assert again.config.board.fingerprint() == board.fingerprint()
    assert again.config.board.learned == board.learned
