"""Subcommands of the `yuqing` console command, one module each.

Thin: each parses its flags, turns bad input into a `UserError`, and calls
a flow, a sink or a model. Only `yuqing.cli` imports them.
"""
