"""Layer 5 per field, on top of its parser: default, transforms, required.

Order within a field (docs/internals.md): layers 1-4 (``invalid_number``,
``invalid_integer``, ``invalid_datetime``), then a null takes the default, then the
transforms in order (``yn_bool`` takes exactly ``Y``/``N``; a null stays null), then the
required check (``missing_required``). Key fields are always required.

A string field's parser applies its case transforms itself (on the compact rows that
can change, see ``parsers.plan_string``); upper/lower keep "" as "", so that equals
"default first, then transforms" once the default is transformed too.

>>> from syncflow_core.catalog import load_catalog
>>> spec = load_catalog()["work_centers"]
>>> plan = field_plan(spec.field("is_active"), 5, required=True, default="Y", source_timezone="UTC")
>>> plan.spec.target, plan.name
('is_active', '__f5_')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from syncflow_core.catalog.models import EntitySpec, FieldSpec, ValueType
from syncflow_core.normalize.errors import ErrorType, error_code, no_error
from syncflow_core.normalize.parsers import DTYPES, ParsePlan, parse_plan, string_transforms
from syncflow_core.normalize.strings import case_transformed, empty_to_null


def rowversion_field(spec: EntitySpec) -> FieldSpec:
    """ROWVERSION as a field: TIMESTAMP(6), required, target ``erp_rowversion``."""
    return FieldSpec(
        source=spec.rowversion_column,
        oracle_type="TIMESTAMP(6)",
        target="erp_rowversion",
        required=True,
    )


@dataclass(frozen=True)
class FieldPlan:
    """One field from its raw column to its final value and error code (0: fine).

    ``mapped(value)``: layer 5 but ``yn_bool`` on the parsed value, into column
    ``{name}mapped``; then ``value`` and ``error`` read that column and ``{name}error``
    (the parse error).
    """

    spec: FieldSpec
    name: str
    parse: ParsePlan
    default: Any
    required: bool

    def mapped(self, value: pl.Expr) -> pl.Expr:
        """Empty to null (strings), then the default. A string field's parse plan has
        applied the case transforms already; its default is transformed here, once."""
        spec = self.spec
        default = self.default
        if spec.source_type is ValueType.STRING:
            value = empty_to_null(value)  # layer 2 step 5
            if default is not None:
                default = transform_text(default, string_transforms(spec))
        if spec.source_type is ValueType.FLOAT:
            # One zero: -0.0 and 0.0 hash alike (identity.md), so they must compare alike.
            value = pl.when(value == 0).then(0.0).otherwise(value)
        if default is not None:
            value = pl.coalesce(value, pl.lit(default, DTYPES[spec.source_type]))
        return value

    @property
    def value(self) -> pl.Expr:
        """The final value (``yn_bool`` applied)."""
        mapped = pl.col(f"{self.name}mapped")
        if "yn_bool" in self.spec.transforms:
            return pl.when(mapped == "Y").then(True).when(mapped == "N").then(False)
        return mapped

    @property
    def error(self) -> pl.Expr:
        """The field's error code: parse error, then yn_bool, then the required check."""
        mapped, parse_error = pl.col(f"{self.name}mapped"), pl.col(f"{self.name}error")
        bad: pl.Expr = pl.lit(False)
        if "yn_bool" in self.spec.transforms:
            bad = mapped.is_not_null() & ~mapped.is_in(["Y", "N"])
        return (
            pl.when(parse_error > 0)
            .then(parse_error)
            .when(bad)
            .then(error_code(ErrorType.INVALID_BOOLEAN))
            .when(pl.lit(self.required) & self.value.is_null())
            .then(error_code(ErrorType.MISSING_REQUIRED))
            .otherwise(no_error())
        )


def field_plan(
    spec: FieldSpec, index: int, *, required: bool, default: Any, source_timezone: str
) -> FieldPlan:
    """Layers 1-5 of one field; ``default`` is its parsed default (``parse_default``)."""
    name = f"__f{index}_"
    parse = parse_plan(spec, name, source_timezone, transforms=True)
    return FieldPlan(spec, name, parse, default, required)


def transform_text(text: str, transforms: tuple[str, ...]) -> str:
    """``transforms`` applied to one string with the same kernels as the columns."""
    result = pl.select(case_transformed(pl.lit(text, pl.String), transforms)).item()
    assert isinstance(result, str)
    return result
