"""The row errors of stages 2-4: their names (normalization.md), stages and frame codes.

>>> ErrorType.INVALID_BOOLEAN.stage
<Stage.MAP: 'map'>
>>> ErrorType.from_code(ErrorType.MISSING_REQUIRED.code)
<ErrorType.MISSING_REQUIRED: 'missing_required'>
"""

from __future__ import annotations

from enum import StrEnum

import polars as pl


class Stage(StrEnum):
    """The pipeline stage a failed row is charged to (``failed_records.stage_failed``)."""

    NORMALIZE = "normalize"
    VALIDATE = "validate"
    MAP = "map"


class ErrorType(StrEnum):
    """The contract's error names; ``code`` is the small integer used inside frames."""

    INVALID_NUMBER = "invalid_number"
    INVALID_INTEGER = "invalid_integer"
    INVALID_DATETIME = "invalid_datetime"
    INVALID_BOOLEAN = "invalid_boolean"
    MISSING_REQUIRED = "missing_required"

    @property
    def code(self) -> int:
        """1-based position in this enum; 0 means "no error" in a frame."""
        return list(ErrorType).index(self) + 1

    @property
    def stage(self) -> Stage:
        """Layers 1-4 fail in normalize, the required check in validate, transforms in map."""
        if self is ErrorType.MISSING_REQUIRED:
            return Stage.VALIDATE
        if self is ErrorType.INVALID_BOOLEAN:
            return Stage.MAP
        return Stage.NORMALIZE

    @classmethod
    def from_code(cls, code: int) -> ErrorType:
        """The error type of a frame code."""
        return list(cls)[code - 1]


class RowError(ValueError):
    """One value that a field cannot take: the error type, the field and the value."""

    def __init__(self, error_type: ErrorType, field: str, value: object) -> None:
        self.error_type, self.field, self.value = error_type, field, value
        super().__init__(f"{field}: {error_type.value}: {value!r}")


def error_code(error: ErrorType) -> pl.Expr:
    """The frame code of ``error`` as a UInt8 literal."""
    return pl.lit(error.code, pl.UInt8)


def no_error() -> pl.Expr:
    """The frame code for "no error" (0)."""
    return pl.lit(0, pl.UInt8)
