"""Settings of the early warning: tier thresholds per brand × category, severities, tuning.

Loaded from YAML (``--warning-config FILE``); every key is optional::

    thresholds:                 # the default for every brand × category
      enter: [30, 50, 70]       # 一级, 二级, 三级 (risk points 0-100)
      hysteresis: 10
      cooldown_minutes: 10
      quiet_minutes: 30
    overrides:                  # most specific wins: brand+category, brand, category
      - {brand: 星汇支付, category: outage, enter: [25, 45, 65]}
      - {category: complaint_fees, enter: [40, 60, 80], cooldown_minutes: 20}
    severity: {data_breach: 1.0}
    expectation: seasonal       # seasonal | ew | holtwinters | adwin
    scorer: {z_ref: 6.0}        # any RiskScorer parameter
    false_alarm: {raise_points: 15, hold_hours: 24, max_points: 45}
    silence: {min_expected: 8, span_minutes: 15}
    timezone_offset_hours: 8

Examples
--------
>>> cfg = WarningConfig.from_dict({"overrides": [
...     {"brand": "星汇支付", "category": "outage", "enter": [25, 45, 65]},
...     {"category": "outage", "enter": [35, 55, 75]}]})
>>> cfg.thresholds_for("星汇支付", "outage").enter, cfg.thresholds_for("云栈科技", "outage").enter
((25.0, 45.0, 65.0), (35.0, 55.0, 75.0))
>>> cfg.thresholds_for("云栈科技", "data_breach").enter
(30.0, 50.0, 70.0)
>>> WarningConfig.from_dict({"thresholds": {"enter": [50, 40, 70]}})
Traceback (most recent call last):
...
yuqing.errors.UserError: thresholds: thresholds (50.0, 40.0, 70.0): need 0 < 一级 < 二级 < 三级 <= 100
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from pathlib import Path

from yuqing.core.yaml_text import YAMLError, load_yaml
from yuqing.errors import UserError
from yuqing.warning.expectation import EXPECTATIONS
from yuqing.warning.tiers import Thresholds

try:  # the analyzer's category table, when present
    from yuqing.text.categories import CATEGORY_SEVERITY as _SEVERITY
except ImportError:  # pragma: no cover - until yuqing.text.categories lands
    _SEVERITY = {}

DEFAULT_SEVERITY: dict[str, float] = {
    "data_breach": 1.0, "rumor_solvency": 0.95, "outage": 0.9, "regulatory": 0.85,
    "product_defect": 0.8, "media_exposure": 0.7, "complaint_collection": 0.65,
    "complaint_fees": 0.5, "other": 0.3, "*": 0.3,
} | dict(_SEVERITY)

_THRESHOLD_KEYS = {"enter", "hysteresis", "cooldown_minutes", "quiet_minutes"}
_TOP_KEYS = {"thresholds", "overrides", "severity", "expectation", "scorer", "false_alarm",
             "silence", "timezone_offset_hours", "signals"}


@dataclass(frozen=True)
class WarningConfig:
    """Everything `BrandMonitor` needs to know; plain data, so it pickles with the state."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    overrides: dict[tuple[str, str], Thresholds] = field(default_factory=dict)
    severity: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SEVERITY))
    expectation: str = "seasonal"
    scorer: dict = field(default_factory=dict)
    signals: dict = field(default_factory=dict)
    false_alarm_points: float = 15.0
    false_alarm_hold: timedelta = timedelta(hours=24)
    false_alarm_max: float = 45.0
    silence: dict = field(default_factory=dict)
    timezone_offset_hours: float = 8.0
    versions: dict[str, str] = field(default_factory=dict)  # model versions to cite

    def thresholds_for(self, brand: str, category: str) -> Thresholds:
        for key in ((brand, category), (brand, "*"), ("*", category)):
            if key in self.overrides:
                return self.overrides[key]
        return self.thresholds

    def severity_of(self, category: str) -> float:
        return self.severity.get(category, self.severity.get("other", 0.3))

    def digest(self) -> str:
        """A short hash of the settings, cited by the evidence to re-derive an alert."""
        text = json.dumps(asdict(self), sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]

    @classmethod
    def from_yaml(cls, path: Path) -> WarningConfig:
        try:
            obj = load_yaml(Path(path).read_text(encoding="utf-8")) or {}
        except OSError as err:
            raise UserError(f"{path}: cannot read ({err.strerror}); check --warning-config") from None
        except YAMLError as err:
            raise UserError(f"{path}: not valid YAML ({err}); fix the file") from None
        if not isinstance(obj, dict):
            raise UserError(f"{path}: expected a mapping at the top level")
        try:
            return cls.from_dict(obj)
        except UserError as err:
            raise UserError(f"{path}: {err}") from None

    @classmethod
    def from_dict(cls, obj: dict) -> WarningConfig:
        unknown = set(obj) - _TOP_KEYS
        if unknown:
            raise UserError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(_TOP_KEYS)}")
        base = _thresholds(obj.get("thresholds") or {}, Thresholds(), "thresholds")
        overrides = {}
        for i, entry in enumerate(obj.get("overrides") or []):
            where = f"overrides[{i}]"
            if not isinstance(entry, dict) or not ({"brand", "category"} & set(entry)):
                raise UserError(f"{where}: give brand and/or category plus the thresholds to change")
            key = (str(entry.get("brand", "*")), str(entry.get("category", "*")))
            rest = {k: v for k, v in entry.items() if k not in ("brand", "category")}
            overrides[key] = _thresholds(rest, base, where)
        severity = dict(DEFAULT_SEVERITY)
        for name, value in (obj.get("severity") or {}).items():
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise UserError(f"severity.{name}: {value!r} is not a number in [0, 1]")
            severity[str(name)] = float(value)
        expectation = str(obj.get("expectation", "seasonal"))
        if expectation not in EXPECTATIONS:
            raise UserError(f"expectation {expectation!r}: use one of {sorted(EXPECTATIONS)}")
        fa = obj.get("false_alarm") or {}
        return cls(
            thresholds=base, overrides=overrides, severity=severity, expectation=expectation,
            scorer=dict(obj.get("scorer") or {}), signals=dict(obj.get("signals") or {}),
            false_alarm_points=float(fa.get("raise_points", 15.0)),
            false_alarm_hold=timedelta(hours=float(fa.get("hold_hours", 24.0))),
            false_alarm_max=float(fa.get("max_points", 45.0)),
            silence=dict(obj.get("silence") or {}),
            timezone_offset_hours=float(obj.get("timezone_offset_hours", 8.0)),
        )


def _thresholds(obj: dict, base: Thresholds, where: str) -> Thresholds:
    unknown = set(obj) - _THRESHOLD_KEYS
    if unknown:
        raise UserError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(_THRESHOLD_KEYS)}")
    changes: dict = {}
    try:
        if "enter" in obj:
            enter = tuple(float(x) for x in obj["enter"])
            if len(enter) != 3:
                raise ValueError(f"enter {list(enter)}: give three points, for 一级, 二级 and 三级")
            changes["enter"] = enter
        if "hysteresis" in obj:
            changes["hysteresis"] = float(obj["hysteresis"])
        if "cooldown_minutes" in obj:
            changes["cooldown"] = timedelta(minutes=float(obj["cooldown_minutes"]))
        if "quiet_minutes" in obj:
            changes["quiet"] = timedelta(minutes=float(obj["quiet_minutes"]))
        return replace(base, **changes)
    except (TypeError, ValueError) as err:
        raise UserError(f"{where}: {err}") from None
