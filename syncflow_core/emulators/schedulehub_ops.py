"""A batch of ScheduleHub operations, applied one by one in order, written in bulk.

Batches of one kind whose operations cannot affect each other (new inserts, full-record
updates, childless deletes) take the column-wise paths of ``schedulehub_bulk``; every
other batch takes the in-order path below, which gives the same answers.

Each operation gets the answer the single-record endpoint would give. What a batch
touches is looked up first, a batch at a time: the targets of updates and deletes in one
query, the uids of duplicates and the parents referred to in memory (``LiveIds``); the
operations then run in order against that snapshot plus the batch's own changes, so
that "delete X, insert X again" or "insert K, insert K" answer as they would one request
at a time; finally the net effect is written with one ``executemany`` per kind, in one
transaction, and the in-memory maps follow.

Order of checks (the contract is silent): insert: 422, 409 duplicate, 404
parent_not_found. Update: 422, 404 not_found, 422 when ``erp_key_hash`` would change,
404 parent_not_found. Delete: 404 not_found, 409 has_children.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import repeat
from operator import attrgetter
from typing import ClassVar

import msgspec
import orjson
from sqlalchemy import Connection

from syncflow_core.emulators.schedulehub_answers import Result, error, refused
from syncflow_core.emulators.schedulehub_bulk import bulk
from syncflow_core.emulators.schedulehub_schema import Check, RecordSchema, Refused
from syncflow_core.emulators.schedulehub_store import HubStore, Row
from syncflow_core.emulators.schedulehub_uid import FreshUids, id_of, low_of

INSERT, UPDATE, DELETE = "insert", "update", "delete"


class Operation(msgspec.Struct, tag_field="op", forbid_unknown_fields=True, gc=False):
    """``{"op": kind, "uid": ..., "data": ...}``: one of :class:`InsertOp`, :class:`UpdateOp`,
    :class:`DeleteOp`; ``data`` is the record's JSON exactly as received (a view into the
    request body, no copy), ``uid`` None for an insert, ``data`` empty for a delete.

    The batch endpoint decodes its body straight into these: the shapes of the contract
    (insert: data, no uid; update: uid and data; delete: uid, no data) are checked by
    msgspec in the same C pass, so a malformed operation never reaches Python.
    """

    op: ClassVar[str]

    @classmethod
    def of(cls, op: str, uid: str | None = None, data: bytes | None = None) -> AnyOperation:
        """The operation of a single-record request (its body as ``data``)."""
        raw = msgspec.Raw(data) if data is not None else msgspec.Raw()
        if op == INSERT:
            return InsertOp(raw)
        if op == UPDATE:
            return UpdateOp(uid or "", raw)
        return DeleteOp(uid or "")


class InsertOp(Operation, tag=INSERT):
    op: ClassVar[str] = INSERT
    uid: ClassVar[None] = None
    data: msgspec.Raw


class UpdateOp(Operation, tag=UPDATE):
    op: ClassVar[str] = UPDATE
    uid: str
    data: msgspec.Raw


class DeleteOp(Operation, tag=DELETE):
    op: ClassVar[str] = DELETE
    uid: str
    data: ClassVar[msgspec.Raw] = msgspec.Raw()


AnyOperation = InsertOp | UpdateOp | DeleteOp  # what a batch's ``operations`` may hold


_NO_PARENTS: dict[str, str | None] = {}  # shared by parentless rows, never changed


def valid_inserts(ops: Sequence[AnyOperation], checks: Sequence[Check]) -> int:
    """How many inserts passed validation: the uids a batch may need."""
    if kinds(ops) == {INSERT}:
        return len(checks) - sum(map(isinstance, checks, repeat(Refused)))
    return sum(
        c.__class__ is not Refused for c, op in zip(checks, ops, strict=True) if op.op == INSERT
    )


def kinds(ops: Sequence[AnyOperation]) -> set[str]:
    """The kinds of operation in a batch."""
    return set(map(_KIND, ops))


def validate(schema: RecordSchema, ops: Sequence[AnyOperation]) -> list[Check]:
    """The check of each operation's data, by position (``None`` for deletes).

    Needs no stored state, so it runs outside the store's lock: one batch is validated
    while another one is being written (SQLite releases the GIL while it steps).
    """
    present = kinds(ops)
    if present == {INSERT}:  # what a load sends: the whole batch in one pass
        return schema.check_inserts(list(map(_DATA, ops)))
    if present == {UPDATE}:  # what a sync of changes sends
        return schema.check_patches(list(map(_DATA, ops)))
    checks: list[Check] = [None] * len(ops)
    for kind, check in ((INSERT, schema.check_inserts), (UPDATE, schema.check_patches)):
        positions = [i for i, op in enumerate(ops) if op.op == kind]
        for i, result in zip(positions, check([ops[i].data for i in positions]), strict=True):
            checks[i] = result
    return checks


_KIND = attrgetter("op")
_DATA = attrgetter("data")


class BatchRun:
    """One batch against one entity: prefetch, run in order, then write."""

    def __init__(
        self,
        store: HubStore,
        schema: RecordSchema,
        ops: Sequence[AnyOperation],
        checks: Sequence[Check],
        *,
        now: int,
        fresh: FreshUids,
        bulk: bool = True,
    ) -> None:
        self.store, self.schema, self.ops, self.now = store, schema, ops, now
        self.fresh, self.bulk = fresh, bulk
        self.entity = schema.spec.name
        self.parent_refs = store.tables[self.entity].parents
        self.checks = checks
        self._fresh = zip(fresh.ids, fresh.uids, strict=True)  # one per valid insert
        self.known = store.keys[self.entity]  # erp_key_hash -> id, as committed
        self.rows: dict[int, Row | None] = {}
        self.target_ids: dict[str, int] = {}  # uid -> id of the updates' and deletes' targets
        self.keys: dict[str, int | None] = {}  # erp_key_hash -> id (None: deleted) by this batch
        # (keys, ids, lows) of a column-wise insert
        self.new_rows: tuple[list[str], Sequence[int], Sequence[int]] = ([], [], [])
        self.duplicate_uids: dict[int, str] = {}
        self.parents_found: dict[str, set[str]] = {}
        self.child_delta: dict[str, Counter[int]] = {}
        self.children_added: dict[str, list[int]] = {}  # parent ids, once per new child
        self.inserted: dict[int, Row] = {}
        self.updated: set[int] = set()
        self.deleted: set[int] = set()

    def run(self) -> list[Result]:
        """Apply every operation in order; write and commit; update the maps."""
        with self.store.transaction() as conn:
            results = bulk(self, conn) if self.bulk else None
            if results is None:
                results = self._in_order(conn)
        self._commit_maps()  # only once the transaction is committed
        return results

    def _in_order(self, conn: Connection) -> list[Result]:
        self._prefetch(conn)
        insert, checks = self._insert, self.checks
        results = [
            insert(op, checks[i]) if op.op == INSERT else self._step(i, op)
            for i, op in enumerate(self.ops)
        ]
        self.store.write(
            conn,
            self.entity,
            deleted=sorted(self.deleted),
            updated=[r for i in sorted(self.updated) if (r := self.rows[i]) is not None],
            inserted=list(self.inserted.values()),
        )
        return results

    def record(self, uid: str) -> Row | None:
        """The row of ``uid`` as this batch left it (for single-record answers)."""
        row_id = id_of(uid)
        return self.rows.get(row_id) if row_id is not None else None

    # --- before ----------------------------------------------------------------------------

    def _prefetch(self, conn: Connection) -> None:
        self.target_ids = {
            uid: i for op in self.ops if op.op != INSERT and (uid := op.uid) and (i := id_of(uid))
        }
        if self.target_ids:
            self.rows.update(self.store.fetch(conn, self.entity, set(self.target_ids.values())))
        known = self.store.keys[self.entity]
        valid = [c for c in self.checks if c is not None and c.__class__ is not Refused]
        dup_ids = {known[k] for c in valid if (k := c.erp_key_hash) in known}
        self.duplicate_uids = self.store.uids(self.entity, list(dup_ids)) if dup_ids else {}
        self._prefetch_parents(conn, valid)

    def _prefetch_parents(self, conn: Connection, valid: list[Check]) -> None:
        for uid_field, parent in self.parent_refs:
            wanted = {u for c in valid if (u := getattr(c, uid_field)).__class__ is str}
            ids = {i for u in wanted if (i := id_of(u))}
            found = set(self.store.uids(parent, list(ids)).values()) if ids else set()
            self.parents_found.setdefault(parent, set()).update(found)

    # --- in order --------------------------------------------------------------------------

    def _step(self, position: int, op: AnyOperation) -> Result:
        if op.op == INSERT:
            return self._insert(op, self.checks[position])
        row = self._current(op.uid)
        if op.op == UPDATE:
            return self._update(op, self.checks[position], row)
        return self._delete(row)

    def _current(self, uid: str | None) -> Row | None:
        row_id = self.target_ids.get(uid) if uid else None
        row = self.rows.get(row_id) if row_id is not None else None
        return row if row is not None and row.uid == uid.lower() else None  # type: ignore[union-attr]

    def _insert(self, op: AnyOperation, check: Check) -> Result:
        # Lean: a batch with a duplicate (a retried load) comes here for every row.
        if check.__class__ is Refused:
            return refused(check)
        key = check.erp_key_hash
        existing = self.keys[key] if key in self.keys else self.known.get(key)
        if existing is not None:
            return error(409, "duplicate", uid=self._uid_of(existing))
        parents = self._parents_of(check) if self.parent_refs else _NO_PARENTS
        if parents:
            missing = self._missing_parent(parents)
            if missing:
                return error(404, "parent_not_found", field=missing)
        row_id, uid = next(self._fresh)
        row = Row(
            row_id,
            uid,
            key,
            check.erp_data_hash,
            check.erp_rowversion,
            self.now,
            self.now,
            bytes(op.data),
            parents,
        )
        self.rows[row_id] = self.inserted[row_id] = row
        self.keys[key] = row_id
        if parents:
            self._count_parents(parents, +1)
        return {"status": 201, "uid": uid}

    def _update(self, op: AnyOperation, check: Check, row: Row | None) -> Result:
        if check.__class__ is Refused:
            return refused(check)
        if row is None:
            return error(404, "not_found")
        unset = msgspec.UNSET
        if check.erp_key_hash is not unset and check.erp_key_hash != row.key_hash:
            detail = "erp_key_hash cannot change: it names the record"
            return error(422, "validation", detail=detail, field="erp_key_hash")
        parents = self._parents_of(check)
        missing = self._missing_parent(parents)
        if missing:
            return error(404, "parent_not_found", field=missing)
        data = orjson.loads(row.data)
        data.update(orjson.loads(bytes(op.data)))
        new = Row(
            row.id,
            row.uid,
            row.key_hash,
            row.data_hash if check.erp_data_hash is unset else check.erp_data_hash,
            row.rowversion if check.erp_rowversion is unset else check.erp_rowversion,
            row.created,
            self.now,
            orjson.dumps(data),
            {**row.parents, **parents} if parents else row.parents,
        )
        if parents:
            self._count_parents(row.parents, -1)
            self._count_parents(new.parents, +1)
        self._replace(new)
        return {"status": 200, "uid": row.uid}

    def _parents_of(self, check: Check) -> dict[str, str | None]:
        """The parent uid fields the body has (all of them for an insert)."""
        unset = msgspec.UNSET
        return {f: value for f, _ in self.parent_refs if (value := getattr(check, f)) is not unset}

    def _delete(self, row: Row | None) -> Result:
        if row is None:
            return error(404, "not_found")
        if self.store.children[self.entity][row.id] > 0:
            return error(409, "has_children", uid=row.uid)
        self.rows[row.id] = None
        self.keys[row.key_hash] = None
        self._count_parents(row.parents, -1)
        if self.inserted.pop(row.id, None) is None:
            self.deleted.add(row.id)
            self.updated.discard(row.id)
        return {"status": 204, "uid": row.uid}

    # --- helpers ---------------------------------------------------------------------------

    def _replace(self, row: Row) -> None:
        self.rows[row.id] = row
        if row.id in self.inserted:
            self.inserted[row.id] = row
        else:
            self.updated.add(row.id)

    def _uid_of(self, row_id: int) -> str:
        row = self.rows.get(row_id)
        return row.uid if row is not None else self.duplicate_uids[row_id]

    def _missing_parent(self, parents: dict[str, str | None]) -> str | None:
        for uid_field, parent in self.parent_refs:
            uid = parents.get(uid_field)
            if uid is not None and uid not in self.parents_found.get(parent, ()):
                return uid_field
        return None

    def _count_parents(self, parents: dict[str, str | None], step: int) -> None:
        for uid_field, parent in self.parent_refs:
            uid = parents.get(uid_field)
            parent_id = id_of(uid) if uid else None
            if parent_id is not None:
                self.child_delta.setdefault(parent, Counter())[parent_id] += step

    def _commit_maps(self) -> None:
        known, live = self.store.keys[self.entity], self.store.live[self.entity]
        keys, ids, lows = self.new_rows
        known.update(zip(keys, ids, strict=True))
        live.add(ids, lows)
        if self.inserted:
            rows = sorted(self.inserted.values(), key=attrgetter("id"))
            live.add([r.id for r in rows], [low_of(r.uid) for r in rows])
        live.remove(sorted(self.deleted))
        known.update(self.keys)  # type: ignore[arg-type]  # the None ones go next
        if None in self.keys.values():  # keys deleted by this batch
            for key in [k for k, row_id in self.keys.items() if row_id is None]:
                del known[key]
        for parent, added in self.children_added.items():
            self.store.children[parent].update(added)  # counted in C, no Python loop
        for parent, delta in self.child_delta.items():
            counts = self.store.children[parent]
            counts.update(delta)
            for parent_id in [p for p, n in delta.items() if counts[p] <= 0]:
                del counts[parent_id]
