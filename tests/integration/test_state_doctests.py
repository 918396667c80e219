"""The examples in the state store's docstrings run (on in-memory SQLite)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import syncflow_core.state

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(syncflow_core.state.__path__, "syncflow_core.state.")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
