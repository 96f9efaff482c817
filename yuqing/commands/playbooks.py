"""`yuqing playbooks`: check and list the strategy library (策略库)."""

from __future__ import annotations

import argparse
import sys

from yuqing.errors import UserError
from yuqing.playbooks.library import read_playbooks, shipped_playbook_dir
from yuqing.playbooks.schema import TIERS


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "playbooks",
        help="validate or list the crisis-response playbooks",
        description="The strategy library is the shipped playbooks plus the folders you give "
        "(the same folders the service takes with --playbooks). See docs/playbooks.md.",
    )
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name, helptext, func in (
        ("validate", "check every playbook file; print FILE: FIELD: problem — fix per error", validate),
        ("list", "print one line per playbook: id, version, category, tier, scope, name", list_),
    ):
        verb = verbs.add_parser(name, help=helptext, description=helptext)
        verb.add_argument("dirs", nargs="*", metavar="DIR",
                          help="folder of playbook YAML files, in addition to the shipped library")
        verb.add_argument("--no-shipped", action="store_true",
                          help="leave the shipped library out (check DIR on its own)")
        verb.set_defaults(func=func)


def _folders(args: argparse.Namespace) -> list[str]:
    folders = ([] if args.no_shipped else [str(shipped_playbook_dir())]) + list(args.dirs)
    if not folders:
        raise UserError("--no-shipped needs at least one DIR to check")
    return folders


def validate(args: argparse.Namespace) -> int:
    folders = _folders(args)
    playbooks, issues = read_playbooks(folders)
    if issues:
        for issue in issues:
            print(issue, file=sys.stderr)
        raise UserError(f"{len(issues)} error(s) in the playbook library; fix the lines above and run again")
    print(f"ok: {len(playbooks)} playbooks in {', '.join(folders)}")
    return 0


def list_(args: argparse.Namespace) -> int:
    playbooks, issues = read_playbooks(_folders(args))
    if issues:
        raise UserError(f"{issues[0]} (run `yuqing playbooks validate` for every error)")
    for p in sorted(playbooks, key=lambda p: (p.category, p.id)):
        scope = ("brands=" + ",".join(p.match.brands) if p.match.brands
                 else "sectors=" + ",".join(p.match.sectors) if p.match.sectors else "any")
        print(f"{p.id}\tv{p.version}\t{p.category}\t{TIERS[p.trigger.min_tier]}+\t{scope}\t{p.name}")
    return 0
