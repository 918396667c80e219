"""``MERGE`` (PostgreSQL 15+) as a SQLAlchemy construct: Core has none yet.

>>> import sqlalchemy as sa
>>> from sqlalchemy.dialects import postgresql
>>> md = sa.MetaData()
>>> t = sa.Table("t", md, sa.Column("k", sa.String, primary_key=True), sa.Column("v", sa.String))
>>> s = sa.Table("s", md, sa.Column("k", sa.String), sa.Column("v", sa.String))
>>> stmt = Merge(t, s, on=t.c.k == s.c.k, set_={"v": s.c.v}, where=t.c.v != s.c.v,
...              values={"k": s.c.k, "v": s.c.v})
>>> print(stmt.compile(dialect=postgresql.dialect()))  # doctest: +NORMALIZE_WHITESPACE
MERGE INTO t USING s ON t.k = s.k WHEN MATCHED AND t.v != s.v THEN UPDATE SET v = s.v
WHEN NOT MATCHED THEN INSERT (k, v) VALUES (s.k, s.v)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable


class Merge(Executable, ClauseElement):
    """``MERGE INTO target USING source ON on WHEN MATCHED [AND where] THEN UPDATE SET
    set_ WHEN NOT MATCHED THEN INSERT (values' keys) VALUES (values)``."""

    inherit_cache = False  # built per call; not worth caching

    def __init__(
        self,
        target: sa.Table,
        source: sa.Table,
        *,
        on: ColumnElement[bool],
        set_: Mapping[str, Any],
        values: Mapping[str, Any],
        where: ColumnElement[bool] | None = None,
    ) -> None:
        self.target, self.source, self.on, self.where = target, source, on, where
        self.set_ = {
            name: sa.sql.coercions.expect(sa.sql.roles.ExpressionElementRole, v)
            for name, v in set_.items()
        }
        self.values = dict(values)


@compiles(Merge, "postgresql")
def _merge_sql(element: Merge, compiler: SQLCompiler, **kw: Any) -> str:
    quote = compiler.preparer.quote
    target = compiler.process(element.target, asfrom=True, **kw)
    source = compiler.process(element.source, asfrom=True, **kw)
    on = compiler.process(element.on, **kw)
    matched = f" AND {compiler.process(element.where, **kw)}" if element.where is not None else ""
    sets = ", ".join(
        f"{quote(name)} = {compiler.process(v, **kw)}" for name, v in element.set_.items()
    )
    names = ", ".join(quote(name) for name in element.values)
    values = ", ".join(compiler.process(v, **kw) for v in element.values.values())
    # Assembled from compiled fragments: names quoted, every value a bound parameter.
    return (
        f"MERGE INTO {target} USING {source} ON {on} "  # noqa: S608
        f"WHEN MATCHED{matched} THEN UPDATE SET {sets} "
        f"WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})"
    )
