"""`yuqing drill`: replay history against the strategy library, without side effects (演练).

The replay runs the real dataflow, so what it reports is exactly what the
service would have done; only its outputs are sandboxed: a throw-away embedded
store, an in-memory outbox, no gRPC bus, and a temporary alert stream that is
read back to list which playbooks would have fired, when, and with what tasks.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from yuqing.errors import UserError

TIER_NAMES = {1: "一级", 2: "二级", 3: "三级"}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "drill",
        help="replay mentions against the playbooks and report what would have fired",
        description="Replay a JSONL file of mentions through the whole flow without side effects "
        "(no store, bus or alert stream is touched) and report every playbook activation: when, "
        "for which incident and tier, with which tasks and deadlines.",
    )
    p.add_argument("--input", required=True, help="JSONL file of mentions (or - for stdin)")
    p.add_argument("--playbooks", type=Path, action="append", default=[],
                   help="extra playbook folder to drill (repeatable)")
    p.add_argument("--warning-config", type=Path, help="tier thresholds YAML to drill with")
    p.add_argument("--brands", type=Path, action="append", default=[],
                   help="extra brand dictionary YAML (repeatable)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per activation instead of the readable report")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from yuqing.dataflows.launcher import RunOptions, launch

    if args.input != "-" and not Path(args.input).is_file():
        raise UserError(f"--input {args.input}: no such file; give a JSONL file of mentions")
    with tempfile.TemporaryDirectory(prefix="yuqing-drill-") as tmp:
        alerts = Path(tmp) / "alerts.jsonl"
        summary = launch(RunOptions(
            input=args.input, store=f"chdb://{tmp}/store", alerts=str(alerts),
            dlq=str(Path(tmp) / "dead_letters.jsonl"), playbooks=tuple(args.playbooks),
            warning_config=args.warning_config, brand_files=tuple(args.brands),
            outbox=Path(":memory:"), bus="off", progress_every=3600.0))
        # nothing fired, nothing written: the file is made only by the first record
        text = alerts.read_text(encoding="utf-8") if alerts.exists() else ""
        records = [json.loads(line) for line in text.splitlines()]
    fired = _activations(records)
    if args.json:
        for item in fired:
            print(json.dumps(item, ensure_ascii=False))
        return 0
    out = sys.stdout
    counts = summary.counts
    out.write(f"Drill over {counts.get('mentions', 0):,} mentions "
              f"({counts.get('dead_letters', 0):,} refused): "
              f"{len({a['incident_id'] for a in fired})} incidents, {len(fired)} activations\n")
    for a in fired:
        out.write(f"\n{a['at']}  {a['brand']} {a['category']} {TIER_NAMES.get(a['tier'], a['tier'])}"
                  f"  → {a['playbook_id']} v{a['playbook_version']}  ({a['incident_id']})\n")
        for task in a["tasks"]:
            out.write(f"    [{task['department']}] {task['action']}  (due {task['due_at']})\n")
        for title in a["statements"]:
            out.write(f"    statement: {title}\n")
    return 0


def _activations(records: list[dict]) -> list[dict]:
    """The first activation per key, in the order the incidents moved (event time)."""
    moved_at = {r["incident_id"]: {} for r in records if r.get("schema") == "yuqing.incident/v1"}
    for r in records:
        if r.get("schema") == "yuqing.incident/v1":
            moved_at[r["incident_id"]].setdefault(r["tier"], r["at"])
    seen, fired = set(), []
    for r in records:
        if r.get("schema") != "yuqing.activation/v1" or r["key"] in seen:
            continue
        seen.add(r["key"])
        activation = r["activation"]
        fired.append({
            "key": r["key"],
            "at": moved_at.get(r["incident_id"], {}).get(r["tier"], ""),
            "incident_id": r["incident_id"], "brand": r["brand"], "category": r["category"],
            "tier": r["tier"], "playbook_id": r["playbook_id"],
            "playbook_version": r["playbook_version"],
            "tasks": [{"department": t.get("department", "").removeprefix("DEPARTMENT_").lower(),
                       "action": t.get("action", ""), "due_at": t.get("due_at", "")}
                      for t in activation.get("tasks", [])],
            "statements": [s.get("title", "") for s in activation.get("statements", [])],
        })
    return sorted(fired, key=lambda a: (a["at"], a["key"]))
