"""The examples in the Dagster layer's docstrings run."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import syncflow_dagster


def _modules_with_examples() -> list[str]:
    names = sorted(
        info.name for info in pkgutil.walk_packages(syncflow_dagster.__path__, "syncflow_dagster.")
    )
    finder = doctest.DocTestFinder()
    return [
        name
        for name in names
        if any(test.examples for test in finder.find(importlib.import_module(name)))
    ]


MODULES = _modules_with_examples()


def test_the_layer_is_documented_by_examples() -> None:
    assert len(MODULES) >= 8


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(importlib.import_module(name), optionflags=flags)
    assert result.attempted > 0
    assert result.failed == 0
