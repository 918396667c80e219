"""Dead-letter tooling over ``failed_records``: list, show, fix and retry, resolve by hand.

>>> with SyncEnv.from_settings(upgrade=False) as env:                     # doctest: +SKIP
...     records, summary = list_records(env, Selection(entity="items"))
...     outcomes = retry(env, Selection(ids=(17,)), fixes=[Fix.parse("WEIGHT_NET=1.00")])
...     [(o.id, o.outcome, o.detail) for o in outcomes]
[(17, 'synced', 'in ScheduleHub as 01a2…')]

A retry makes the chosen records due now (open again, dead ones too), after applying the
fixes, then re-drives them at once through :func:`syncflow_core.redrive.redrive_failed`
(only those ids), parents' entities first, and reads back what became of each: ``synced``
(its key is in the sync state), ``parked`` (waits for a parent in ``pending_children``),
``settled`` (resolved without a write: a newer row won), ``failed again`` (open, next try
scheduled; a data error waits for a person again, as before) or ``dead``. With ``later``
it stops at "due": the next re-drive takes them.

A failed delete (a reconciliation's, e.g. ``has_children``) is not retried here: the next
reconciliation tries it again. Resolving by hand closes open or dead records with a reason
(``failed_records.resolution``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import orjson
import polars as pl

from syncflow_core.catalog import EntitySpec
from syncflow_core.dlq_fixes import MAPPED, RAW, Fix, FixError
from syncflow_core.env import SyncEnv
from syncflow_core.lease import LeaseHeldError
from syncflow_core.normalize import ErrorType, prepare
from syncflow_core.normalize import stages as norm
from syncflow_core.normalize.columns import error_column
from syncflow_core.plan import plain
from syncflow_core.redrive import DATA_STAGES, redrive_failed
from syncflow_core.state.clock import naive_utc, utcnow

UNRESOLVED = ("open", "dead")
STATUSES = ("open", "dead", "resolved")
JSON_COLUMNS = ("raw_data", "normalized_data", "mapped_data")


class DlqError(ValueError):
    """A request that cannot be carried out: an unknown id, nothing selected, a bad fix."""


@dataclass(frozen=True)
class Selection:
    """Which records: by id, or by entity / error type / stage, among ``statuses``."""

    ids: tuple[int, ...] = ()
    entity: str | None = None
    error_type: str | None = None
    stage: str | None = None
    statuses: tuple[str, ...] = UNRESOLVED

    @property
    def empty(self) -> bool:
        """Nothing names any record: refused for retry and resolve (never "all by default")."""
        return not (self.ids or self.entity or self.error_type or self.stage)


def select(env: SyncEnv, selection: Selection, *, limit: int | None = None) -> pl.DataFrame:
    """The selected records (every column), in id order. Named ids must all exist."""
    found = env.store.failed.find(
        ids=selection.ids or None,
        entity=selection.entity,
        error_type=selection.error_type,
        stage_failed=selection.stage,
        status=None if selection.ids else list(selection.statuses),
        limit=limit,
    )
    missing = sorted(set(selection.ids) - set(found["id"].to_list()))
    if missing:
        raise DlqError(f"no failed record with id {', '.join(map(str, missing))}")
    return found


def list_records(
    env: SyncEnv, selection: Selection, *, limit: int | None = 50
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the selected records with a readable ``key`` column, counts per error type)."""
    records = select(env, selection, limit=limit)
    summary = env.store.failed.summary(entity=selection.entity, status=list(selection.statuses))
    if selection.error_type:
        summary = summary.filter(pl.col("error_type") == selection.error_type)
    if selection.stage:
        summary = summary.filter(pl.col("stage_failed") == selection.stage)
    return with_keys(env, records), summary


def with_keys(env: SyncEnv, records: pl.DataFrame) -> pl.DataFrame:
    """``records`` plus ``key``: the business key as the row had it (raw or mapped)."""
    if records.is_empty():
        return records.with_columns(key=pl.lit(None, pl.String))
    parts = []
    by_entity = records.partition_by("entity", as_dict=True, maintain_order=True)
    for (entity,), part in by_entity.items():
        parts.append(part.with_columns(key_expr(env.spec(str(entity))).alias("key")))
    return pl.concat(parts).sort("id")


