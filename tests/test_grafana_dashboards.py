"""The Grafana provisioning loads as is, and every dashboard query runs on ClickHouse.

Each panel's SQL is expanded the way Grafana and grafana-clickhouse-datasource
expand it (tests/grafana_macros.py) and run with chDB on the tables a demo run
filled. The demo is operated end to end (tests/demo_runs.py): the flow, then a
runner working the gRPC bus, so every table holds rows the product made. A
query that does not parse, does not run or returns no rows fails the build.
"""

from __future__ import annotations

import importlib.util
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from yuqing.sinks.tables import ALL_TABLES

from grafana_macros import (
    MacroError,
    QueryContext,
    Variable,
    apply_conditional_all,
    calculate_interval,
    expand,
    expand_macros,
    interpolate_variables,
    macro_args,
)

REPO = Path(__file__).resolve().parent.parent
GRAFANA = REPO / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCE_UID = "yuqing-clickhouse"
CRISIS = {"brand": ["星汇支付"], "category": ["outage"], "source": ["weibo"]}

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)  # 08:00 Beijing time
T1 = T0 + timedelta(hours=6)


def _ctx(**variables: Variable) -> QueryContext:
    return QueryContext(T0, T1, timedelta(minutes=1), variables)


# -- macro expansion, as the plugin does it --------------------------------------------


def test_time_filter_uses_epoch_seconds_inclusive_on_both_ends():
    assert expand_macros("WHERE $__timeFilter(published_at)", _ctx()) == (
        "WHERE published_at >= toDateTime(1795132800) AND published_at <= toDateTime(1795154400)")


def test_millisecond_macros_use_from_unix_timestamp64_milli():
    sql = "$__timeFilter_ms(at) / $__fromTime_ms / $__toTime_ms"
    assert expand_macros(sql, _ctx()) == (
        "at >= fromUnixTimestamp64Milli(1795132800000) AND at <= fromUnixTimestamp64Milli(1795154400000)"
        " / fromUnixTimestamp64Milli(1795132800000) / fromUnixTimestamp64Milli(1795154400000)")


def test_from_and_to_time_are_datetimes_of_the_range():
    assert expand_macros("$__fromTime, $__toTime", _ctx()) == (
        "toDateTime(1795132800), toDateTime(1795154400)")


def test_time_interval_buckets_by_the_panel_interval_in_seconds():
    ctx = QueryContext(T0, T1, timedelta(minutes=5))
    assert expand_macros("$__timeInterval(window_start) AS time, x / $__interval_s", ctx) == (
        "toStartOfInterval(toDateTime(window_start), INTERVAL 300 second) AS time, x / 300")
    assert expand_macros("$__timeInterval_ms(at)", ctx) == (
        "toStartOfInterval(toDateTime64(at, 3), INTERVAL 300000 millisecond)")


def test_interval_seconds_is_at_least_one():
    ctx = QueryContext(T0, T1, timedelta(milliseconds=200))
    assert expand_macros("$__interval_s", ctx) == "1"


def test_date_filters_use_calendar_dates():
    assert expand_macros("$__dateFilter(d)", _ctx()) == (
        "d >= toDate('2026-11-20') AND d <= toDate('2026-11-20')")
    assert expand_macros("$__dt(d, t)", _ctx()) == (
        "(d >= toDate('2026-11-20') AND d <= toDate('2026-11-20')) AND "
        "(t >= toDateTime(1795132800) AND t <= toDateTime(1795154400))")


def test_macro_with_wrong_arguments_or_unknown_name_is_an_error():
    with pytest.raises(MacroError, match="expected 1 argument"):
        expand_macros("$__timeFilter(a, b)", _ctx())
    with pytest.raises(MacroError, match="unknown macro"):
        expand_macros("$__nope(a)", _ctx())


def test_macro_arguments_respect_nesting_and_quotes():
    sql = "$__x(f(a, b), 'c,)', d)"
    assert macro_args(sql, sql.index("("))[0] == ["f(a, b)", "'c,)'", "d"]


def test_conditional_all_drops_the_condition_when_all_is_selected():
    brand = Variable("brand", ("甲", "乙"))
    sql = "WHERE $__conditionalAll(brand IN (${brand:singlequote}), $brand) AND x"
    assert apply_conditional_all(sql, {"brand": brand}) == "WHERE 1=1 AND x"
    chosen = Variable("brand", ("甲", "乙"), current=("乙",))
    assert apply_conditional_all(sql, {"brand": chosen}) == (
        "WHERE brand IN (${brand:singlequote}) AND x")


