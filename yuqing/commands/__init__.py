"""Subcommands of the `yuqing` console command, one module each."""
