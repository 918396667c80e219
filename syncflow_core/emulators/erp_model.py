"""The emulated ERP: how each column of each entity gets its values (data, not branches).

A column either draws from a :class:`~syncflow_core.emulators.messy.Pool` (``PoolRecipe``)
or is a code built from an integer of the row's *layout* (``CodeRecipe``): business keys
and references to parents. The standard catalog's four entities have hand-picked recipes
below; any other column (a user's entity, a column added by schema drift) gets a generic
recipe from its Oracle type, so every catalog can be served.

Layouts give, per row index, the integers that codes are made of. ``order_lines`` is the
interesting one: most lines belong to an order of the same day, a share references an
order of a later day (``REL_NO`` 2) and a share an order that does not exist yet and
only appears after an ``add`` activity on orders (order index >= the configured size).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import polars as pl

from syncflow_core.catalog import EntitySpec, OracleType, parse_oracle_type
from syncflow_core.emulators import messy
from syncflow_core.emulators.hashing import below, salt, top_bits


@dataclass(frozen=True)
class ColumnInfo:
    """A source column as the emulator serves it."""

    name: str
    oracle: OracleType
    nullable: bool
    must_have: bool = False  # required without default: blank values are missing_required
    is_key: bool = False

    @property
    def length(self) -> int:
        """Declared length (characters) of a string column; generous for CLOB/unsized."""
        return self.oracle.precision or 4000


@dataclass(frozen=True)
class PoolRecipe:
    """Values drawn from a pool built for the column."""

    build: Callable[[random.Random, ColumnInfo], messy.Pool]


@dataclass(frozen=True)
class CodeRecipe:
    """A code ``prefix + zero-padded integer`` from a layout input, with messy variants.

    ``lower_ok``: the code may arrive in lower case (its field upper-cases it).
    ``as_number``: a JSON number instead of a string (NUMBER key columns).
    """

    source: str
    prefix: str = ""
    digits: int = 0
    lower_ok: bool = False
    as_number: bool = False


Recipe = PoolRecipe | CodeRecipe


@dataclass(frozen=True)
class LayoutContext:
    """What a layout may use: the row index, its stable hash and the configured sizes."""

    idx: pl.Expr  # Int64
    row_hash: pl.Expr  # UInt64, independent of the version
    sizes: Mapping[str, int]
    days: int
    seed: int
    late_parent_share: float
    future_parent_share: float


Layout = Callable[[LayoutContext], dict[str, pl.Expr]]


def self_layout(ctx: LayoutContext) -> dict[str, pl.Expr]:
    """One code from the row index (plus a constant 1 for further key columns)."""
    return {"row": ctx.idx, "one": pl.lit(1, dtype=pl.Int64)}


SITES = 10


def work_center_layout(ctx: LayoutContext) -> dict[str, pl.Expr]:
    """Work centers spread over ``SITES`` sites, numbered from 1 within each site."""
    return {"site": ctx.idx % SITES + 1, "wc": ctx.idx // SITES + 1}


def order_line_layout(ctx: LayoutContext) -> dict[str, pl.Expr]:
    """Lines grouped by order; some reference later-day or not-yet-existing orders.

    Keys stay unique: normal lines are ``(order k, position in k, 1)``; a later-day line
    moves to order ``k + one day`` with release 2; a future line to order
    ``orders + k`` (never a configured order) with release 1; lines added by activity
    (index >= the configured size) are ``(j mod orders, j div orders + 1, 3)``.
    """
    n_lines = max(ctx.sizes.get("order_lines", 1), 1)
    n_orders = max(ctx.sizes.get("orders", 1), 1)
    n_items = max(ctx.sizes.get("items", 1), 1)
    i, h = ctx.idx, ctx.row_hash
    k = i * n_orders // n_lines
    position = i - (k * n_lines + n_orders - 1) // n_orders + 1
    per_day = -(-n_orders // max(ctx.days, 1))
    late = below(h, salt(ctx.seed, "late-parent"), ctx.late_parent_share) & (k + per_day < n_orders)
    future = below(h, salt(ctx.seed, "future-parent"), ctx.future_parent_share)
    added = i >= n_lines
    j = i - n_lines
    order = (
        pl.when(added)
        .then(j % n_orders)
        .when(future)
        .then(k + n_orders)
        .when(late)
        .then(k + per_day)
        .otherwise(k)
    )
    line = pl.when(added).then(j // n_orders + 1).otherwise(position)
    release = pl.when(added).then(3).when(future).then(1).when(late).then(2).otherwise(1)
    # An item of the same day or up to a day earlier: parents mostly come first.
    anchor = pl.when(added).then(i % n_items).otherwise(i * n_items // n_lines)
    back = (top_bits(h, salt(ctx.seed, "item-back"), 32) % max(n_items // ctx.days, 1)).cast(
        pl.Int64
    )
    item = pl.max_horizontal(anchor - back, pl.lit(0, dtype=pl.Int64))
    return {
        "order": order.cast(pl.Int64),
        "line": line.cast(pl.Int64),
        "rel": release.cast(pl.Int64),
        "item": item,
    }


def pool(build: Callable[[random.Random, ColumnInfo], messy.Pool]) -> PoolRecipe:
    """Shorthand for a pool recipe."""
    return PoolRecipe(build)


UOMS: tuple[messy.Value, ...] = (
    "EA", "EA", "EA", "ea", " EA", "Ea", "PCS", "pcs  ", "KG", "kg", "M", " m ", "L", "BOX",
    None, None, "", "  ",
)  # fmt: skip
PART_STATUSES: tuple[messy.Value, ...] = ("A", "A", "A", "A", "I", "O", "a", "i", None, " ")
ORDER_STATES: tuple[messy.Value, ...] = (
    "Released", "RELEASED", " Planned ", "Reserved", "Delivered", "PartiallyDelivered",
    "Invoiced\r\n", "Cancelled", "Blocked\t", "released",
)  # fmt: skip
WORK_CENTER_WORDS = (
    "Assembly line", "Paint shop", "CNC Fräsen", "Welding cell", "Quality control",
    "Lackierstraße", "Packing", "Découpe laser", "Press", "Grinding",
)  # fmt: skip


def _text(distinct: bool = False, words: tuple[str, ...] = messy.WORDS) -> PoolRecipe:
    return pool(
        lambda r, c: messy.text_pool(
            r,
            max_len=c.length,
            words=words,
            distinct=distinct,
            nullable=c.nullable,
            required=c.must_have,
        )
    )


def _choice(values: tuple[messy.Value, ...]) -> PoolRecipe:
    return pool(
        lambda r, c: messy.choice_pool(
            r,
            [v for v in values if c.nullable or (isinstance(v, str) and v.strip())],
            bad=messy.blank_failures(c.nullable) if c.must_have else (),
        )
    )


def _number(
    lo: float, hi: float, decimals: int = 2, negative_share: float = 0.0, distinct: bool = False
) -> PoolRecipe:
    def build(r: random.Random, c: ColumnInfo) -> messy.Pool:
        made = messy.number_pool(
            r,
            lo=lo,
            hi=hi,
            decimals=decimals,
            nullable=c.nullable,
            negative_share=negative_share,
            distinct=distinct,
        )
        return with_blanks(made, c)

    return pool(build)


def _integer(lo: int, hi: int) -> PoolRecipe:
    return pool(
        lambda r, c: with_blanks(messy.integer_pool(r, lo=lo, hi=hi, nullable=c.nullable), c)
    )


def _date() -> PoolRecipe:
    return pool(lambda r, c: with_blanks(messy.date_pool(r, nullable=c.nullable), c))


def with_blanks(p: messy.Pool, c: ColumnInfo) -> messy.Pool:
    """Add ``missing_required`` failures to a required column's pool."""
    if not c.must_have:
        return p
    extra = messy.make_pool([], messy.blank_failures(c.nullable))
    return messy.Pool(
        good=p.good,
        bad=pl.concat([p.bad, extra.bad]),
        bad_errors=pl.concat([p.bad_errors, extra.bad_errors]),
    )