def key_expr(spec: EntitySpec) -> pl.Expr:
    """The key from ``raw_data`` (source columns, whitespace trimmed: ``show`` has the raw
    text), else from ``mapped_data`` (target fields), else the ScheduleHub uid."""

    def joined(column: str, names: Sequence[str]) -> pl.Expr:
        values = [
            pl.col(column).str.json_path_match(f"$.{n}").str.strip_chars().fill_null("∅")
            for n in names
        ]
        return pl.when(pl.col(column).is_not_null()).then(pl.concat_str(values, separator=" / "))

    return pl.coalesce(
        joined(RAW, spec.key_source_columns),
        joined(MAPPED, spec.key_fields),
        pl.format("uid {}", pl.col("uid")),  # a failed delete: only its uid is known
    )


# --- show ----------------------------------------------------------------------------------


def describe(env: SyncEnv, record_id: int) -> dict[str, Any]:
    """Every column of one record, the JSON columns parsed, and for a data error the raw
    row normalized field by field with today's catalog (``normalized``)."""
    record = env.store.failed.get(record_id)
    if record is None:
        raise DlqError(f"no failed record with id {record_id}")
    out: dict[str, Any] = {k: plain(v) for k, v in record.items()}
    for column in JSON_COLUMNS:
        if out.get(column) is not None:
            out[column] = orjson.loads(out[column])
    out["kind"] = kind_of(record)
    spec = env.spec(record["entity"])
    raw = out.get(RAW)
    out["normalized"] = normalized_fields(spec, raw) if isinstance(raw, dict) else None
    return out


def kind_of(record: dict[str, Any]) -> str:
    """``data`` (re-prepared from raw_data) or ``sent`` (re-sent from mapped_data)."""
    return "data" if record["stage_failed"] in DATA_STAGES else "sent"


