"""The strategy library: schema errors, the shipped playbooks, matching and rendering."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yuqing.cli import main
from yuqing.errors import UserError
from yuqing.playbooks.library import (
    PlaybookLibrary,
    PlaybookLibraryError,
    read_playbooks,
    shipped_playbook_dir,
)
from yuqing.playbooks.render import render
from yuqing.playbooks.schema import CATEGORIES, PLACEHOLDERS, TIERS

REPO = Path(__file__).resolve().parent.parent
SHIPPED = PlaybookLibrary.load()

MINIMAL = {
    "id": "test.minimal",
    "version": 1,
    "name": "测试预案",
    "category": "outage",
    "trigger": {"min_tier": 1},
    "tasks": [{"department": "pr", "action": "处理{brand}", "due": "30m"}],
    "statements": [{"id": "s", "kind": "holding", "title": "{brand}说明",
                    "template": "{brand}：{tier_name}", "channels": ["weibo"]}],
    "channels": ["weibo"],
    "escalation": {t: {"owner": "pr", "notify": ["pr"]} for t in (1, 2, 3)},
}

SNAPSHOT = {
    "incident_id": "inc-42",
    "brand": "星汇支付",
    "category": "outage",
    "tier": 2,
    "risk_score": 0.734,
    "first_seen": "2025-03-05T06:20:00Z",
    "last_seen": "2025-03-05T07:05:00+00:00",
    "tier_since": datetime(2025, 3, 5, 7, 0, tzinfo=UTC),
    "metrics": {"mention_count": 1234, "negative_ratio": 0.78, "unique_authors": 980, "reach": 2_500_000},
    "top_keywords": ["提现失败", "崩了", "客服"],
    "sources": ["weibo", "douyin", "weibo"],
    "evidence": [
        {"id": "weibo:1", "source": "weibo", "text": "小号吐槽", "url": "https://weibo.com/1",
         "author": {"name": "a", "followers": 10}},
        {"id": "douyin:2", "source": "douyin", "text": "星汇支付提现失败，钱取不出来了！",
         "url": "https://douyin.com/2", "author": {"name": "b", "followers": 50000}},
    ],
}


def playbook(**changes) -> dict:
    doc = copy.deepcopy(MINIMAL)
    doc.update(changes)
    return doc


def write(folder: Path, name: str, doc) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, allow_unicode=True),
                    encoding="utf-8")
    return path


def issues_of(folder: Path) -> list[str]:
    return [str(i) for i in read_playbooks([folder])[1]]


# The shipped library


def test_the_shipped_library_validates():
    playbooks, issues = read_playbooks([shipped_playbook_dir()])
    assert issues == []
    assert len(playbooks) == len(SHIPPED) >= 11


def test_the_shipped_library_lives_in_the_package_under_a_playbooks_folder():
    folder = shipped_playbook_dir()
    assert folder.name == "playbooks"
    assert folder.is_relative_to(REPO / "yuqing")


@pytest.mark.parametrize("category", [c for c in CATEGORIES if c != "other"])
def test_every_crisis_category_has_a_generic_shipped_playbook(category):
    generic = [p for p in SHIPPED.playbooks
               if p.category == category and not p.match.brands and not p.match.sectors]
    assert generic, f"no shipped playbook for {category} that applies to any brand"
    assert SHIPPED.match("某品牌", category, 3, ["weibo"], []) != []


def test_the_sector_playbooks_of_the_brief_are_shipped():
    by_id = {p.id: p for p in SHIPPED.playbooks}
    assert by_id["outage.cloud_service"].match.sectors == ("cloud",)
    assert by_id["product_defect.battery"].match.sectors == ("electronics",)
    assert "fintech" in by_id["outage.withdrawal_fintech"].match.sectors


@pytest.mark.parametrize("p", SHIPPED.playbooks, ids=lambda p: p.id)
def test_every_shipped_playbook_has_tasks_statements_and_an_owner_at_each_tier(p):
    for tier in (t for t in TIERS if t >= p.trigger.min_tier):
        assert p.tasks_for(tier), tier
        assert p.statements_for(tier), tier
        assert p.escalation[tier].owner
    highest = {t.department for t in p.tasks_for(3)}
    assert "executive" in highest or p.escalation[3].owner == "executive"


@pytest.mark.parametrize("p", SHIPPED.playbooks, ids=lambda p: p.id)
def test_shipped_statements_render_completely_from_a_full_snapshot(p):
    rendered = render(p, SNAPSHOT, 3)
    for statement in rendered["statements"]:
        assert statement["unfilled"] == []
        assert not re.search(r"\{[a-z_]+\}", statement["text"]), statement["statement_id"]
        assert re.search(r"[\u4e00-\u9fff]", statement["text"])
    assert "星汇支付" in "".join(s["text"] for s in rendered["statements"])


# Validation: file, field and fix


def test_a_broken_playbook_reports_file_field_and_fix(tmp_path):
    path = write(tmp_path, "broken.yaml", playbook(category="outtage"))
    (line,) = issues_of(tmp_path)
    assert line.startswith(f"{path}: category: unknown category 'outtage' — ")
    assert "did you mean `outage`?" in line


def test_every_error_of_a_file_is_reported_in_one_run(tmp_path):
    doc = playbook(
        version="one",
        trigger={"min_tier": 4},
        tasks=[{"department": "marketing", "action": "通知{brandd}", "due": "30 minutes", "owner": "x"}],
        statements=[{"id": "s", "kind": "holding", "title": "t", "template": "声明 {", "channels": ["wb"]}],
    )
    write(tmp_path, "bad.yaml", doc)
    fields = [line.split(": ")[1] for line in issues_of(tmp_path)]
    for expected in ("version", "trigger.min_tier", "tasks[0].owner", "tasks[0].department",
                     "tasks[0].action", "tasks[0].due", "statements[0].template",
                     "statements[0].channels[0]"):
        assert expected in fields
    assert all(" — " in line for line in issues_of(tmp_path))


@pytest.mark.parametrize(
    ("change", "field", "fix"),
    [
        ({"tasks": [{"department": "pr", "action": "a", "due": "90"}]}, "tasks[0].due", "30m, 2h"),
        ({"tasks": [{"department": "pr", "action": "a", "due": {1: "1h", 5: "2h"}}]},
         "tasks[0].due.5", "use 1, 2 or 3"),
        ({"tasks": [{"department": "pr", "action": "a", "due": {2: "1h"}, "from_tier": 1}]},
         "tasks[0].due", "add `1: 1h`"),
        ({"statements": [{"id": "s", "kind": "holding", "title": "t", "template": "{brnad}",
                          "channels": ["weibo"]}]}, "statements[0].template", "did you mean {brand}?"),
        ({"statements": [{"id": "s", "kind": "press_release", "title": "t", "template": "x",
                          "channels": ["weibo"]}]}, "statements[0].kind", "use one of"),
        ({"escalation": {1: {"owner": "pr", "notify": ["pr"]}}}, "escalation", "add `2:"),
        ({"match": {"keyword": ["a"]}}, "match.keyword", "did you mean `keywords`?"),
        ({"variables": {"brand": "x"}}, "variables.brand", "pick another name"),
        ({"schema_version": 2}, "schema_version", "schema_version: 1"),
    ],
)
def test_each_kind_of_mistake_names_its_field_and_a_fix(tmp_path, change, field, fix):
    write(tmp_path, "p.yaml", playbook(**change))
    lines = issues_of(tmp_path)
    assert any(line.split(": ")[1] == field and fix in line.split(" — ")[1] for line in lines), lines


def test_a_missing_field_is_named_with_where_to_add_it(tmp_path):
    doc = playbook()
    del doc["escalation"]
    write(tmp_path, "p.yaml", doc)
    assert issues_of(tmp_path) == [f"{tmp_path / 'p.yaml'}: escalation: missing — add `escalation:` to the file"]


def test_declared_variables_are_accepted_as_placeholders(tmp_path):
    write(tmp_path, "p.yaml", playbook(
        variables={"hotline": "95000"},
        statements=[{"id": "s", "kind": "cs_script", "title": "t", "template": "请拨打{hotline}",
                     "channels": ["hotline"]}]))
    assert issues_of(tmp_path) == []


def test_invalid_yaml_names_the_line(tmp_path):
    write(tmp_path, "p.yaml", "id: x\ntasks: [unclosed\n")
    (line,) = issues_of(tmp_path)
    assert "(file): not valid YAML at line" in line and "fix the YAML syntax" in line


def test_duplicate_ids_across_files_name_both_files(tmp_path):
    first = write(tmp_path / "a", "one.yaml", playbook())
    second = write(tmp_path / "b", "two.yaml", playbook())
    _, issues = read_playbooks([tmp_path / "a", tmp_path / "b"])
    assert [str(i) for i in issues] == [
        f"{second}: id: duplicate id 'test.minimal', also in {first} — give this playbook its own id; "
        "to adapt a shipped one, copy it under a new id and narrow match.brands "
        "(brand-specific playbooks are matched first)"
    ]


def test_a_user_playbook_reusing_a_shipped_id_is_a_duplicate(tmp_path):
    write(tmp_path, "mine.yaml", playbook(id="outage.generic"))
    with pytest.raises(PlaybookLibraryError) as caught:
        PlaybookLibrary.load([tmp_path])
    assert "duplicate id 'outage.generic'" in str(caught.value)


def test_loading_an_invalid_library_refuses_with_the_reason(tmp_path):
    write(tmp_path, "bad.yaml", playbook(category="nope"))
    with pytest.raises(UserError) as caught:
        PlaybookLibrary.load([tmp_path], shipped=False)
    message = str(caught.value)
    assert "\n" not in message
    assert str(tmp_path / "bad.yaml") in message and "category" in message
    assert "yuqing playbooks validate" in message
    assert len(caught.value.issues) == 1


def test_a_missing_or_empty_folder_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    _, issues = read_playbooks([tmp_path / "nope", tmp_path / "empty"])
    assert [i.problem for i in issues] == ["not a folder", "no playbook files (*.yaml)"]


# Matching


def test_brand_specific_comes_before_sector_specific_before_generic():
    found = SHIPPED.match("星汇支付", "outage", 2, ["weibo"], ["提现失败"], sector="fintech")
    assert [p.id for p in found] == ["outage.xinghui_pay", "outage.withdrawal_fintech", "outage.generic"]


def test_a_required_keyword_keeps_a_sector_playbook_out_without_a_hit():
    with_hit = SHIPPED.match("锐芯电子", "product_defect", 1, [], ["手机电池鼓包"], sector="electronics")
    without = SHIPPED.match("锐芯电子", "product_defect", 1, [], ["屏幕碎了"], sector="electronics")
    assert [p.id for p in with_hit] == ["product_defect.battery", "product_defect.generic"]
    assert [p.id for p in without] == ["product_defect.generic"]


def test_more_keyword_hits_rank_first_among_equally_specific_playbooks(tmp_path):
    write(tmp_path, "a.yaml", playbook(id="a.one", match={"keywords": ["支付"]}))
    write(tmp_path, "b.yaml", playbook(id="b.two", match={"keywords": ["支付", "扣款", "崩"]}))
    write(tmp_path, "c.yaml", playbook(id="c.three"))
    library = PlaybookLibrary.load([tmp_path], shipped=False)
    found = library.match("x", "outage", 1, [], ["支付失败还扣款", "又崩了"])
    assert [p.id for p in found] == ["b.two", "a.one", "c.three"]


def test_tier_sources_and_thresholds_gate_a_match(tmp_path):
    write(tmp_path, "a.yaml", playbook(trigger={"min_tier": 2, "min_mentions": 100, "min_risk_score": 0.5},
                                       match={"sources": ["weibo"]}))
    library = PlaybookLibrary.load([tmp_path], shipped=False)
    assert library.match("x", "outage", 1, ["weibo"]) == []
    assert library.match("x", "outage", 2, ["news"]) == []
    assert library.match("x", "outage", 2, ["weibo"], metrics={"mention_count": 99}) == []
    assert library.match("x", "outage", 2, ["weibo"], metrics={"mention_count": 100, "risk_score": 0.5})
    assert library.match("x", "data_breach", 3, ["weibo"]) == []


# Rendering


def test_rendering_fills_placeholders_from_the_evidence():
    p = SHIPPED.get("outage.generic")
    rendered = render(p, SNAPSHOT, 2)
    brief = next(s for s in rendered["statements"] if s["kind"] == "internal_brief")
    assert brief["title"] == "【舆情通报·二级】星汇支付·系统故障"
    for fragment in ("3月5日14:20 至 3月5日15:05", "1,234 条", "负面占比 78%", "潜在触达 2,500,000",
                     "微博、抖音", "提现失败、崩了、客服", "0.73", "（抖音）：星汇支付提现失败", "https://douyin.com/2",
                     "inc-42"):
        assert fragment in brief["text"]
    holding = next(s for s in rendered["statements"] if s["kind"] == "holding")
    assert holding["text"].startswith("关于星汇支付部分服务异常的情况说明")
    assert "2025年3月5日" in holding["text"]
    assert "apology" not in {s["kind"] for s in rendered["statements"]}  # from tier 3 only
    assert rendered["escalation"]["owner"] == "pr"


def test_rendering_computes_absolute_due_times_from_the_tier_change():
    p = SHIPPED.get("outage.generic")
    rendered = render(p, SNAPSHOT, 2)
    start = SNAPSHOT["tier_since"]
    by_id = {t["task_id"]: t for t in rendered["tasks"]}
    assert by_id["tech-triage"]["due_at"] == start + timedelta(minutes=30)
    assert by_id["cs-collect"]["due_at"] == start + timedelta(minutes=30)
    assert by_id["tech-postmortem"]["due_at"] == start + timedelta(days=1)
    assert "exec-decide" not in by_id  # from tier 3 only
    assert [t["due_at"] for t in rendered["tasks"]] == sorted(t["due_at"] for t in rendered["tasks"])
    at_three = {t["task_id"]: t for t in render(p, SNAPSHOT, 3)["tasks"]}
    assert at_three["tech-triage"]["due_at"] == start + timedelta(minutes=15)
    assert at_three["exec-decide"]["department"] == "executive"


def test_explicit_activation_time_moves_deadlines_and_the_date():
    at = datetime(2025, 6, 1, 1, 0, tzinfo=UTC)
    rendered = render(SHIPPED.get("outage.generic"), SNAPSHOT, 2, at=at)
    assert min(t["due_at"] for t in rendered["tasks"]) == at + timedelta(minutes=30)
    assert any("2025年6月1日" in s["text"] for s in rendered["statements"])


def test_missing_snapshot_values_render_empty_and_are_listed():
    rendered = render(SHIPPED.get("outage.generic"), {"brand": "星汇支付"}, 1,
                      at=datetime(2025, 1, 1, tzinfo=UTC))
    brief = next(s for s in rendered["statements"] if s["kind"] == "internal_brief")
    assert "mention_count" in brief["unfilled"] and "brand" not in brief["unfilled"]


def test_evidence_text_is_inserted_verbatim_not_parsed(tmp_path):
    write(tmp_path, "p.yaml", playbook(statements=[
        {"id": "s", "kind": "internal_brief", "title": "t", "template": "{{原文}} {top_evidence}",
         "channels": ["internal"]}]))
    p = PlaybookLibrary.load([tmp_path], shipped=False).get("test.minimal")
    snapshot = {"evidence": [{"text": "{brand} {{x}} {", "author": {"followers": 1}}]}
    (statement,) = render(p, snapshot, 1)["statements"]
    assert statement["text"] == "{原文} {brand} {{x}} {"


def test_absurd_incident_times_fall_back_instead_of_overflowing():
    snapshot = {"tier_since": datetime.max, "first_seen": datetime.min, "last_seen": "not a time"}
    rendered = render(SHIPPED.get("outage.generic"), snapshot, 3)
    assert all(t["due_at"].year < 9000 for t in rendered["tasks"])


any_value = st.one_of(st.none(), st.text(), st.integers(), st.floats(), st.booleans(),
                      st.lists(st.text(), max_size=3), st.dictionaries(st.text(max_size=5), st.text(), max_size=3))
evidence = st.fixed_dictionaries({}, optional={
    "text": any_value, "url": any_value, "source": any_value,
    "author": st.one_of(any_value, st.fixed_dictionaries({"followers": any_value, "name": any_value})),
})
snapshots = st.fixed_dictionaries({}, optional={
    "brand": any_value, "category": any_value, "incident_id": any_value, "risk_score": any_value,
    "first_seen": st.one_of(any_value, st.datetimes(timezones=st.just(UTC))),
    "last_seen": any_value, "tier_since": st.one_of(any_value, st.datetimes()),
    "metrics": st.one_of(any_value, st.dictionaries(
        st.sampled_from(["mention_count", "negative_ratio", "unique_authors", "reach"]), any_value)),
    "evidence": st.one_of(any_value, st.lists(evidence, max_size=4)),
    "top_keywords": any_value, "sources": any_value,
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshot=snapshots, tier=st.sampled_from([1, 2, 3]))
def test_rendering_never_raises_on_arbitrary_evidence(snapshot, tier):
    for p in SHIPPED.playbooks:
        rendered = render(p, snapshot, tier)
        assert all(isinstance(s["text"], str) for s in rendered["statements"])
        assert all(isinstance(t["due_at"], datetime) for t in rendered["tasks"])


# The command and the docs


def test_validate_command_accepts_the_shipped_library(capsys):
    assert main(["playbooks", "validate"]) == 0
    assert capsys.readouterr().out.startswith(f"ok: {len(SHIPPED)} playbooks in ")


def test_validate_command_prints_every_error_and_exits_2(tmp_path, capsys):
    path = write(tmp_path, "bad.yaml", playbook(category="nope", version=0))
    assert main(["playbooks", "validate", str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert f"{path}: version: expected a whole number ≥ 1, got 0 — write version: 1 and raise it on every change" in err
    assert any(line.startswith(f"{path}: category: unknown category 'nope' — use one of:") for line in err)
    assert err[-1] == "yuqing playbooks: error: 2 error(s) in the playbook library; fix the lines above and run again"


def test_validate_command_checks_a_user_folder_with_the_shipped_library(tmp_path, capsys):
    write(tmp_path, "mine.yaml", playbook(id="acme.outage", match={"brands": ["ACME"]}))
    assert main(["playbooks", "validate", str(tmp_path)]) == 0
    assert main(["playbooks", "validate", "--no-shipped", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"ok: 1 playbooks in {tmp_path}"


def test_list_command_prints_one_line_per_playbook(capsys):
    assert main(["playbooks", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(SHIPPED)
    assert "outage.xinghui_pay\tv1\toutage\t一级+\tbrands=星汇支付\t" in "\n".join(lines)


def test_the_docs_describe_every_placeholder_and_vocabulary():
    docs = (REPO / "docs" / "playbooks.md").read_text(encoding="utf-8")
    for name in PLACEHOLDERS:
        assert f"`{{{name}}}`" in docs, name
    for word in ("yuqing playbooks validate", "yuqing playbooks list", *CATEGORIES):
        assert word in docs
