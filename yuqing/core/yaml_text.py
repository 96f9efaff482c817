"""YAML from text, with libyaml's C parser when PyYAML was built with it.

The shipped playbooks, lexicons and warning settings are parsed at every
start; the pure-Python parser spent ~70 ms of a run's start-up on them, the C
one a tenth of that. Both are safe loaders and give the same objects.
"""

from __future__ import annotations

from typing import Any

import yaml

YAMLError = yaml.YAMLError
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """The one document of ``text`` (None when empty)."""
    return yaml.load(text, Loader=_LOADER)


def load_yaml_all(text: str) -> list[Any]:
    """Every document of ``text``, in order."""
    return list(yaml.load_all(text, Loader=_LOADER))
