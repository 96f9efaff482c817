"""The whole flow on a JSONL file: exact window counts, dead letters, duplicates, alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from yuqing.dataflows.launcher import RunOptions, launch

from mentions_factory import WINDOW_QUERY, encode, expected_windows, make_mentions, rows_to_windows


def _write(path, lines: list[bytes]) -> None:
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_a_file_gives_exactly_the_expected_windows(tmp_path, store_url, store):
    mentions = make_mentions(1500, minutes=15, seed=3)
    _write(tmp_path / "in.jsonl", [encode(m) for m in mentions])
    summary = launch(RunOptions(input=str(tmp_path / "in.jsonl"), store=store_url,
                                alerts=str(tmp_path / "alerts.jsonl"),
                                dlq=str(tmp_path / "dlq.jsonl")))
    got = rows_to_windows(store.query(WINDOW_QUERY))
    assert got == expected_windows(mentions)
    assert summary.totals["mentions"] == 1500
    assert summary.counts.get("late", 0) == 0


def test_bad_records_go_to_the_dead_letters_and_good_ones_still_flow(tmp_path, store_url, store):
    mentions = make_mentions(300, minutes=5, seed=4)
    bad = [b'{"id": "x1", "source": "weibo"', b"\xff\xfe not utf8",
           encode({"id": "x2", "source": "weibo", "text": "t", "published_at": "yesterday"}),
           encode({"id": "x3", "source": "weibo", "text": "t",
                   "published_at": "2026-11-20T01:00:00Z", "author": {"followers": -5}})]
    lines = [encode(m) for m in mentions[:150]] + bad + [encode(m) for m in mentions[150:]]
    _write(tmp_path / "in.jsonl", lines)
    dlq = tmp_path / "dlq.jsonl"
    launch(RunOptions(input=str(tmp_path / "in.jsonl"), store=store_url,
                      alerts=str(tmp_path / "alerts.jsonl"), dlq=str(dlq)))
    letters = [json.loads(line) for line in dlq.read_text().splitlines()]
    assert [letter["reason"].split(":")[0] for letter in letters] == [
        "not JSON", "not UTF-8 at byte 0", "published_at", "author.followers"]
    assert letters[1]["raw_base64"]  # raw bytes kept even when they are not text
    assert letters[0]["raw"] == '{"id": "x1", "source": "weibo"'
    assert store.query("SELECT count() FROM mentions FINAL")[0][0] == 300
    reasons = store.query("SELECT count() FROM dead_letters FINAL")[0][0]
    assert reasons == 4
    assert rows_to_windows(store.query(WINDOW_QUERY)) == expected_windows(mentions)


def test_duplicate_ids_are_counted_once(tmp_path, store_url, store):
    mentions = make_mentions(400, minutes=5, seed=5)
    repeated = mentions + mentions[100:200]  # a collector re-sends 100 mentions
    repeated.sort(key=lambda m: m["published_at"])
    _write(tmp_path / "in.jsonl", [encode(m) for m in repeated])
    summary = launch(RunOptions(input=str(tmp_path / "in.jsonl"), store=store_url,
                                alerts=str(tmp_path / "a.jsonl"), dlq=str(tmp_path / "d.jsonl")))
    assert summary.counts["duplicates"] == 100
    assert store.query("SELECT count() FROM mentions")[0][0] == 400
    assert rows_to_windows(store.query(WINDOW_QUERY)) == expected_windows(mentions)


def test_the_demo_crises_open_incidents_and_activate_their_playbooks(tmp_path, store_url, store):
    alerts = tmp_path / "alerts.jsonl"
    summary = launch(RunOptions(input="demo", store=store_url, alerts=str(alerts),
                                dlq=str(tmp_path / "dlq.jsonl")))
    records = [json.loads(line) for line in alerts.read_text().splitlines()]
    # the earliest in event time: a batch's keys are processed brand by brand, so the file's
    # order across brands follows the batches, not the clock
    first = min((r for r in records if r["schema"] == "yuqing.incident/v1"), key=lambda r: r["at"])
    assert (first["brand"], first["category"], first["change"]) == ("星汇支付", "outage", "opened")
    peaks = dict(store.query("SELECT brand, max(peak_tier) FROM incidents FINAL "
                             "WHERE NOT false_alarm GROUP BY brand"))
    assert peaks.get("星汇支付", 0) >= 2 and peaks.get("锐芯电子", 0) >= 2
    assert set(peaks) <= {"星汇支付", "锐芯电子", "安达消费金融"}, "no incident on the quiet brand"
    assert summary.counts["tickets"] > 0, "debt-collection complaints become tickets"
    activations = [r for r in records if r["schema"] == "yuqing.activation/v1"]
    assert any(a["playbook_id"].startswith("outage.") for a in activations)
    # a tier that returns re-sends its activation under the same key; consumers dedup on it
    assert len({r["key"] for r in records}) == summary.totals["alerts"]
    changes = [r["key"] for r in records if r["schema"] == "yuqing.incident/v1"]
    assert len(changes) == len(set(changes))
    assert summary.counts["dead_letters"] > 0 and summary.counts["duplicates"] > 0


def test_mentions_piped_on_stdin_end_the_run_and_the_printed_query_works(tmp_path):
    import re
    import subprocess
    import sys

    mentions = make_mentions(200, minutes=3, seed=6)
    store = f"chdb://{tmp_path}/store"
    done = subprocess.run(
        [sys.executable, "-m", "yuqing.cli", "run", "--input", "-", "--store", store,
         "--alerts", str(tmp_path / "a.jsonl"), "--dlq", str(tmp_path / "d.jsonl"),
         "--outbox", str(tmp_path / "outbox.sqlite3"), "--bus", "off"],
        input=b"\n".join(encode(m) for m in mentions), capture_output=True, timeout=300,
        check=False)
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert re.search(r"mentions written\s+200\b", out)
    look = re.search(r'look: yuqing sql --store "([^"]+)" "([^"]+)"', out)
    assert look, out
    query = subprocess.run([sys.executable, "-m", "yuqing.cli", "sql", "--store", look[1], look[2]],
                           capture_output=True, text=True, timeout=120, check=False)
    assert query.returncode == 0 and query.stdout.startswith("brand\tmentions\tnegative\n"), query.stderr


def test_a_window_counts_a_sample_as_the_enriched_mention_it_came_from():
    from yuqing.core.enriched import EnrichedMention
    from yuqing.core.mention import Author, Engagement, Mention
    from yuqing.stream.windows import WindowMetrics, WindowSample, sample_of, sample_time

    items = [EnrichedMention(Mention(str(i), "weibo", datetime(2026, 11, 23, tzinfo=UTC), "文本",
                                     author=Author(id=f"a{i % 2}", followers=10 * i, verified=i == 1),
                                     engagement=Engagement(reposts=i)),
                             brand="星汇支付", sentiment=-0.6, sentiment_label="negative")
             for i in range(3)]
    # the latter two: what recovery snapshots of older versions hold
    from_samples, from_mentions, from_old = WindowMetrics(), WindowMetrics(), WindowMetrics()
    for item in items:
        sample = sample_of(item)
        assert sample_time(sample) == item.mention.published_at
        from_samples.add(sample)
        from_mentions.add(item)
        from_old.add(WindowSample(item.mention.published_at, *sample[1:]))
    assert from_samples == from_mentions == from_old
    assert sample_time(WindowSample(items[0].mention.published_at, *sample[1:])) == items[0].mention.published_at
    assert (from_samples.mentions, from_samples.negative, from_samples.reach,
            from_samples.engagement, from_samples.verified, from_samples.unique_authors) == (3, 3, 30, 3, 1, 2)
