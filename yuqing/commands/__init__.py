"""Subcommands of the `yuqing` console command, one module each.

Thin: each parses its flags, turns bad input into a `UserError`, and calls
a flow, a sink or a model. Only `yuqing.cli` imports them.
"""

import argparse


class HelpFormatter(argparse.HelpFormatter):
    """Shows a flag's default only when there is one worth reading (no "(default: None)")."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, [], ""):
            return text
        if action.option_strings and action.nargs != 0:
            return f"{text} (default: %(default)s)"
        return text