def test_multi_value_variables_follow_grafana_formats():
    ctx = _ctx(brand=Variable("brand", ("甲", "O'Neil"), current=("甲", "O'Neil")))
    assert interpolate_variables("${brand:singlequote}", ctx) == "'甲','O\\'Neil'"
    assert interpolate_variables("${brand:sqlstring}", ctx) == "'甲','O''Neil'"
    assert interpolate_variables("${brand:csv}|$brand", ctx) == "甲,O'Neil|{甲,O'Neil}"


def test_all_without_custom_value_expands_to_every_option():
    ctx = _ctx(brand=Variable("brand", ("甲", "乙")))
    assert interpolate_variables("IN (${brand:singlequote})", ctx) == "IN ('甲','乙')"


def test_unknown_variables_and_plugin_macros_survive_interpolation():
    sql = "$__timeFilter(t) $__interval_s $nobody ${__from} $__interval"
    assert interpolate_variables(sql, _ctx()) == (
        "$__timeFilter(t) $__interval_s $nobody 1795132800000 1m")


def test_interval_is_range_over_data_points_rounded_and_floored_by_min_interval():
    assert calculate_interval(T0, T1, 1000) == timedelta(seconds=20)
    assert calculate_interval(T0, T1, 100) == timedelta(minutes=5)
    assert calculate_interval(T0, T0 + timedelta(days=3), 1000, "1m") == timedelta(minutes=5)
    assert calculate_interval(T0, T1, 1000, "1m") == timedelta(minutes=1)


# -- provisioning files ---------------------------------------------------------------------


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_dashboards", GRAFANA / "build_dashboards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dashboard_json_files_match_their_builder():
    assert _load_builder().main(["--check"]) == 0


def test_datasource_provisioning_names_the_plugin_and_reads_secrets_from_environment():
    doc = yaml.safe_load((GRAFANA / "provisioning/datasources/clickhouse.yaml").read_text())
    ds = doc["datasources"][0]
    assert ds["type"] == "grafana-clickhouse-datasource"
    assert ds["uid"] == DATASOURCE_UID
    assert set(ds["jsonData"]) >= {"host", "port", "protocol", "username", "defaultDatabase"}
    assert ds["secureJsonData"]["password"].startswith("${")
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/yuqing.yaml").read_text())
    assert providers["providers"][0]["options"]["path"]


def test_dashboards_have_stable_unique_uids_and_use_the_provisioned_datasource():
    boards = [json.loads(p.read_text(encoding="utf-8")) for p in DASHBOARDS]
    uids = [b["uid"] for b in boards]
    assert sorted(uids) == ["yuqing-early-warning", "yuqing-incident", "yuqing-overview",
                            "yuqing-pipeline", "yuqing-playbooks"]
    for board in boards:
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == DATASOURCE_UID, panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == DATASOURCE_UID
                assert target["editorType"] == "sql" and target["rawSql"]
        names = {v["name"] for v in board["templating"]["list"]}
        if board["uid"] in ("yuqing-overview", "yuqing-early-warning"):
            assert names >= {"brand", "category", "source"}
        if board["uid"] == "yuqing-incident":
            assert "incident_id" in names


# -- every query against ClickHouse after a demo run -----------------------------------------


def _queries() -> list:
    """(dashboard uid, what, sql) for every panel target, annotation and variable query."""
    found = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text(encoding="utf-8"))
        for panel in board["panels"]:
            for target in panel["targets"]:
                found.append(pytest.param(board["uid"], panel, target["rawSql"],
                                          id=f"{board['uid']}:{panel['id']}:{panel['title']}"))
        for anno in board["annotations"]["list"]:
            if "target" in anno:
                found.append(pytest.param(board["uid"], {"title": anno["name"]},
                                          anno["target"]["rawSql"],
                                          id=f"{board['uid']}:annotation:{anno['name']}"))
    return found


def _variables() -> list:
    seen: dict[str, str] = {}
    for path in DASHBOARDS:
        for var in json.loads(path.read_text(encoding="utf-8"))["templating"]["list"]:
            seen.setdefault(var["name"], var["query"]["rawSql"])
    return [pytest.param(name, sql, id=name) for name, sql in sorted(seen.items())]


