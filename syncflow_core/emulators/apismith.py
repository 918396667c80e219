"""The APISmith emulator: contracts/apismith.md over HTTP, plus controls for tests.

>>> app = create_app(ApiSmithConfig(sizes={"items": 10}))
>>> app.emulator.entities()
['items', 'work_centers', 'orders', 'order_lines']
>>> app.emulator.activity("items", change=2, add=1)["added"]
1

Contract endpoints (JWT HS256, ``aud`` = ``apismith``, on every call):
``GET /api/v1/runtime/entities``, ``GET /api/v1/runtime/{entity}/schema``,
``GET /api/v1/runtime/{entity}/execute``. Faults (errors, 429, latency) apply to these
only, after the token check, so that a 401 test never meets an injected 500.

Controls outside the contract, under ``/_emulator/`` (same JWT: nothing on this server
answers an unauthenticated caller), each with a Python twin on
:class:`ApiSmithEmulator` for in-process tests:

| request | Python | does |
| --- | --- | --- |
| ``POST /_emulator/activity`` | ``activity(entity, ...)`` | ERP activity (see :class:`Activity`) |
| ``GET``/``PUT /_emulator/faults`` | ``faults`` / ``set_faults(...)`` | fault settings at runtime |
| ``POST /_emulator/drift`` | ``drift(entity, add=, drop=)`` | schema drift |
| ``POST /_emulator/rows`` | ``add_raw_rows(entity, rows)`` | rows of raw values (``RawRows``) |
| ``GET /_emulator/stats`` | ``stats()`` | requests, rows served, faults |
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import ValidationError

from syncflow_core.catalog import EntitySpec, load_catalog
from syncflow_core.emulators.apismith_config import (
    DEFAULT_SIZES,
    Activity,
    ApiSmithConfig,
    ApiSmithFaults,
    Drift,
    DriftColumn,
    RawRows,
)
from syncflow_core.emulators.apismith_query import BadParameterError, parse_execute
from syncflow_core.emulators.asgi import (
    EmulatorApp,
    Request,
    Response,
    TokenGate,
    error_response,
    json_response,
    unauthorized,
)
from syncflow_core.emulators.cursor import CursorCodec
from syncflow_core.emulators.erp import EmulatedErp, ErpOptions, from_us
from syncflow_core.emulators.faults import FaultInjector

AUDIENCE = "apismith"
RUNTIME = "/api/v1/runtime/"
__all__ = [
    "DEFAULT_SIZES",
    "Activity",
    "ApiSmithConfig",
    "ApiSmithEmulator",
    "ApiSmithFaults",
    "Drift",
    "DriftColumn",
    "RawRows",
    "create_app",
]


class ApiSmithEmulator:
    """The emulator's state and behaviour, callable from Python and through HTTP."""

    def __init__(self, config: ApiSmithConfig, catalog: Mapping[str, EntitySpec] | None = None):
        self.config = config
        self._secret = config.jwt_secret.get_secret_value()
        self.erp = EmulatedErp(catalog or load_catalog(config.catalog_path), _options(config))
        self.fault_injector = FaultInjector(config.faults)
        self._cursors = CursorCodec(self._secret.encode())
        self._gate = TokenGate(self._secret, audience=AUDIENCE)
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._rows: Counter[str] = Counter()
        self._pages: Counter[str] = Counter()

    # --- Python API ----------------------------------------------------------------------

    def entities(self) -> list[str]:
        """Entity names, in catalog order."""
        return list(self.erp.entities)

    def schema(self, entity: str) -> dict[str, object]:
        """The ``/schema`` answer of an entity (KeyError when unknown)."""
        return self.erp.entities[entity].schema()

    def activity(self, entity: str, **amounts: Any) -> dict[str, object]:
        """ERP activity (fields of :class:`Activity`); returns counts and ROWVERSION range."""
        order = Activity(entity=entity, **amounts)
        state = self.erp.entities[order.entity]
        live = state.table.live_rows
        done = self.erp.activity(
            order.entity,
            change=order.change + round(order.change_share * live),
            touch=order.touch + round(order.touch_share * live),
            delete=order.delete + round(order.delete_share * live),
            add=order.add + round(order.add_share * live),
            at=_naive_utc(order.at),
        )
        return {
            "entity": order.entity,
            "changed": done.changed,
            "touched": done.touched,
            "deleted": done.deleted,
            "added": done.added,
            "first_rowversion": _iso(done.first_rv),
            "last_rowversion": _iso(done.last_rv),
            "live_rows": state.table.live_rows,
        }

    @property
    def faults(self) -> ApiSmithFaults:
        """The fault settings in force."""
        return self.fault_injector.settings

    def set_faults(self, **changes: Any) -> ApiSmithFaults:
        """Change fault settings at runtime (validated)."""
        return self.fault_injector.update(**changes)

    def drift(
        self,
        entity: str,
        *,
        add: list[tuple[str, str | None]] | None = None,
        drop: list[str] | None = None,
    ) -> dict[str, object]:
        """Add (name, Oracle type) columns and drop columns; returns the new schema."""
        order = Drift(
            entity=entity,
            add=[DriftColumn(name=n, type=t) for n, t in add or []],
            drop=drop or [],
        )
        columns = [(c.name, c.type) for c in order.add]
        return self.erp.drift(order.entity, add=columns, drop=order.drop)

    def add_raw_rows(
        self, entity: str, rows: list[dict[str, str]], at: dt.datetime | None = None
    ) -> dict[str, object]:
        """Add rows with columns served verbatim (see :class:`RawRows`); returns the count
        and the ROWVERSION range."""
        order = RawRows(entity=entity, rows=rows, at=at)
        done = self.erp.add_raw_rows(order.entity, order.rows, at=_naive_utc(order.at))
        return {
            "entity": order.entity,
            "added": done.added,
            "first_rowversion": _iso(done.first_rv),
            "last_rowversion": _iso(done.last_rv),
        }

    def stats(self) -> dict[str, object]:
        """Requests by status, pages and rows served by entity, injected faults, live rows."""
        with self._lock:
            return {
                "requests": sum(self._requests.values()),
                "by_status": dict(self._requests),
                "pages": dict(self._pages),
                "rows_served": dict(self._rows),
                "faults": dict(self.fault_injector.injected),
                "scan_updates": self.erp.scan_updates,
                "live_rows": {n: s.table.live_rows for n, s in self.erp.entities.items()},
            }

    # --- HTTP ----------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        """Answer one request (the ASGI app's handler)."""
        response = await self._answer(request)
        with self._lock:
            self._requests[str(response.status)] += 1
        return response

    async def _answer(self, request: Request) -> Response:
        control = request.path.startswith("/_emulator/")
        ahead = 0.0 if control else self.faults.clock_ahead_seconds  # faults: contract only
        refused = self._gate.refusal(request.bearer_token(), clock_ahead=ahead)
        if refused is not None:
            return unauthorized(refused)
        if control:
            return self._control(request)
        if not request.path.startswith(RUNTIME):
            return error_response(404, "not found")
        if request.method != "GET":
            return error_response(405, "method not allowed")
        if self.fault_injector.latency_seconds:
            await asyncio.sleep(self.fault_injector.latency_seconds)
        fault = self.fault_injector.draw()
        if fault is not None:
            return error_response(fault.status, fault.detail, fault.headers)
        return self._runtime(request, request.path[len(RUNTIME) :].split("/"))

    def _runtime(self, request: Request, parts: list[str]) -> Response:
        if parts == ["entities"]:
            return json_response(200, {"entities": self.entities()})
        if len(parts) != 2 or parts[1] not in ("schema", "execute"):
            return error_response(404, "not found")
        entity, action = parts
        if entity not in self.erp.entities:
            return error_response(404, f"unknown entity {entity!r}")
        if action == "schema":
            return json_response(200, self.schema(entity))
        try:
            return self._execute(entity, request)
        except BadParameterError as exc:
            return error_response(400, str(exc))

    def _execute(self, entity: str, request: Request) -> Response:
        state = self.erp.entities[entity]
        query = parse_execute(
            entity,
            request.query(),
            served=[c.name for c in state.served],
            rowversion_column=state.spec.rowversion_column,
            cursors=self._cursors,
        )
        page = self.erp.page(
            entity,
            lo=query.lo,
            hi=query.hi,
            after=query.after,
            limit=query.limit,
            columns=query.columns,
            scan_update_share=self.faults.scan_update_share,
        )
        cursor = None
        if page.more and page.last is not None:
            cursor = self._cursors.encode(page.last, query=query.bounds_key)
        body = b"".join(
            (b'{"entity":', orjson.dumps(entity), b',"rows":[', page.rows_json,
             b'],"next_cursor":', orjson.dumps(cursor), b"}")
        )  # fmt: skip
        with self._lock:
            self._rows[entity] += page.rows
            self._pages[entity] += 1
        return Response(200, body)

    def _control(self, request: Request) -> Response:
        route = (request.method, request.path)
        try:
            if route == ("GET", "/_emulator/stats"):
                return json_response(200, self.stats())
            if route == ("GET", "/_emulator/faults"):
                return json_response(200, self.faults.model_dump())
            if route == ("PUT", "/_emulator/faults"):
                return json_response(200, self.set_faults(**_body(request)).model_dump())
            if route == ("POST", "/_emulator/activity"):
                return json_response(200, self.activity(**_body(request)))
            if route == ("POST", "/_emulator/rows"):
                return json_response(200, self.add_raw_rows(**_body(request)))
            if route == ("POST", "/_emulator/drift"):
                order = Drift.model_validate(_body(request))
                columns = [(c.name, c.type) for c in order.add]
                return json_response(
                    200, self.erp.drift(order.entity, add=columns, drop=order.drop)
                )
        except ValidationError as exc:
            return error_response(422, _first_problem(exc))
        except KeyError as exc:
            return error_response(404, str(exc.args[0]) if exc.args else "not found")
        except ValueError as exc:
            return error_response(400, str(exc))
        return error_response(404, "not found")


def create_app(config: ApiSmithConfig | None = None) -> EmulatorApp[ApiSmithEmulator]:
    """The ASGI app; ``app.emulator`` is the :class:`ApiSmithEmulator` behind it."""
    emulator = ApiSmithEmulator(config or ApiSmithConfig())
    return EmulatorApp(emulator.handle, emulator, on_shutdown=emulator.erp.close)


def _options(config: ApiSmithConfig) -> ErpOptions:
    return ErpOptions(
        sizes=config.sizes,
        seed=config.seed,
        start_day=config.start_day,
        days=config.days,
        failing_share=config.failing_share,
        late_parent_share=config.late_parent_share,
        future_parent_share=config.future_parent_share,
        chunk_rows=config.chunk_rows,
        cache_bytes=config.cache_mb * 1024 * 1024,
    )


def _body(request: Request) -> dict[str, Any]:
    try:
        payload = orjson.loads(request.body or b"{}")
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"request body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise ValueError("request body must be a JSON object")
    return payload


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def _naive_utc(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _iso(us: int | None) -> str | None:
    return None if us is None else from_us(us).isoformat(sep=" ", timespec="microseconds")
