"""The runnable examples in the docstrings of the operations modules stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "syncflow_core.text_table",
    "syncflow_core.dlq_fixes",
    "syncflow_core.plan",
    "syncflow_core.drift",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
