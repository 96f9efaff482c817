"""Every Examples section in the package is a test (the River way)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import yuqing


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(yuqing.__path__, "yuqing."):
        if "_generated" in info.name or info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_module_examples_hold(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
