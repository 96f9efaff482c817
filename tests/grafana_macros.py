"""Expand a Grafana panel query the way Grafana and the ClickHouse plugin do, offline.

A panel's ``rawSql`` reaches ClickHouse after three passes, and `expand` runs
the same three in the same order, so a test can run every dashboard query
against the real engine (chDB) without a Grafana:

1. ``$__conditionalAll(condition, $var)`` (plugin front end): the condition, or
   ``1=1`` when the variable is "All" (or empty); the last occurrence first.
2. Template variables (Grafana's template service): ``$var``, ``${var}``,
   ``${var:format}`` with the formats ``singlequote``, ``doublequote``,
   ``sqlstring``, ``csv``, ``raw``, ``text``; a multi-value selection without a
   format becomes ``{a,b}``; "All" without a custom all-value means every option.
   Grafana's own ``$__from``, ``$__to`` (epoch ms), ``$__interval``,
   ``$__interval_ms``, ``$__range_s`` are replaced here too.
3. Plugin macros (``pkg/macros`` of grafana-clickhouse-datasource):

   =========================  ===========================================================
   ``$__timeFilter(c)``       ``c >= toDateTime(FROM) AND c <= toDateTime(TO)`` (epoch s)
   ``$__timeFilter_ms(c)``    same with ``fromUnixTimestamp64Milli(FROM_MS)``
   ``$__dateFilter(c)``       ``c >= toDate('YYYY-MM-DD') AND c <= toDate('YYYY-MM-DD')``
   ``$__dateTimeFilter(d,t)`` both, each in parentheses (alias ``$__dt``)
   ``$__fromTime``            ``toDateTime(FROM)``; ``$__toTime``, ``_ms`` forms alike
   ``$__timeInterval(c)``     ``toStartOfInterval(toDateTime(c), INTERVAL N second)``
   ``$__timeInterval_ms(c)``  ``toStartOfInterval(toDateTime64(c, 3), INTERVAL N millisecond)``
   ``$__interval_s``          N, the panel interval in whole seconds (at least 1)
   =========================  ===========================================================

The interval follows Grafana: range / max data points, rounded to a "nice"
step, never below the panel's min interval.

Examples
--------
>>> from datetime import UTC, datetime, timedelta
>>> ctx = QueryContext(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 20, 6, tzinfo=UTC),
...                    timedelta(minutes=1), {"brand": Variable("brand", ("甲", "乙"))})
>>> expand("SELECT 1 WHERE $__timeFilter(t) AND $__conditionalAll(b IN (${brand:singlequote}), $brand)", ctx)
'SELECT 1 WHERE t >= toDateTime(1795132800) AND t <= toDateTime(1795154400) AND 1=1'
>>> ctx = ctx.select(brand=["乙"])
>>> expand("$__timeInterval(t) AS time WHERE $__conditionalAll(b IN (${brand:singlequote}), $brand)", ctx)
"toStartOfInterval(toDateTime(t), INTERVAL 60 second) AS time WHERE b IN ('乙')"
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

ALL = "$__all"

# Grafana's rangeutil.roundInterval: (upper bound ms, step ms), first match wins.
_ROUND_STEPS = (
    (10, 1), (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500),
    (1_500, 1_000), (3_500, 2_000), (7_500, 5_000), (12_500, 10_000), (17_500, 15_000),
    (25_000, 20_000), (45_000, 30_000), (90_000, 60_000), (210_000, 120_000),
    (450_000, 300_000), (1_050_000, 600_000), (2_100_000, 1_200_000), (2_700_000, 1_800_000),
    (5_400_000, 3_600_000), (9_000_000, 7_200_000), (16_200_000, 10_800_000),
    (32_400_000, 21_600_000), (86_400_000, 43_200_000), (604_800_000, 86_400_000),
    (1_814_400_000, 604_800_000), (3_628_800_000, 2_592_000_000),
)
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
# ${name}, ${name:format}, $name (Grafana also knows [[name]], unused here).
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")
_MACRO = re.compile(r"\$__(\w+)")


class MacroError(ValueError):
    """A macro with the wrong number of arguments or an unclosed parenthesis."""


@dataclass(frozen=True)
class Variable:
    """A dashboard template variable: its options and what is selected (None = All)."""

    name: str
    options: tuple[str, ...]
    current: tuple[str, ...] | None = None
    all_value: str | None = None

    @property
    def is_all(self) -> bool:
        return self.current is None

    def values(self) -> tuple[str, ...]:
        if self.current is not None:
            return self.current
        return (self.all_value,) if self.all_value is not None else self.options


@dataclass(frozen=True)
class QueryContext:
    """What Grafana knows when it runs a panel: time range, interval, variables."""

    time_from: datetime
    time_to: datetime
    interval: timedelta
    variables: Mapping[str, Variable] = field(default_factory=dict)

    def select(self, **chosen: Sequence[str] | None) -> QueryContext:
        """A copy with variables set to the given values (None = All)."""
        variables = dict(self.variables)
        for name, values in chosen.items():
            variables[name] = replace(
                variables[name], current=None if values is None else tuple(values))
        return replace(self, variables=variables)


def parse_duration(text: str) -> timedelta:
    """Grafana's short durations: 500ms, 30s, 1m, 2h, 1d."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30s, 1m or 1h")
    return timedelta(milliseconds=int(match[1]) * _UNITS_MS[match[2]])


