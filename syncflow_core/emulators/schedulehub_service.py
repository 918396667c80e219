"""The ScheduleHub emulator as a Python object: what the HTTP layer calls, and what
in-process tests use directly (stats, faults, reset, edits behind SyncFlow's back).

>>> import tempfile, os
>>> hub = ScheduleHubEmulator(ScheduleHubConfig(storage=os.path.join(tempfile.mkdtemp(), "h.db")))
>>> hub.count("items"), hub.stats()["entities"]["items"]["insert"]
(0, {'applied': 0, 'refused': {}})
>>> hub.close()
"""

from __future__ import annotations

import base64
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import repeat
from operator import contains
from typing import Any

import orjson
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from syncflow_core.catalog import EntitySpec, load_catalog
from syncflow_core.emulators.faults import FaultInjector, FaultSettings
from syncflow_core.emulators.schedulehub_answers import Result
from syncflow_core.emulators.schedulehub_ops import (
    AnyOperation,
    BatchRun,
    kinds,
    valid_inserts,
    validate,
)
from syncflow_core.emulators.schedulehub_schema import RecordSchema
from syncflow_core.emulators.schedulehub_store import HubStore, Row, now_us
from syncflow_core.emulators.schedulehub_uid import UidGenerator, id_of, is_uid
from syncflow_core.settings import DEV_SCHEDULEHUB_SECRET

MAX_BATCH = 1000
MAX_PAGE = 10_000
DEFAULT_PAGE = 1000
DEFAULT_STORAGE = "schedulehub_emulator.db"


class ScheduleHubFaults(FaultSettings):
    """Fault settings (env ``SYNCFLOW_SCHEDULEHUB_FAULT_<NAME>``), plus lost answers.

    ``lost_answer_rate``: share of writes (POST, PATCH, DELETE, batch) applied and then
    answered 503, as when a connection drops after the server committed.
    """

    model_config = SettingsConfigDict(env_prefix="SYNCFLOW_SCHEDULEHUB_FAULT_")

    lost_answer_rate: float = Field(default=0.0, ge=0, le=1)


class ScheduleHubConfig(BaseSettings):
    """Emulator configuration (env ``SYNCFLOW_SCHEDULEHUB_<FIELD>``).

    ``storage`` is a SQLite file path, or a SQLAlchemy URL (``postgresql+psycopg://...``).
    """

    model_config = SettingsConfigDict(
        env_prefix="SYNCFLOW_SCHEDULEHUB_", extra="ignore", arbitrary_types_allowed=True
    )

    storage: str = DEFAULT_STORAGE
    jwt_secret: SecretStr = SecretStr(DEV_SCHEDULEHUB_SECRET)
    catalog: dict[str, EntitySpec] = Field(default_factory=load_catalog)
    faults: ScheduleHubFaults = Field(default_factory=ScheduleHubFaults)


class UnknownEntityError(LookupError):
    """The entity is not in the catalog (HTTP 404)."""


class CursorError(ValueError):
    """An ``/index`` cursor this server did not give out (HTTP 422)."""


