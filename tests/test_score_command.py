"""`yuqing score`: batch analysis of a JSONL file with the flow's code."""

from __future__ import annotations

import json

import pytest

from yuqing.cli import main
from yuqing.core.mention import parse_mention
from yuqing.text.analyzer import Analyzer

POST = "星汇又宕机了？？无法提现，交易失败，钱卡在里面出不来！"


def _line(i: int, text: str, **extra) -> str:
    obj = {"id": f"weibo:{i}", "source": "weibo", "published_at": f"2026-11-23T08:{i:02d}:00+08:00",
           "text": text, **extra}
    return json.dumps(obj, ensure_ascii=False)


@pytest.fixture
def mentions(tmp_path):
    lines = [
        _line(1, POST),
        _line(2, "转发微博 //@小王:" + POST + "[怒]"),
        "{not json",
        _line(3, "锐芯手机电池鼓包了，充电时还发烫", brand="锐芯电子"),
        _line(2, "转发微博 //@小王:" + POST + "[怒]"),  # the same id again
        "",
        json.dumps({"id": "x:1", "source": "x", "text": "no time"}),
        _line(4, "@星汇 同问，客服电话打不通", parent_id="weibo:2"),
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_score_writes_each_valid_mention_with_its_analysis_and_story(mentions, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert main(["score", "--input", str(mentions), "--output", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["weibo:1", "weibo:2", "weibo:3", "weibo:4"]
    first, repost, battery, reply = rows
    assert first["text"] == POST
    assert (first["brand"], first["category"], first["category_evidence"]) == (
        "星汇支付", "outage", ["宕机", "无法提现", "交易失败", "钱卡在"])
    assert first["sentiment_label"] == "negative" and -1 <= first["sentiment"] < 0
    assert "宕机" in first["tokens"]
    assert (repost["story_id"], repost["story_count"]) == ("weibo:1", 2)
    assert (battery["brand"], battery["category"], battery["story_id"]) == (
        "锐芯电子", "product_defect", "weibo:3")
    assert (reply["story_id"], reply["story_count"]) == ("weibo:1", 3)
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"{mentions}:3: skipped: not JSON: Expecting property name enclosed in double quotes at line 1 column 2"
    assert err[1].startswith(f"{mentions}:7: skipped: published_at: required field is missing")
    assert err[-1].startswith(
        f"yuqing score: 4 scored, 2 invalid, 1 duplicate ids, 2 stories -> {out} (")


def test_score_uses_the_same_analysis_as_the_flow(mentions, tmp_path):
    out = tmp_path / "out.jsonl"
    main(["score", "--input", str(mentions), "--output", str(out)])
    analyzer = Analyzer.default()
    for line in out.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        mention = parse_mention(json.dumps({k: row[k] for k in ("id", "source", "published_at",
                                                                "text", "brand") if k in row}))
        expected = analyzer.analyze(mention).to_json()
        assert {k: row[k] for k in expected} == expected


def test_score_writes_to_stdout_with_a_dash(mentions, capsys):
    assert main(["score", "--input", str(mentions), "--output", "-"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and json.loads(out[0])["category"] == "outage"


def test_a_users_lexicon_changes_the_category(tmp_path):
    src, out, lexicon = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "lex.yaml"
    src.write_text(_line(1, "星汇今天又掉单了") + "\n", encoding="utf-8")
    lexicon.write_text("categories:\n  outage:\n    terms: {掉单: 3}\n", encoding="utf-8")
    main(["score", "--input", str(src), "--output", str(out), "--lexicon", str(lexicon)])
    assert json.loads(out.read_text(encoding="utf-8"))["category"] == "outage"


def test_a_missing_input_is_one_line_and_exit_code_2(tmp_path, capsys):
    code = main(["score", "--input", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"yuqing score: error: --input {tmp_path / 'nope.jsonl'}: no such file; "
                   "give a JSONL file of mentions or -"]


def test_output_over_the_input_is_refused(mentions, capsys):
    assert main(["score", "--input", str(mentions), "--output", str(mentions)]) == 2
    assert "must differ" in capsys.readouterr().err


def test_a_file_of_only_invalid_lines_exits_1(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text("oops\n[]\n", encoding="utf-8")
    assert main(["score", "--input", str(src), "--output", str(tmp_path / "out.jsonl")]) == 1
    assert "0 scored, 2 invalid" in capsys.readouterr().err


def test_a_batch_analyses_each_mention_as_one_at_a_time_does():
    analyzer = Analyzer.default()
    texts = [POST, "转发微博", "锐芯手机电池鼓包了，充电时还发烫[怒]", "服务很好，点赞", "哈", POST + "！！"]
    batch = [parse_mention(_line(i, t)) for i, t in enumerate(texts)]
    assert analyzer.analyze_many(batch) == [analyzer.analyze(m) for m in batch]
    assert analyzer.analyze_many([]) == []


class _FailsOnMarker:
    """A category classifier that cannot read one text: a bug that must cost only its mention."""

    def __init__(self, inner):
        self.inner = inner

    def classify(self, text, tokens):
        if "坏帖" in text:
            raise ValueError("cannot classify")
        return self.inner.classify(text, tokens)


def test_a_mention_the_analyzer_fails_on_costs_only_itself():
    from yuqing.dataflows.sentiment_board import SentimentBoard
    from yuqing.dataflows.steps import Analyzed, analyze_batch

    shipped = Analyzer.default()
    analyzer = Analyzer(shipped.tokenizer, shipped.sentiment, _FailsOnMarker(shipped.categories),
                        shipped.brands)
    batch = [("星汇支付", parse_mention(_line(i, t))) for i, t in enumerate([POST, "坏帖 " + POST, POST])]
    out = analyze_batch(batch, analyzer=analyzer, board=SentimentBoard(shipped.sentiment))
    assert [type(x).__name__ for x in out] == ["Analyzed", "DeadLetter", "Analyzed"]
    assert out[1].origin == "step:analyze" and out[1].reason.startswith("analyze: ValueError")
    assert isinstance(out[2], Analyzed) and out[2].analysis == shipped.analyze(batch[2][1])
