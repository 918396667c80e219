"""The runnable examples in the docstrings of the emulators and clients stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "syncflow_core.clients.apismith",
    "syncflow_core.clients.bounds",
    "syncflow_core.clients.http",
    "syncflow_core.clients.pages",
    "syncflow_core.clients.retry",
    "syncflow_core.clients.schedulehub",
    "syncflow_core.clients.schedulehub_frames",
    "syncflow_core.emulators.apismith",
    "syncflow_core.emulators.asgi",
    "syncflow_core.emulators.cursor",
    "syncflow_core.emulators.faults",
    "syncflow_core.emulators.generator",
    "syncflow_core.emulators.hashing",
    "syncflow_core.emulators.messy",
    "syncflow_core.emulators.schedulehub",
    "syncflow_core.emulators.schedulehub_answers",
    "syncflow_core.emulators.schedulehub_ids",
    "syncflow_core.emulators.schedulehub_schema",
    "syncflow_core.emulators.schedulehub_service",
    "syncflow_core.emulators.schedulehub_uid",
    "syncflow_core.emulators.servers",
    "syncflow_core.emulators.table",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no runnable example"
    assert result.failed == 0