class DemoStore:
    """A demo run's tables, the dashboards' time range and variables, and a query runner."""

    def __init__(self, url: str):
        from yuqing.core.endpoints import parse_store
        from yuqing.sinks.clickhouse import Store

        self.store = Store(parse_store(url))
        self.store.client.database = self.store.spec.database
        self.empty = {t.name for t in ALL_TABLES if self.rows(f"SELECT 1 FROM {t.name} LIMIT 1") == []}
        first, last = self.rows(
            "SELECT min(published_at), greatest(max(published_at), max(ingested_at)) FROM mentions")[0]
        # Event time (the demo's 2026-11-20 Beijing morning) through processing time (now):
        # the range an operator would pick to see both the stories and the pipeline's health.
        self.time_from = first.replace(tzinfo=UTC, minute=0, second=0, microsecond=0)
        self.time_to = max(last.replace(tzinfo=UTC), datetime.now(UTC)) + timedelta(minutes=10)
        self.variables: dict[str, Variable] = {}
        for param in _variables():
            name, sql = param.values
            options = tuple(str(row[0]) for row in self.rows(self.expand(sql)))
            current = None if name != "incident_id" else (options[:1] or ("",))
            self.variables[name] = Variable(name, options, current)

    def rows(self, sql: str) -> list[tuple]:
        return self.store.client.query(sql).result_rows

    def context(self, panel: dict, **chosen) -> QueryContext:
        interval = calculate_interval(self.time_from, self.time_to,
                                      panel.get("maxDataPoints", 1000), panel.get("interval"))
        ctx = QueryContext(self.time_from, self.time_to, interval, self.variables)
        return ctx.select(**{k: v for k, v in chosen.items() if k in self.variables})

    def expand(self, sql: str, panel: dict | None = None, **chosen) -> str:
        return expand(sql, self.context(panel or {}, **chosen))

    def empty_tables_read_by(self, sql: str) -> list[str]:
        return sorted(t for t in self.empty if re.search(rf"\b(?:FROM|JOIN)\s+{t}\b", sql))


@pytest.fixture(scope="module")
def demo_url(chdb_dir, tmp_path_factory) -> str:
    from demo_runs import run_operated_demo

    out = tmp_path_factory.mktemp("grafana_demo")
    url = f"chdb://{chdb_dir}?database=grafana_demo"
    run_operated_demo(url, out)
    return url


@pytest.fixture(scope="module")
def demo(demo_url):
    demo = DemoStore(demo_url)
    yield demo
    demo.store.close()


# Metrics only a live run has: Kafka lag needs a Kafka input, outbox depth a runner the bus
# served while the flow ran. The demo has neither; test_status_http fills and reads them.
LIVE_ONLY = "name IN ('yuqing_kafka_lag', 'yuqing_outbox_depth')"


def _expect_rows(request, demo: DemoStore, sql: str, rows: list, what: str) -> None:
    if rows or LIVE_ONLY in sql:
        return
    waiting = demo.empty_tables_read_by(sql)
    if waiting:
        pytest.fail(f"{what}: the demo left table(s) {', '.join(waiting)} empty\n{sql}")
    pytest.fail(f"{what} returned no rows on the demo run\n{sql}")


def test_the_operated_demo_fills_every_table(demo):
    assert not demo.empty


@pytest.mark.parametrize(("name", "sql"), _variables())
def test_variable_query_lists_options(request, demo, name, sql):
    expanded = demo.expand(sql)
    _expect_rows(request, demo, expanded, demo.rows(expanded), f"variable {name}")


@pytest.mark.parametrize(("uid", "panel", "sql"), _queries())
def test_panel_query_runs_and_returns_rows(request, demo, uid, panel, sql):
    expanded = demo.expand(sql, panel)
    assert "$" not in expanded.replace("'$", ""), f"unexpanded variable or macro in\n{expanded}"
    rows = demo.rows(expanded)
    # The crisis brand, its category and one source selected: the non-"All" path parses and runs.
    demo.rows(demo.expand(sql, panel, **CRISIS))
    _expect_rows(request, demo, expanded, rows, f"{uid} / {panel['title']}")
