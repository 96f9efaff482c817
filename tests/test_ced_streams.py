"""Crisis streams built from CED-format repost cascades: placement, truth, outages, halves.

The real CED files are not shipped (no licence); these tests write a tiny
folder in the same format.
"""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest

from yuqing.cli import main
from yuqing.errors import UserError
from yuqing.evaluation.ced import (
    BEIJING,
    Outage,
    StreamSettings,
    build_stream,
    load_cascades,
    load_texts,
    split_of,
)

T0 = 1_360_000_000  # the original posts' time, Unix seconds


def _write_ced(folder, crises: int = 4, small: int = 8) -> None:
    events, reposts = [], []
    for i in range(crises + small):
        event = f"{1000 + i}_e{i}"
        n, spacing = (260, 12) if i < crises else (10, 300)  # 260 in 52 min, or 10 in 50 min
        events.append([event, "rumor" if i % 2 else "non-rumor", str(T0), f"原帖{i}", "0", "0", str(n)])
        for k in range(n):  # CED writes repost dates in Beijing time
            reposts.append([event, "rumor", _beijing(T0 + 30 + k * spacing), "1" if k % 3 else "0",
                            f"评论{k}" if k % 3 else ""])
    with (folder / "events.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["event_id", "label", "orig_time_epoch", "orig_text", "reposts_field",
                         "comments_field", "n_repost_records"])
        writer.writerows(events)
    with gzip.open(folder / "reposts.csv.gz", "wt", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["event_id", "label", "date", "has_text", "text"])
        writer.writerows(reposts)


def _beijing(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def ced(tmp_path):
    _write_ced(tmp_path)
    (tmp_path / "texts.tsv").write_text("label\ttext\n" + "".join(f"1\t背景帖子{i}\n" for i in range(30)),
                                        encoding="utf-8")
    return tmp_path


def test_cascades_keep_their_real_repost_delays(ced):
    cascades = {c.event_id: c for c in load_cascades(ced)}
    first = cascades["1000_e0"]
    assert first.delays[:3] == (30, 42, 54) and first.reposts_within(3600) == 260
    assert first.time_of(50) == 30 + 49 * 12
    assert first.texts[0] == "" and first.texts[1] == "评论1"


def test_a_stream_places_crises_away_from_its_ends_and_writes_their_truth(ced):
    settings = StreamSettings(brands=2, days=2, crises_per_brand=1, small_per_brand=3, seed=5,
                              outages=(Outage("weibo", "*", 20, 1),))
    mentions, truth = build_stream(load_cascades(ced), load_texts(ced / "texts.tsv"), settings)
    start, end = (datetime.fromisoformat(t) for t in truth["period"])
    assert len(truth["crises"]) == 2 and {c["brand"] for c in truth["crises"]} == set(truth["brands"])
    ids = [m["id"] for m in mentions]
    assert len(ids) == len(set(ids)), "small cascades used twice get ids of their own"
    by_id = {m["id"]: m for m in mentions}
    for c in truth["crises"]:
        onset = datetime.fromisoformat(c["onset"])
        assert start + timedelta(hours=12) <= onset <= end - timedelta(hours=12)
        root = by_id[f"ced:{c['event']}:0"]
        assert datetime.fromisoformat(root["published_at"]) == onset
        fiftieth = by_id[f"ced:{c['event']}:50"]
        assert fiftieth["parent_id"] == root["id"] and fiftieth["published_at"] == c["t50"]
        assert c["reposts_1h"] == 260
    outage = truth["outages"][0]
    a, z = datetime.fromisoformat(outage["start"]), datetime.fromisoformat(outage["end"])
    assert not any(m["source"] == "weibo" and a <= datetime.fromisoformat(m["published_at"]) < z
                   for m in mentions)
    for c in truth["crises"]:  # an outage never hides a crisis's first hour
        onset = datetime.fromisoformat(c["onset"])
        assert z <= onset - timedelta(minutes=10) or a >= onset + timedelta(hours=1)
    times = [m["published_at"] for m in mentions]
    assert times == sorted(times) and truth["mentions"] == len(mentions)


def test_the_halves_are_fixed_by_id_and_a_half_uses_only_its_events(ced):
    assert split_of("1000_e0") == split_of("1000_e0")
    halves = {split_of(f"{1000 + i}_e{i}") for i in range(12)}
    assert halves <= {"tune", "report"}
    cascades = load_cascades(ced)
    half = split_of("1000_e0")
    settings = StreamSettings(brands=1, days=2, crises_per_brand=1, small_per_brand=2, half=half)
    try:
        _, truth = build_stream(cascades, ["背景"], settings)
    except UserError as err:  # this half may hold no crisis-size cascade at all
        assert "crisis-size" in str(err)
    else:
        assert all(split_of(c["event"]) == half for c in truth["crises"])


def test_yuqing_warn_stream_writes_the_stream_and_its_truth(ced, capsys):
    out = ced / "built" / "s"
    assert main(["warn", "stream", "--ced", str(ced), "--texts", str(ced / "texts.tsv"),
                 "--out", str(out), "--brands", "2", "--days", "2", "--crises-per-brand", "1",
                 "--small-per-brand", "2", "--outage", "news:*:30:1"]) == 0
    truth = json.loads((ced / "built" / "s.truth.json").read_text(encoding="utf-8"))
    with gzip.open(ced / "built" / "s.jsonl.gz", "rt", encoding="utf-8") as handle:
        assert sum(1 for _ in handle) == truth["mentions"]
    assert "2 crises" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "fragment"), [
    (["--outage", "weibo-30-2"], "use SOURCE:BRAND:START_H:HOURS"),
    (["--brands", "99"], "at most"),
])
def test_yuqing_warn_stream_errors_are_one_line(ced, args, fragment, capsys):
    assert main(["warn", "stream", "--ced", str(ced), "--texts", str(ced / "texts.tsv"),
                 "--out", str(ced / "x"), *args]) == 2
    assert fragment in capsys.readouterr().err


def test_a_missing_ced_folder_is_a_user_error(tmp_path, capsys):
    assert main(["warn", "stream", "--ced", str(tmp_path / "none"), "--texts", "t.tsv",
                 "--out", str(tmp_path / "x")]) == 2
    assert "events.csv: not found" in capsys.readouterr().err