def normalized_fields(spec: EntitySpec, raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Each field of ``raw`` through normalization now: source, raw, target, value, error."""
    staged = norm.normalize(spec, [raw])
    work = staged.work.row(0, named=True)
    fields = []
    for i, plan in enumerate(staged.plans):
        code = work[error_column(i)]
        source, target = plan.spec.source, plan.spec.target
        fields.append(
            {
                "source": source,
                "raw": raw.get(source),
                "target": target,
                "value": None if code else plain(work[target]),
                "error": ErrorType.from_code(code).value if code else None,
            }
        )
    return fields


# --- retry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryOutcome:
    """What became of one retried record."""

    id: int
    entity: str
    outcome: str  # synced, parked, settled, failed again, dead, due
    status: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def retry(
    env: SyncEnv,
    selection: Selection,
    *,
    fixes: Sequence[Fix] = (),
    later: bool = False,
    now: dt.datetime | None = None,
) -> list[RetryOutcome]:
    """Fix (optionally) the selected records, make them due now, and re-drive them."""
    if selection.empty:
        raise DlqError("name record ids or a filter (entity, error type, stage)")
    now = now or utcnow()
    records = select(env, selection)
    resolved = records.filter(pl.col("status") == "resolved")["id"].to_list()
    if resolved:
        raise DlqError(f"record(s) {', '.join(map(str, resolved))} are resolved already")
    _refuse_deletes(records)
    if records.is_empty():
        return []
    fixed = _fixed(env, records, fixes)
    ids = records["id"].to_list()
    with env.store.transaction() as conn:
        for record_id, column, text in fixed:
            env.store.failed.replace_data(record_id, now=now, conn=conn, **{column: text})
        env.store.failed.make_due(ids, now=now, conn=conn)
    busy: set[str] = set()
    if not later:
        wanted = set(records["entity"].to_list())
        for entity in [e for e in env.parents_first() if e in wanted]:
            try:
                redrive_failed(env, entity, now=now, ids=ids)
            except LeaseHeldError:
                busy.add(entity)
    keys = _key_hashes(env, records, fixed)
    return _outcomes(env, ids, keys, due_at=naive_utc(now), busy=busy)


def _refuse_deletes(records: pl.DataFrame) -> None:
    """A failed delete is not re-driven as a record: the next reconciliation tries it again
    (its key is still in the state, and gone from the ERP)."""
    deletes = records.filter(pl.col("op") == "delete")
    if deletes.height:
        ids = ", ".join(map(str, deletes["id"].to_list()))
        entities = ", ".join(sorted(set(deletes["entity"].to_list())))
        raise DlqError(
            f"record(s) {ids} are failed deletes: the next reconciliation of {entities} "
            "tries them again (or resolve them with a reason)"
        )


def _fixed(env: SyncEnv, records: pl.DataFrame, fixes: Sequence[Fix]) -> list[tuple[int, str, str]]:
    """(id, column, new JSON text) per record, every fix checked before anything is written."""
    if not fixes:
        return []
    out = []
    for record in records.iter_rows(named=True):  # a person's selection, not a batch
        spec = env.spec(record["entity"])
        column = RAW if kind_of(record) == "data" else MAPPED
        text = record[column]
        try:
            for fix in fixes:
                text = fix.apply(spec, column, text)
        except FixError as exc:
            raise DlqError(f"record {record['id']}: {exc}") from None
        out.append((record["id"], column, text))
    return out


def _key_hashes(
    env: SyncEnv, records: pl.DataFrame, fixed: list[tuple[int, str, str]]
) -> dict[int, str | None]:
    """Each record's key hash as it goes now (a fix to a key column changes it)."""
    keys: dict[int, str | None] = dict(records.select("id", "erp_key_hash").iter_rows())
    raw_fixes = {record_id: text for record_id, column, text in fixed if column == RAW}
    for (entity,), part in records.partition_by("entity", as_dict=True).items():
        data = part.filter(pl.col("stage_failed").is_in(DATA_STAGES))
        if data.is_empty():
            continue
        texts = [raw_fixes.get(i, t) or "{}" for i, t in data.select("id", RAW).iter_rows()]
        prepared = prepare(env.spec(str(entity)), [orjson.loads(t) for t in texts], keep_row=True)
        ids = data["id"]
        for row, key in prepared.records.select(norm.ROW, "erp_key_hash").iter_rows():
            keys[ids[row]] = key
    return keys


def _outcomes(
    env: SyncEnv,
    ids: list[int],
    keys: dict[int, str | None],
    *,
    due_at: dt.datetime,
    busy: set[str],
) -> list[RetryOutcome]:
    after = env.store.failed.find(ids=ids)
    retried = pl.col("next_retry_at").is_not_null() & (pl.col("next_retry_at") != due_at)
    # A data error that fails again fails the same way every time: it waits for a person
    # again (as it did before) instead of going through the automatic retries to "dead".
    again = after.filter(
        (pl.col("status") == "open") & pl.col("stage_failed").is_in(DATA_STAGES) & retried
    )["id"]
    if again.len():
        env.store.failed.hold(again)
        after = env.store.failed.find(ids=ids)
    out = []
    for record in after.iter_rows(named=True):
        entity, status = record["entity"], record["status"]
        if status == "open" and record["next_retry_at"] == due_at:  # not re-driven (yet)
            why = "a re-drive of it runs elsewhere now" if entity in busy else "the next re-drive"
            detail = f"due now: {why} takes it"
            out.append(RetryOutcome(record["id"], entity, "due", status, detail))
            continue
        if status == "resolved":
            outcome, detail = _where_now(env, entity, keys.get(record["id"]))
        else:
            outcome = "dead" if status == "dead" else "failed again"
            detail = f"{record['error_type']}: {record['error_message']}"
            if status == "open" and record["next_retry_at"] is not None:
                detail += f" (next try {record['next_retry_at']:%Y-%m-%d %H:%M:%S})"
            elif status == "open":
                detail += " (waits for a person)"
        out.append(RetryOutcome(record["id"], entity, outcome, status, detail))
    return out


def _where_now(env: SyncEnv, entity: str, key: str | None) -> tuple[str, str]:
    """Where a resolved record's row is: ScheduleHub (the state), or parked."""
    if key is None:
        return "settled", "resolved without a write"
    parked = env.store.pending.find(entity=entity).filter(pl.col("erp_key_hash") == key)
    if parked.height:
        return "parked", f"waits for its parent in {parked['parent_entity'][0]}"
    state = env.store.load_sync_state_for_keys(entity, [key])
    if state.height:
        return "synced", f"in ScheduleHub as {state['uid'][0]}"
    return "settled", "resolved without a write (a newer row of the key won)"


# --- resolve by hand -----------------------------------------------------------------------


def resolve(
    env: SyncEnv, selection: Selection, reason: str, *, now: dt.datetime | None = None
) -> list[int]:
    """Close the selected open or dead records as resolved by a person; their ids."""
    if selection.empty:
        raise DlqError("name record ids or a filter (entity, error type, stage)")
    if not reason.strip():
        raise DlqError("say why: a reason is required")
    records = select(env, selection)
    done = records.filter(pl.col("status") == "resolved")["id"].to_list()
    if done:
        raise DlqError(f"record(s) {', '.join(map(str, done))} are resolved already")
    ids = records["id"].to_list()
    if ids:
        env.store.failed.resolve_by_hand(ids, reason, now=now)
    return ids
