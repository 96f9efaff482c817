"""`yuqing report brief` and `yuqing report incident` on an operated demo run (tests/demo_runs.py)."""

from __future__ import annotations

import re
import struct
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from yuqing.cli import main
from yuqing.errors import UserError

CRISIS_BRAND = "星汇支付"
DEMO_DAY = "2026-11-20"  # the demo runs 08:00–14:00 Beijing time on this day


@pytest.fixture(scope="module")
def demo_store(chdb_dir, tmp_path_factory):
    """A demo run (database reports_demo) with incidents: (url, open Store, incident ids)."""
    from yuqing.core.endpoints import parse_store
    from yuqing.sinks.clickhouse import Store

    from demo_runs import run_operated_demo

    out = tmp_path_factory.mktemp("reports_demo")
    url = f"chdb://{chdb_dir}?database=reports_demo"
    run_operated_demo(url, out)
    store = Store(parse_store(url))
    store.client.database = store.spec.database
    ids = [r[0] for r in store.query("SELECT DISTINCT incident_id FROM incidents "
                                     "ORDER BY brand != {b:String}, incident_id",
                                     {"b": CRISIS_BRAND})]
    assert ids, "the demo's crises must open incidents"
    yield url, store, ids
    store.close()


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _assert_chart(path: Path) -> None:
    width, height = _png_size(path)
    assert 600 <= width <= 2500 and 300 <= height <= 1800, (path, width, height)
    assert path.stat().st_size > 10_000, f"{path} looks blank"


def test_brief_writes_html_markdown_and_charts_for_the_day(demo_store, tmp_path, capsys):
    url, _, _ = demo_store
    assert main(["report", "brief", "--date", DEMO_DAY, "--out", str(tmp_path), "--store", url]) == 0
    html = (tmp_path / f"brief-{DEMO_DAY}.html").read_text(encoding="utf-8")
    markdown = (tmp_path / f"brief-{DEMO_DAY}.md").read_text(encoding="utf-8")
    for text in (html, markdown):
        assert CRISIS_BRAND in text
        for heading in ("Volume and sentiment", "Incidents", "Top stories", "Emerging keywords",
                        "Playbook activity"):
            assert heading in text
    assert "<img src=" in html and "no incidents on this day" not in html
    charts = sorted(tmp_path.glob("*.png"))
    assert {p.name for p in charts} >= {f"brief-{DEMO_DAY}-volume.png", f"brief-{DEMO_DAY}-sentiment.png"}
    for chart in charts:
        _assert_chart(chart)
    stored = demo_store[1].query("SELECT count() FROM mentions FINAL")[0][0]
    assert f"{stored:,} mentions" in capsys.readouterr().out  # every stored mention is counted


def test_brief_of_a_day_without_data_is_written_and_says_so(demo_store, tmp_path):
    from yuqing.reports.brief import write_brief

    _, store, _ = demo_store
    files = write_brief(store, date(2026, 11, 1), tmp_path)
    assert files.mentions == 0
    assert "no mentions on this day" in files.html.read_text(encoding="utf-8")


def test_a_replayed_day_has_its_own_activations_and_the_replays_wall_clock_day_none(demo_store,
                                                                                    tmp_path):
    from yuqing.reports.brief import DEFAULT_TZ, write_brief

    _, store, _ = demo_store
    stored = store.query("SELECT count() FROM activations FINAL")[0][0]
    day = write_brief(store, date(2026, 11, 20), tmp_path / "day")
    assert day.activations == stored > 0
    assert "no playbook fired on this day" not in day.markdown.read_text(encoding="utf-8")
    for today in {datetime.now(ZoneInfo(DEFAULT_TZ)).date(), datetime.now(UTC).date()}:
        replayed_on = write_brief(store, today, tmp_path / str(today))
        text = replayed_on.markdown.read_text(encoding="utf-8")
        assert replayed_on.activations == 0
        assert "no playbook fired on this day" in text
        assert "no tasks from this day's activations" in text


def test_incident_review_shows_what_fired_on_the_incidents_own_day(demo_store, tmp_path):
    from yuqing.reports.incident import write_review

    _, store, ids = demo_store
    write_review(store, ids[0], tmp_path)
    markdown = (tmp_path / f"incident-{ids[0]}.md").read_text(encoding="utf-8")
    fired = markdown.split("## 触发的预案 What fired", 1)[1].split("##", 1)[0]
    rows = [line for line in fired.splitlines() if line.startswith("| 2026-")]
    assert rows and all(line.startswith("| 2026-11-20 ") for line in rows)
    evidence = re.search(r"Evidence mentions: ([\d,]+)", markdown)
    table = markdown.split("## 证据 Evidence", 1)[1].split("##", 1)[0]
    shown = sum(line.startswith("| 2026-") for line in table.splitlines())
    assert evidence and int(evidence.group(1).replace(",", "")) >= shown > 0


def test_incident_review_has_timeline_evidence_tasks_and_first_response(demo_store, tmp_path):
    url, _, ids = demo_store
    incident = ids[0]
    assert main(["report", "incident", incident, "--out", str(tmp_path), "--store", url]) == 0
    html = (tmp_path / f"incident-{incident}.html").read_text(encoding="utf-8")
    assert CRISIS_BRAND in html
    for heading in ("Timeline", "Evidence", "What fired", "Tasks", "time to first response"):
        assert heading in html
    assert "escalated" in html and "三级" in html
    assert (tmp_path / f"incident-{incident}.md").exists()
    _assert_chart(tmp_path / f"incident-{incident}-timeline.png")


def test_unknown_incident_id_is_a_user_error(demo_store, tmp_path):
    from yuqing.reports.incident import write_review

    _, store, _ = demo_store
    with pytest.raises(UserError, match="not found"):
        write_review(store, "inc-doesnotexist", tmp_path)


def test_bad_date_is_one_line_and_exit_code_2(demo_store, tmp_path, capsys):
    url, _, _ = demo_store
    assert main(["report", "brief", "--date", "20-11-2026", "--out", str(tmp_path), "--store", url]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "YYYY-MM-DD" in err


def test_tier_changes_minutes_apart_share_one_timeline_label():
    from datetime import timedelta

    from yuqing.reports.charts import tier_labels

    t0 = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
    changes = [(t0, 1, 38.0), (t0 + timedelta(minutes=1), 2, 52.0),
               (t0 + timedelta(minutes=2), 3, 71.0), (t0 + timedelta(minutes=40), 2, 58.0),
               (t0 + timedelta(minutes=90), 0, 0.0)]
    groups = tier_labels(changes, t0, t0 + timedelta(minutes=100))
    assert [tiers for _, tiers in groups] == [[1, 2, 3], [2], [0]]
    assert [at for at, _ in groups] == [t0, t0 + timedelta(minutes=40), t0 + timedelta(minutes=90)]
