"""The runnable examples in the docstrings of stages 2-5 stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "syncflow_core.identity",
    "syncflow_core.normalize",
    "syncflow_core.normalize.batch",
    "syncflow_core.normalize.compact",
    "syncflow_core.normalize.datetimes",
    "syncflow_core.normalize.dedup",
    "syncflow_core.normalize.defaults",
    "syncflow_core.normalize.digits",
    "syncflow_core.normalize.errors",
    "syncflow_core.normalize.fields",
    "syncflow_core.normalize.parsers",
    "syncflow_core.normalize.slow",
    "syncflow_core.normalize.numeric",
    "syncflow_core.normalize.source",
    "syncflow_core.normalize.strings",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