def calculate_interval(time_from: datetime, time_to: datetime, max_data_points: int = 1000,
                       min_interval: str | None = None) -> timedelta:
    """The panel interval: range / max data points, rounded, not below ``min_interval``.

    >>> from datetime import UTC, datetime
    >>> t0 = datetime(2026, 11, 20, tzinfo=UTC)
    >>> calculate_interval(t0, t0 + timedelta(hours=6), 1000)
    datetime.timedelta(seconds=20)
    >>> calculate_interval(t0, t0 + timedelta(hours=6), 1000, "1m")
    datetime.timedelta(seconds=60)
    """
    raw_ms = (time_to - time_from) / timedelta(milliseconds=1) / max(max_data_points, 1)
    step_ms = next((step for bound, step in _ROUND_STEPS if raw_ms < bound), 31_536_000_000)
    interval = timedelta(milliseconds=step_ms)
    if min_interval:
        interval = max(interval, parse_duration(min_interval))
    return interval


def expand(sql: str, ctx: QueryContext) -> str:
    """The SQL ClickHouse receives for ``sql`` in ``ctx`` (the three passes above)."""
    sql = apply_conditional_all(sql, ctx.variables)
    sql = interpolate_variables(sql, ctx)
    return expand_macros(sql, ctx)


def macro_args(sql: str, open_paren: int) -> tuple[list[str], int]:
    """The comma-separated arguments after ``open_paren`` (nesting and quotes respected).

    Returns the stripped arguments and the index just past the closing parenthesis.
    """
    depth, quote, start, args = 0, "", open_paren + 1, []
    for i in range(open_paren, len(sql)):
        ch = sql[i]
        if quote:
            if ch == quote and sql[i - 1] != "\\":
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append(sql[start:i].strip())
                return args, i + 1
        elif ch == "," and depth == 1:
            args.append(sql[start:i].strip())
            start = i + 1
    raise MacroError(f"unclosed parenthesis after position {open_paren}: {sql[open_paren:][:60]!r}")


def apply_conditional_all(sql: str, variables: Mapping[str, Variable]) -> str:
    """``$__conditionalAll(cond, $var)`` -> cond, or ``1=1`` when $var is All or empty."""
    macro = "$__conditionalAll("
    index = sql.rfind(macro)
    while index != -1:
        args, end = macro_args(sql, index + len(macro) - 1)
        if len(args) != 2:
            raise MacroError(f"$__conditionalAll takes (condition, $variable), got {len(args)} args")
        name = args[1].strip().lstrip("$").strip("{}")
        variable = variables.get(name)
        if variable is None:
            raise MacroError(f"$__conditionalAll: unknown variable {args[1]!r}")
        empty = variable.current is not None and not any(variable.current)
        phrase = "1=1" if variable.is_all or empty else args[0]
        sql = sql[:index] + phrase + sql[end:]
        index = sql.rfind(macro)
    return sql


def _format(values: Sequence[str], fmt: str | None, multi: bool) -> str:
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    if fmt == "sqlstring":
        return ",".join("'" + v.replace("'", "''") + "'" for v in values)
    if fmt in ("csv", "raw", "text"):
        return ",".join(values)
    if fmt is not None:
        raise MacroError(f"unsupported variable format {fmt!r}")
    if multi and len(values) > 1:
        return "{" + ",".join(values) + "}"
    return ",".join(values)