STANDARD_LAYOUTS: dict[str, Layout] = {
    "work_centers": work_center_layout,
    "order_lines": order_line_layout,
}

STANDARD_RECIPES: dict[str, dict[str, Recipe]] = {
    "items": {
        "PART_NO": CodeRecipe("row", "PART-", 8, lower_ok=True),
        "DESCRIPTION": _text(distinct=True),
        "UNIT_MEAS": _choice(UOMS),
        "LIST_PRICE": _number(0.5, 25_000, negative_share=0.03),
        "WEIGHT_NET": _number(0.001, 500, decimals=3),
        "LEAD_TIME": _integer(0, 365),
        "PART_STATUS": _choice(PART_STATUSES),
        "CREATION_DATE": _date(),
        "NOTE_TEXT": pool(lambda r, c: messy.clob_pool(r)),
    },
    "work_centers": {
        "CONTRACT": CodeRecipe("site", "S", 2, lower_ok=True),
        "WORK_CENTER_NO": CodeRecipe("wc", "W", 4, lower_ok=True),
        "DESCRIPTION": _text(distinct=True, words=WORK_CENTER_WORDS),
        "CAPACITY": _number(4, 24, decimals=1),
        "EFFICIENCY": _number(50, 120, decimals=1),
        "ACTIVE": pool(lambda r, c: messy.flag_pool(r)),
    },
    "orders": {
        "ORDER_NO": CodeRecipe("row", "CO-", 8, lower_ok=True),
        "CUSTOMER_NO": pool(lambda r, c: messy.distinct_code_pool(r, "CUST-", 5, c.length)),
        "ORDER_DATE": _date(),
        "WANTED_DELIVERY_DATE": _date(),
        "PRIORITY": _integer(1, 9),
        "STATE": _choice(ORDER_STATES),
    },
    "order_lines": {
        "ORDER_NO": CodeRecipe("order", "CO-", 8, lower_ok=True),
        "LINE_NO": CodeRecipe("line"),
        "REL_NO": CodeRecipe("rel"),
        "PART_NO": CodeRecipe("item", "PART-", 8, lower_ok=True),
        "BUY_QTY_DUE": _number(1, 5000, distinct=True),
        "PLANNED_DELIVERY_DATE": _date(),
    },
}


