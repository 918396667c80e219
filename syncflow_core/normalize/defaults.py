"""A field's default: text parsed by the field's own layers 1-4, like a source value.

>>> from syncflow_core.catalog.models import FieldSpec
>>> parse_default(FieldSpec(source="LEAD_TIME", oracle_type="NUMBER(5)", target="t", default="0"))
0
>>> parse_default(FieldSpec(source="ACTIVE", oracle_type="CHAR(1)", target="a", default="Y"))
'Y'
>>> parse_default(FieldSpec(source="LEAD_TIME", oracle_type="NUMBER(5)", target="t", default="1.5"))
Traceback (most recent call last):
...
syncflow_core.normalize.errors.RowError: t: invalid_integer: '1.5'
"""

from __future__ import annotations

from typing import Any

import polars as pl

from syncflow_core.catalog.models import FieldSpec
from syncflow_core.normalize.errors import ErrorType, RowError


def parse_default(spec: FieldSpec, *, source_timezone: str = "UTC") -> Any:
    """The default as a value of the field's source type (before transforms), or None.

    Runs the same vectorized parser as the data, so a default means what the same text
    would mean in a row. Raises ``RowError`` (a ``ValueError``) when it does not parse or
    is blank (a default that normalizes to null would be no default).
    """
    if spec.default is None:
        return None
    # Imported here: the catalog loader imports this module while it loads.
    from syncflow_core.normalize.parsers import parse_plan, run_parse

    plan = parse_plan(spec, "__d_", source_timezone)
    frame = pl.DataFrame({spec.source: [spec.default]}, schema={spec.source: pl.String})
    value, code = run_parse(frame, {"__d_": plan}).select("__d_value", "__d_error").row(0)
    if code:
        raise RowError(ErrorType.from_code(code), spec.target, spec.default)
    if isinstance(value, str):
        value = value or None  # layer 2 step 5
    if value is None:
        raise RowError(ErrorType.MISSING_REQUIRED, spec.target, spec.default)
    return value