def _grafana_duration(ms: int) -> str:
    """Grafana's text for an interval: the largest whole unit (1d, 2h, 5m, 30s, 500ms)."""
    for unit in ("d", "h", "m", "s"):
        size = _UNITS_MS[unit]
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _builtin(name: str, ctx: QueryContext) -> str | None:
    ms = int(ctx.interval / timedelta(milliseconds=1))
    builtins = {
        "__from": str(int(ctx.time_from.timestamp() * 1000)),
        "__to": str(int(ctx.time_to.timestamp() * 1000)),
        "__interval_ms": str(ms),
        "__interval": _grafana_duration(ms),
        "__range_s": str(int((ctx.time_to - ctx.time_from).total_seconds())),
    }
    return builtins.get(name)


def interpolate_variables(sql: str, ctx: QueryContext) -> str:
    """Grafana's template service: known variables replaced, anything else left as is."""

    def substitute(match: re.Match) -> str:
        name = match[1] or match[3]
        fmt = match[2]
        builtin = _builtin(name, ctx)
        if builtin is not None:
            return builtin
        variable = ctx.variables.get(name)
        if variable is None:
            return match[0]
        values = variable.values()
        return _format(values, fmt, multi=len(values) > 1)

    return _VARIABLE.sub(substitute, sql)


def _epoch_s(t: datetime) -> int:
    return int(t.timestamp())


def _epoch_ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _expand_one(name: str, args: list[str], ctx: QueryContext) -> str | None:
    """One plugin macro, or None when the name is not a macro of the plugin."""
    f, t = ctx.time_from, ctx.time_to
    dt_f, dt_t = f"toDateTime({_epoch_s(f)})", f"toDateTime({_epoch_s(t)})"
    ms_f = f"fromUnixTimestamp64Milli({_epoch_ms(f)})"
    ms_t = f"fromUnixTimestamp64Milli({_epoch_ms(t)})"
    d_f, d_t = f"toDate('{f:%Y-%m-%d}')", f"toDate('{t:%Y-%m-%d}')"
    seconds = max(int(ctx.interval.total_seconds()), 1)
    millis = max(int(ctx.interval / timedelta(milliseconds=1)), 1)
    no_args = {"fromTime": dt_f, "toTime": dt_t, "fromTime_ms": ms_f, "toTime_ms": ms_t,
               "interval_s": str(seconds)}
    if name in no_args:
        return no_args[name]
    one_arg = {
        "timeFilter": lambda c: f"{c} >= {dt_f} AND {c} <= {dt_t}",
        "timeFilter_ms": lambda c: f"{c} >= {ms_f} AND {c} <= {ms_t}",
        "dateFilter": lambda c: f"{c} >= {d_f} AND {c} <= {d_t}",
        "timeInterval": lambda c: f"toStartOfInterval(toDateTime({c}), INTERVAL {seconds} second)",
        "timeInterval_ms": lambda c: (f"toStartOfInterval(toDateTime64({c}, 3), "
                                      f"INTERVAL {millis} millisecond)"),
    }
    if name in one_arg:
        if len(args) != 1:
            raise MacroError(f"$__{name}: expected 1 argument, received {len(args)}")
        return one_arg[name](args[0])
    if name in ("dateTimeFilter", "dt"):
        if len(args) != 2:
            raise MacroError(f"$__{name}: expected 2 arguments, received {len(args)}")
        d, c = args
        return f"({d} >= {d_f} AND {d} <= {d_t}) AND ({c} >= {dt_f} AND {c} <= {dt_t})"
    return None


def expand_macros(sql: str, ctx: QueryContext) -> str:
    """The plugin's back-end macros; an unknown ``$__name`` is an error, as in the plugin."""
    out, pos = [], 0
    while True:
        match = _MACRO.search(sql, pos)
        if not match:
            out.append(sql[pos:])
            return "".join(out)
        name, end = match[1], match.end()
        args: list[str] = []
        if end < len(sql) and sql[end] == "(":
            args, end = macro_args(sql, end)
            args = [a for a in args if a]
        expanded = _expand_one(name, args, ctx)
        if expanded is None:
            raise MacroError(f"unknown macro $__{name}")
        out.append(sql[pos:match.start()] + expanded)
        pos = end
