"""Helpers for the normalization tests: small entities and the reference comparison."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from syncflow_core.catalog import EntitySpec, catalog_from_mapping
from syncflow_core.normalize import Prepared, prepare
from tests.unit import reference


def entity(
    fields: Sequence[Mapping[str, Any]],
    key: Sequence[str],
    *,
    source_timezone: str = "UTC",
    name: str = "things",
) -> EntitySpec:
    """A one-entity catalog built like the YAML one (so the loader's checks apply)."""
    body: dict[str, Any] = {
        "source_view": name.upper(),
        "key": list(key),
        "fields": [dict(f) for f in fields],
        "source_timezone": source_timezone,
    }
    return catalog_from_mapping({name: body})[name]


def one_field(oracle_type: str, *, source_timezone: str = "UTC", **extra: Any) -> EntitySpec:
    """An entity with a string key ``K -> k`` and one field ``V -> v`` of ``oracle_type``."""
    return entity(
        [
            {"source": "K", "oracle_type": "VARCHAR2(10)", "target": "k"},
            {"source": "V", "oracle_type": oracle_type, "target": "v", **extra},
        ],
        ["k"],
        source_timezone=source_timezone,
    )


def values(spec: EntitySpec, raws: Sequence[Any], given: str = "list") -> list[Any]:
    """Prepare one row per raw value of ``V`` (distinct keys): the value of ``v`` where the
    row passed, else the error type of its failure."""
    rows = [
        {"K": f"k{i}", "V": raw, "ROWVERSION": "2025-12-08 10:30:00"} for i, raw in enumerate(raws)
    ]
    prepared = prepare(spec, rows)
    found = {r["k"]: r["v"] for r in prepared.records.iter_rows(named=True)}
    errors = {
        json.loads(f["raw_data"])["K"]: f["error_type"]
        for f in prepared.failed.iter_rows(named=True)
    }
    return [found[f"k{i}"] if f"k{i}" in found else errors[f"k{i}"] for i in range(len(raws))]


def failed_rows(prepared: Prepared) -> list[dict[str, Any]]:
    return prepared.failed.to_dicts()


def assert_matches_reference(
    spec: EntitySpec, rows: Sequence[Mapping[str, Any]], given: Any = None
) -> Prepared:
    """``prepare(spec, given or rows)`` equals the per-row reference on ``rows``, field by field."""
    frame_input = isinstance(given, pl.DataFrame)
    prepared = prepare(spec, rows if given is None else given)
    expected = reference.prepare_rows(spec, rows)

    got_records = prepared.records.to_dicts()
    assert len(got_records) == len(expected.records)
    for got, want in zip(got_records, expected.records, strict=True):
        assert got == want, (got, want)
    assert list(prepared.records.columns) == [
        *spec.data_fields, "erp_key_hash", "erp_data_hash", "erp_rowversion",
    ]  # fmt: skip

    got_failed = prepared.failed.to_dicts()
    assert len(got_failed) == len(expected.failed)
    for got, want in zip(got_failed, expected.failed, strict=True):
        for column in ("stage_failed", "error_type", "field", "erp_key_hash", "erp_rowversion"):
            assert got[column] == want[column], (column, got, want)
        if frame_input:
            row = given.row(want["index"], named=True)
            assert json.loads(got["raw_data"]) == json.loads(json.dumps(row, default=str))
        else:
            assert got["raw_data"] == want["raw_data"]
        message = got["error_message"]
        assert want["source"] in message
        assert want["field"] in message
        assert want["error_type"] in message

    assert prepared.superseded == expected.superseded
    assert prepared.rows_in == len(rows)
    assert (
        prepared.rows_in == prepared.records.height + prepared.failed.height + prepared.superseded
    )
    stages = [f["stage_failed"] for f in expected.failed]
    normalized = len(rows) - stages.count("normalize")
    validated = normalized - stages.count("validate")
    assert prepared.counts == {
        "rows_fetched": len(rows),
        "rows_normalized": normalized,
        "rows_validated": validated,
        "rows_mapped": validated - stages.count("map"),
    }
    return prepared
