"""A batch of ScheduleHub operations, applied one by one in order, written in bulk.

Each operation gets the answer the single-record endpoint would give. The rows a batch
touches are read in a few bulk queries first (targets of updates and deletes, the uids of
duplicates, the parents referred to); the operations then run in order against that
snapshot plus the batch's own changes, so that "delete X, insert X again" or "insert K,
insert K" answer as they would one request at a time; finally the net effect is written
with one ``executemany`` per kind, in one transaction, and the in-memory maps follow.

Order of checks (the contract is silent): insert: 422, 409 duplicate, 404
parent_not_found. Update: 422, 404 not_found, 422 when ``erp_key_hash`` would change,
404 parent_not_found. Delete: 404 not_found, 409 has_children.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection

from syncflow_core.emulators.schedulehub_schema import Checked, RecordSchema, Refused
from syncflow_core.emulators.schedulehub_store import HubStore, Row
from syncflow_core.emulators.schedulehub_uid import id_of

INSERT, UPDATE, DELETE = "insert", "update", "delete"


@dataclass(frozen=True, slots=True)
class Operation:
    """``{"op": kind, "uid": ..., "data": ...}`` with ``data`` as raw JSON bytes."""

    kind: str
    uid: str | None = None
    data: bytes | None = None


@dataclass(slots=True)
class Outcome:
    """The answer to one operation."""

    status: int
    uid: str | None = None
    error: str | None = None
    detail: str | None = None
    field: str | None = None
    row: Row | None = None  # the record after the write, for single-record bodies

    def result(self) -> dict[str, Any]:
        """``results[i]`` of the batch endpoint."""
        body: dict[str, Any] = {"status": self.status}
        if self.uid is not None:
            body["uid"] = self.uid
        if self.error is not None:
            body["error"] = self.error
        if self.field is not None:
            body["field"] = self.field
        if self.detail is not None:
            body["detail"] = self.detail
        return body

    def body(self) -> dict[str, Any] | None:
        """The single-record endpoint's body (``None`` for 204)."""
        if self.status == 204:
            return None
        if self.row is not None:
            return self.row.record()
        return {k: v for k, v in self.result().items() if k != "status"}


def refused(check: Refused) -> Outcome:
    return Outcome(422, error="validation", detail=check.problem, field=check.field)


NOT_FOUND = Outcome(404, error="not_found")