def check_sizes(sizes: Mapping[str, int]) -> None:
    """Refuse sizes whose codes would not fit their columns (ValueError)."""
    if any(n < 0 for n in sizes.values()):
        raise ValueError("sizes must not be negative")
    lines, orders = sizes.get("order_lines", 0), sizes.get("orders", 0)
    limits = {
        "items": 10**8 - 1,  # PART- and 8 digits
        "orders": (10**8 - 1) // 2,  # future parents take order numbers up to twice the size
        "work_centers": SITES * 9999,  # W and 4 digits per site
    }
    for entity, limit in limits.items():
        if sizes.get(entity, 0) > limit:
            raise ValueError(f"{entity}: at most {limit} rows fit the emulated key columns")
    if lines and (orders < 1 or sizes.get("items", 0) < 1):
        raise ValueError("order_lines need at least one order and one item")
    if lines and -(-lines // max(orders, 1)) > 9999:
        raise ValueError("order_lines: at most 9999 lines per order (LINE_NO is VARCHAR2(4))")


def generic_recipe(column: ColumnInfo, first_key: bool) -> Recipe:
    """A recipe from the Oracle type alone (user entities, columns added by drift)."""
    oracle = column.oracle
    if column.is_key:
        source = "row" if first_key else "one"
        return CodeRecipe(source, as_number=oracle.base in ("NUMBER", "FLOAT", "BINARY_DOUBLE"))
    if oracle.base == "CHAR":
        return pool(
            lambda r, c: messy.char_pool(
                r, length=c.length, nullable=c.nullable, required=c.must_have
            )
        )
    if oracle.base in ("VARCHAR2", "NVARCHAR2"):
        return _choice(("A", "B", "c", None)) if column.length < 4 else _text()
    if oracle.base == "CLOB":
        return pool(lambda r, c: messy.clob_pool(r))
    if oracle.base == "RAW":
        return pool(lambda r, c: messy.raw_pool(r, length=c.length))
    if oracle.base in ("DATE", "TIMESTAMP"):
        return _date()
    if oracle.value_type.value == "integer":
        return _integer(0, min(10 ** (oracle.precision or 5) - 1, 99_999))
    return _number(0, 10_000)


def columns_of(spec: EntitySpec) -> list[ColumnInfo]:
    """The served columns of a catalog entity (ROWVERSION excluded), in catalog order.

    NOT NULL: key columns and required columns without a default. Everything else is
    nullable, which is what lets the defaults of normalization.md apply.
    """
    infos = []
    for f in spec.fields:
        must_have = spec.is_required(f) and f.default is None
        infos.append(
            ColumnInfo(
                name=f.source,
                oracle=parse_oracle_type(f.oracle_type),
                nullable=not must_have,
                must_have=must_have,
                is_key=f.target in spec.key,
            )
        )
    return infos


def recipe_for(entity: str, column: ColumnInfo, first_key: bool) -> Recipe:
    """The standard recipe of a column, else the generic one for its type."""
    standard = STANDARD_RECIPES.get(entity, {}).get(column.name)
    return standard if standard is not None else generic_recipe(column, first_key)


def layout_for(entity: str) -> Layout:
    """The layout of an entity (``self_layout`` unless the model has a special one)."""
    return STANDARD_LAYOUTS.get(entity, self_layout)
