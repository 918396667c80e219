"""Names of the working columns that ``prepare`` adds next to the raw ones.

They start with two underscores: catalog names are identifiers, and the sources are
carried under a prefix, so none can collide with a target field.
"""

from __future__ import annotations

ROW = "__row"  # the input row's position
FAIL_FIELD = "__fail_field"  # index of the first failing field, null where the row passed
FAIL_CODE = "__fail_code"  # its ErrorType code


def error_column(index: int) -> str:
    """The error code column of the field at ``index`` (catalog order, ROWVERSION last)."""
    return f"__e{index}"


def source_column(source: str) -> str:
    """The raw text of a source column, kept for the messages of failed rows."""
    return f"__src_{source}"