class ScheduleHubEmulator:
    """Records, writes, reads and the admin side, serialized by one lock."""

    def __init__(self, config: ScheduleHubConfig | None = None) -> None:
        self.config = config or ScheduleHubConfig()
        self.catalog = self.config.catalog
        self.schemas = {name: RecordSchema(spec) for name, spec in self.catalog.items()}
        self.store = HubStore(self.config.storage, self.catalog)
        self.faults: FaultInjector[ScheduleHubFaults] = FaultInjector(self.config.faults)
        self._uids = UidGenerator(self.store.max_id())
        self._lock = threading.Lock()
        self._stats = _Stats(self.catalog)

    def close(self) -> None:
        with self._lock:
            self.store.close()

    def schema(self, entity: str) -> RecordSchema:
        try:
            return self.schemas[entity]
        except KeyError:
            raise UnknownEntityError(entity) from None

    # --- the contract's operations ---------------------------------------------------------

    def apply(self, entity: str, ops: Sequence[AnyOperation]) -> list[Result]:
        """Apply operations in order; ``results[i]`` answers ``ops[i]`` as the batch does."""
        return self._run(entity, ops)[0]

    def apply_one(self, entity: str, op: AnyOperation) -> tuple[int, dict[str, Any] | None]:
        """A single-record write: the status and the body its endpoint answers."""
        results, run = self._run(entity, [op], bulk=False)  # the general path keeps rows
        result = results[0]
        status = result["status"]
        if status == 204:
            return status, None
        row = run.record(result["uid"]) if status in (200, 201) else None
        if row is not None:
            return status, row.record()
        return status, {k: v for k, v in result.items() if k != "status"}

    def _run(
        self, entity: str, ops: Sequence[AnyOperation], *, bulk: bool = True
    ) -> tuple[list[Result], BatchRun]:
        schema = self.schema(entity)
        # Outside the lock, while another batch is being written: nothing here reads the store.
        checks = validate(schema, ops)
        wanted = valid_inserts(ops, checks)
        with self._lock:
            fresh = self._uids.new(wanted)  # under the lock: committed in the order drawn
            run = BatchRun(self.store, schema, ops, checks, now=now_us(), fresh=fresh, bulk=bulk)
            results = run.run()
        self._stats.count_writes(entity, ops, results)
        return results, run

    def find(self, entity: str, key_hash: str) -> dict[str, Any] | None:
        """The record with this ``erp_key_hash``, or ``None``."""
        self.schema(entity)
        with self._lock:
            row_id = self.store.keys[entity].get(key_hash)
            if row_id is None:
                return None
            with self.store.transaction() as conn:
                row = self.store.fetch(conn, entity, [row_id]).get(row_id)
        return row.record() if row is not None else None

    def index(
        self, entity: str, cursor: str | None, limit: int = DEFAULT_PAGE
    ) -> tuple[list[dict[str, str]], str | None]:
        """One ``/index`` page and the cursor of the next (``None`` at the end)."""
        self.schema(entity)
        after = _read_cursor(entity, cursor) if cursor else 0
        with self._lock:
            rows = self.store.page(entity, after, limit + 1)
        items = [
            {"uid": u, "erp_key_hash": k, "erp_data_hash": d, "erp_rowversion": r}
            for _, u, k, d, r in rows[:limit]
        ]
        more = len(rows) > limit
        return items, (_make_cursor(entity, rows[limit - 1][0]) if more else None)

    # --- admin: outside the contract -------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Records per entity, writes per entity and op (applied, refused by error), faults."""
        with self._lock:
            counts = {name: self.store.count(name) for name in self.catalog}
        return self._stats.snapshot(counts)

    def note(self, event: str) -> None:
        """Count an event of the HTTP layer (``unauthorized``, ``rate_limited`` ...)."""
        self._stats.count(event)

    def set_faults(self, **changes: Any) -> ScheduleHubFaults:
        """Change fault settings at run time (``error_rate=0.2`` ...)."""
        return self.faults.update(**changes)

    def reset(self) -> None:
        """Delete every record and zero the counters (fault settings stay)."""
        with self._lock:
            self.store.delete_everything()
            self._stats.clear()

    def count(self, entity: str) -> int:
        self.schema(entity)
        with self._lock:
            return self.store.count(entity)

    def record(self, entity: str, uid: str) -> dict[str, Any] | None:
        """The record with this uid, or ``None``."""
        row = self._row(entity, uid)
        return row.record() if row is not None else None

    def remove(self, entity: str, uid: str) -> bool:
        """Delete a record behind SyncFlow's back (no has_children check)."""
        with self._lock:
            row = self._row_locked(entity, uid)
            if row is None:
                return False
            with self.store.transaction() as conn:
                self.store.write(conn, entity, deleted=[row.id])
            self.store.keys[entity].pop(row.key_hash, None)
            self.store.live[entity].remove([row.id])
            self._recount(entity, row, -1)
        return True

    def tamper(self, entity: str, uid: str, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        """Change fields of a record behind SyncFlow's back, without validation.

        ``erp_*`` and parent uid fields change their columns too; ``hub_updated_at`` moves.
        """
        for uid_field, _ in (
            self.store.tables[entity].parents if entity in self.store.tables else ()
        ):
            value = changes.get(uid_field)
            if value is not None and not is_uid(value):
                raise ValueError(f"{uid_field} must be a lowercase UUID v7 or null")
        with self._lock:
            row = self._row_locked(entity, uid)
            if row is None:
                return None
            data = {**orjson.loads(row.data), **changes}
            new = Row(
                row.id,
                row.uid,
                str(data.get("erp_key_hash", row.key_hash)),
                str(data.get("erp_data_hash", row.data_hash)),
                str(data.get("erp_rowversion", row.rowversion)),
                row.created,
                now_us(),
                orjson.dumps(data),
                {f: data.get(f, v) for f, v in row.parents.items()},
            )
            with self.store.transaction() as conn:
                self.store.write(conn, entity, updated=[new])
            keys = self.store.keys[entity]
            keys.pop(row.key_hash, None)
            keys[new.key_hash] = new.id
            self._recount(entity, row, -1)
            self._recount(entity, new, +1)
        return new.record()

    def _row(self, entity: str, uid: str) -> Row | None:
        with self._lock:
            return self._row_locked(entity, uid)

    def _row_locked(self, entity: str, uid: str) -> Row | None:
        self.schema(entity)
        row_id = id_of(uid)
        if row_id is None:
            return None
        with self.store.transaction() as conn:
            row = self.store.fetch(conn, entity, [row_id]).get(row_id)
        return row if row is not None and row.uid == uid.lower() else None

    def _recount(self, entity: str, row: Row, step: int) -> None:
        for uid_field, parent in self.store.tables[entity].parents:
            uid = row.parents.get(uid_field)
            parent_id = id_of(uid) if isinstance(uid, str) else None
            if parent_id is not None:
                counts = self.store.children[parent]
                counts[parent_id] += step
                if counts[parent_id] <= 0:
                    del counts[parent_id]


class _Stats:
    """Write counters per entity and op, fault counters; thread-safe."""

    def __init__(self, catalog: Mapping[str, EntitySpec]) -> None:
        self._lock = threading.Lock()
        self._entities = list(catalog)
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self.applied: Counter[tuple[str, str]] = Counter()
            self.refused: Counter[tuple[str, str, str]] = Counter()
            self.events: Counter[str] = Counter()

    def count_writes(self, entity: str, ops: Sequence[AnyOperation], results: list[Result]) -> None:
        done = kinds(ops)
        if len(done) == 1 and not any(map(contains, results, repeat("error"))):
            tally = Counter({(done.pop(), None): len(ops)})  # a load: one kind, all applied
        else:
            tally = Counter((op.op, r.get("error")) for op, r in zip(ops, results, strict=True))
        with self._lock:
            for (kind, error), n in tally.items():
                if error is None:
                    self.applied[entity, kind] += n
                else:
                    self.refused[entity, kind, error] += n

    def count(self, event: str) -> None:
        with self._lock:
            self.events[event] += 1

    def snapshot(self, records: Mapping[str, int]) -> dict[str, Any]:
        with self._lock:
            entities = {
                name: {"records": records[name]}
                | {
                    kind: {
                        "applied": self.applied[name, kind],
                        "refused": {
                            error: n
                            for (e, k, error), n in self.refused.items()
                            if (e, k) == (name, kind)
                        },
                    }
                    for kind in ("insert", "update", "delete")
                }
                for name in self._entities
            }
            return {"entities": entities, "events": dict(self.events)}


def _make_cursor(entity: str, after: int) -> str:
    return base64.urlsafe_b64encode(f"{entity}:{after}".encode()).decode().rstrip("=")


def _read_cursor(entity: str, cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        name, _, after = text.rpartition(":")
        if name != entity:
            raise ValueError(name)
        return int(after)
    except ValueError as exc:
        raise CursorError(f"cursor {cursor!r} was not given out for {entity!r}") from exc


__all__ = [
    "MAX_BATCH",
    "MAX_PAGE",
    "CursorError",
    "ScheduleHubConfig",
    "ScheduleHubEmulator",
    "ScheduleHubFaults",
    "UnknownEntityError",
]