class BatchRun:
    """One batch against one entity: prefetch, run in order, then write."""

    def __init__(
        self,
        store: HubStore,
        schema: RecordSchema,
        ops: Sequence[Operation],
        *,
        now: str,
        new_uids: Callable[[int], list[tuple[int, str]]],
    ) -> None:
        self.store, self.schema, self.ops, self.now = store, schema, ops, now
        self.entity = schema.spec.name
        self.checks = self._validate()
        valid_inserts = sum(
            isinstance(self.checks.get(i), Checked) for i, op in enumerate(ops) if op.kind == INSERT
        )
        self._fresh = iter(new_uids(valid_inserts))
        self.rows: dict[int, Row | None] = {}
        self.keys: dict[str, int | None] = {}
        self.duplicate_uids: dict[int, str] = {}
        self.parents_found: dict[str, set[str]] = {}
        self.child_delta: dict[str, Counter[int]] = {}
        self.inserted: dict[int, Row] = {}
        self.updated: set[int] = set()
        self.deleted: set[int] = set()

    def run(self) -> list[Outcome]:
        """Apply every operation in order; write and commit; update the maps."""
        with self.store.transaction() as conn:
            self._prefetch(conn)
            outcomes = [self._step(i, op) for i, op in enumerate(self.ops)]
            self.store.write(
                conn,
                self.entity,
                deleted=sorted(self.deleted),
                updated=[r for i in sorted(self.updated) if (r := self.rows[i]) is not None],
                inserted=list(self.inserted.values()),
            )
        self._commit_maps()
        return outcomes

    # --- before ----------------------------------------------------------------------------

    def _validate(self) -> dict[int, Checked | Refused]:
        checks: dict[int, Checked | Refused] = {}
        for kind, check in (
            (INSERT, self.schema.check_inserts),
            (UPDATE, self.schema.check_patches),
        ):
            positions = [
                i for i, op in enumerate(self.ops) if op.kind == kind and op.data is not None
            ]
            results = check([self.ops[i].data or b"" for i in positions])
            checks.update(zip(positions, results, strict=True))
        return checks

    def _prefetch(self, conn: Connection) -> None:
        targets = {i for op in self.ops if op.kind != INSERT and op.uid and (i := id_of(op.uid))}
        for row_id, row in self.store.fetch(conn, self.entity, targets).items():
            self.rows[row_id] = row
        known = self.store.keys[self.entity]
        valid = [c for c in self.checks.values() if isinstance(c, Checked)]
        dup_ids = {known[c.key_hash] for c in valid if c.key_hash in known}
        self.duplicate_uids = self.store.uids(conn, self.entity, dup_ids) if dup_ids else {}
        self._prefetch_parents(conn, valid)

    def _prefetch_parents(self, conn: Connection, valid: list[Checked]) -> None:
        for uid_field, parent in self.store.tables[self.entity].parents:
            wanted = {u for c in valid if (u := c.parents.get(uid_field))}
            ids = {i for u in wanted if (i := id_of(u))}
            found = set(self.store.uids(conn, parent, ids).values()) if ids else set()
            self.parents_found.setdefault(parent, set()).update(found)

    # --- in order --------------------------------------------------------------------------

    def _step(self, position: int, op: Operation) -> Outcome:
        if op.kind == INSERT:
            return self._insert(self.checks.get(position))
        row = self._current(op.uid)
        if op.kind == UPDATE:
            return self._update(self.checks.get(position), row)
        return self._delete(row)

    def _current(self, uid: str | None) -> Row | None:
        row_id = id_of(uid) if uid else None
        row = self.rows.get(row_id) if row_id is not None else None
        return row if row is not None and row.uid == uid.lower() else None  # type: ignore[union-attr]

    def _insert(self, check: Checked | Refused | None) -> Outcome:
        if not isinstance(check, Checked):
            return refused(check or Refused("data must be a JSON object", "data"))
        key = check.key_hash or ""
        existing = self.keys[key] if key in self.keys else self.store.keys[self.entity].get(key)
        if existing is not None:
            return Outcome(409, uid=self._uid_of(existing), error="duplicate")
        missing = self._missing_parent(check.parents)
        if missing:
            return Outcome(404, error="parent_not_found", field=missing)
        row_id, uid = next(self._fresh)
        row = Row(
            row_id,
            uid,
            key,
            check.data_hash or "",
            check.rowversion or "",
            self.now,
            self.now,
            check.raw.decode(),
            dict(check.parents),
        )
        self.rows[row_id] = self.inserted[row_id] = row
        self.keys[key] = row_id
        self._count_parents(row.parents, +1)
        return Outcome(201, uid=uid, row=row)

    def _update(self, check: Checked | Refused | None, row: Row | None) -> Outcome:
        if not isinstance(check, Checked):
            return refused(check or Refused("data must be a JSON object", "data"))
        if row is None:
            return NOT_FOUND
        if check.key_hash is not None and check.key_hash != row.key_hash:
            return Outcome(
                422,
                error="validation",
                detail="erp_key_hash cannot change: it names the record",
                field="erp_key_hash",
            )
        missing = self._missing_parent(check.parents)
        if missing:
            return Outcome(404, error="parent_not_found", field=missing)
        data = orjson.loads(row.data)
        data.update(orjson.loads(check.raw))
        new = dataclasses.replace(
            row,
            data_hash=check.data_hash or row.data_hash,
            rowversion=check.rowversion or row.rowversion,
            updated=self.now,
            data=orjson.dumps(data).decode(),
            parents={**row.parents, **check.parents},
        )
        self._count_parents(row.parents, -1)
        self._count_parents(new.parents, +1)
        self._replace(new)
        return Outcome(200, uid=row.uid, row=new)

    def _delete(self, row: Row | None) -> Outcome:
        if row is None:
            return NOT_FOUND
        if self.store.children[self.entity][row.id] > 0:
            return Outcome(409, uid=row.uid, error="has_children")
        self.rows[row.id] = None
        self.keys[row.key_hash] = None
        self._count_parents(row.parents, -1)
        if self.inserted.pop(row.id, None) is None:
            self.deleted.add(row.id)
            self.updated.discard(row.id)
        return Outcome(204, uid=row.uid)

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
        for uid_field, parent in self.store.tables[self.entity].parents:
            uid = parents.get(uid_field)
            if uid is not None and uid not in self.parents_found.get(parent, ()):
                return uid_field
        return None

    def _count_parents(self, parents: dict[str, str | None], step: int) -> None:
        for uid_field, parent in self.store.tables[self.entity].parents:
            uid = parents.get(uid_field)
            parent_id = id_of(uid) if uid else None
            if parent_id is not None:
                self.child_delta.setdefault(parent, Counter())[parent_id] += step

    def _commit_maps(self) -> None:
        known = self.store.keys[self.entity]
        for key, row_id in self.keys.items():
            if row_id is None:
                known.pop(key, None)
            else:
                known[key] = row_id
        for parent, delta in self.child_delta.items():
            counts = self.store.children[parent]
            counts.update(delta)
            for parent_id in [p for p, n in delta.items() if counts[p] <= 0]:
                del counts[parent_id]
