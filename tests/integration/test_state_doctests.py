"""The examples in the state store's docstrings run (on in-memory SQLite)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import syncflow_core.state


def _modules_with_examples() -> list[str]:
    names = sorted(
        info.name
        for info in pkgutil.walk_packages(syncflow_core.state.__path__, "syncflow_core.state.")
    )
    finder = doctest.DocTestFinder()
    return [
        name
        for name in names
        if any(test.examples for test in finder.find(importlib.import_module(name)))
    ]


MODULES = _modules_with_examples()


def test_the_store_is_documented_by_examples() -> None:
    assert len(MODULES) >= 12


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
