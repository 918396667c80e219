"""The ScheduleHub emulator: an ASGI app that follows ``contracts/schedulehub.md``.

>>> import tempfile, os
>>> app = create_app(ScheduleHubConfig(storage=os.path.join(tempfile.mkdtemp(), "h.db")))
>>> emulator_of(app).count("items")
0

Run it with ``syncflow sandbox`` or any ASGI server (uvicorn with uvloop and httptools).
Every ``/api/v1`` request needs a JWT (HS256, ``aud`` = ``schedulehub``); so do the admin
endpoints below, which are not part of the contract:

- ``GET /_emulator/stats``: records per entity; writes per entity and op (applied, and
  refused by error); fault events.
- ``GET /_emulator/faults``, ``PUT /_emulator/faults`` (body: settings to change, e.g.
  ``{"error_rate": 0.1}``): the fault settings.
- ``POST /_emulator/reset``: delete every record, zero the counters.
- ``GET /_emulator/records/{entity}/{uid}``: a record by uid (404 when absent).
- ``PATCH /_emulator/records/{entity}/{uid}`` (body: fields): change fields behind
  SyncFlow's back, without validation.
- ``DELETE /_emulator/records/{entity}/{uid}``: delete behind SyncFlow's back, without
  the has_children check.

Faults (error, 429, latency) apply to every ``/api/v1`` request except ``/health``; lost
answers (applied, then 503) to the writes (POST, PATCH, DELETE, batch).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec
import orjson

from syncflow_core.emulators.asgi import (
    EmulatorApp,
    Request,
    Response,
    TokenGate,
    error_response,
    json_response,
    unauthorized,
)
from syncflow_core.emulators.schedulehub_ops import (
    DELETE,
    INSERT,
    UPDATE,
    AnyOperation,
    Operation,
)
from syncflow_core.emulators.schedulehub_service import (
    DEFAULT_PAGE,
    MAX_BATCH,
    MAX_PAGE,
    CursorError,
    ScheduleHubConfig,
    ScheduleHubEmulator,
    UnknownEntityError,
)

AUDIENCE = "schedulehub"
_KEY_HASH = re.compile(r"[0-9a-f]{32}")
_Work = Callable[[Request, list[str]], Response]  # (request, path parameters) -> response
_INJECTED = frozenset({"read", "write"})  # kinds of request that meet the faults

__all__ = ["ScheduleHubConfig", "ScheduleHubEmulator", "create_app", "emulator_of"]


def create_app(
    config: ScheduleHubConfig | None = None, *, emulator: ScheduleHubEmulator | None = None
) -> EmulatorApp[ScheduleHubEmulator]:
    """The ASGI app; ``app.emulator`` is its Python API. Owns the emulator it creates."""
    owned = emulator is None
    hub = emulator or ScheduleHubEmulator(config)
    api = _Api(hub)

    def shutdown() -> None:
        api.pool.shutdown(wait=True)
        if owned:
            hub.close()

    return EmulatorApp(api.handle, hub, on_shutdown=shutdown)


def emulator_of(app: EmulatorApp[ScheduleHubEmulator]) -> ScheduleHubEmulator:
    """The Python API of an app made by :func:`create_app` (``app.emulator``)."""
    return app.emulator


class _Batch(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    operations: list[AnyOperation]


_decode_batch = msgspec.json.Decoder(_Batch).decode


class _Api:
    """Routes, auth, faults; the work runs on worker threads so the event loop keeps serving."""

    def __init__(self, hub: ScheduleHubEmulator) -> None:
        self.hub = hub
        # Two threads: one request is parsed and validated while another holds the store.
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="schedulehub")
        self._gate = TokenGate(hub.config.jwt_secret.get_secret_value(), audience=AUDIENCE)
        self._routes: dict[tuple[str, str], tuple[_Work, str]] = {
            ("GET", "health"): (_health, "health"),
            ("GET", "{entity}"): (self._find, "read"),
            ("POST", "{entity}"): (self._insert, "write"),
            ("GET", "{entity}/index"): (self._index, "read"),
            ("POST", "{entity}/batch"): (self._batch, "write"),
            ("PATCH", "{entity}/{uid}"): (self._update, "write"),
            ("DELETE", "{entity}/{uid}"): (self._delete, "write"),
            ("GET", "_emulator/stats"): (self._stats, "admin"),
            ("GET", "_emulator/faults"): (self._faults, "admin"),
            ("PUT", "_emulator/faults"): (self._faults, "admin"),
            ("POST", "_emulator/reset"): (self._reset, "admin"),
            ("GET", "_emulator/records/{entity}/{uid}"): (self._admin_record, "admin"),
            ("PATCH", "_emulator/records/{entity}/{uid}"): (self._admin_record, "admin"),
            ("DELETE", "_emulator/records/{entity}/{uid}"): (self._admin_record, "admin"),
        }

    # --- the wrapper: latency, auth, faults, lost answers ----------------------------------

    async def handle(self, request: Request) -> Response:
        """Answer one request (the ASGI app's handler)."""
        route, params = _route(request.path)
        work, kind = self._routes.get((request.method, route), (None, ""))
        faults, count = self.hub.faults, self.hub.note
        injected = kind in _INJECTED
        if injected and faults.latency_seconds:
            # After the body arrived: a client that times out meanwhile has sent its
            # write, which is then applied, and its answer is lost.
            await asyncio.sleep(faults.latency_seconds)
        ahead = faults.settings.clock_ahead_seconds if injected else 0.0
        denied = self._gate.refusal(request.bearer_token(), clock_ahead=ahead)
        if denied is not None:
            count("unauthorized")
            return unauthorized(denied)
        if work is None:
            known = any(r == route for _, r in self._routes)
            return error_response(405, "method not allowed") if known else _not_found()
        fault = faults.draw() if injected else None
        if fault is not None:
            count("rate_limited" if fault.status == 429 else "injected_errors")
            return error_response(fault.status, fault.detail, fault.headers)
        loop = asyncio.get_running_loop()
        try:
            response = await loop.run_in_executor(self.pool, _guarded, work, request, params)
        except _HTTPProblemError as problem:
            return json_response(problem.status, problem.body)
        if kind == "write" and faults.chance(faults.settings.lost_answer_rate, "lost_answers"):
            count("lost_answers")
            return error_response(503, "injected fault: applied, answer lost")
        return response

    # --- the contract ----------------------------------------------------------------------

    def _insert(self, request: Request, params: list[str]) -> Response:
        return _single(self.hub.apply_one(params[0], Operation.of(INSERT, data=request.body)))

    def _update(self, request: Request, params: list[str]) -> Response:
        entity, uid = params
        return _single(self.hub.apply_one(entity, Operation.of(UPDATE, uid=uid, data=request.body)))

    def _delete(self, _request: Request, params: list[str]) -> Response:
        entity, uid = params
        return _single(self.hub.apply_one(entity, Operation.of(DELETE, uid=uid)))

    def _batch(self, request: Request, params: list[str]) -> Response:
        entity = params[0]
        self.hub.schema(entity)
        ops = _parse_batch(request.body)
        return Response(200, orjson.dumps({"results": self.hub.apply(entity, ops)}))

    def _find(self, request: Request, params: list[str]) -> Response:
        entity = params[0]
        self.hub.schema(entity)
        key_hash = request.param("erp_key_hash")
        if key_hash is None or _KEY_HASH.fullmatch(key_hash) is None:
            raise _HTTPProblemError(422, _validation("erp_key_hash must be 32 lowercase hex"))
        record = self.hub.find(entity, key_hash)
        return json_response(200, {"items": [record] if record is not None else []})

    def _index(self, request: Request, params: list[str]) -> Response:
        entity = params[0]
        self.hub.schema(entity)
        limit = _limit(request.param("limit"))
        try:
            items, cursor = self.hub.index(entity, request.param("cursor"), limit)
        except CursorError as exc:
            raise _HTTPProblemError(422, _validation(str(exc))) from None
        return json_response(200, {"items": items, "next_cursor": cursor})

    # --- admin -----------------------------------------------------------------------------

    def _stats(self, _request: Request, _params: list[str]) -> Response:
        return json_response(200, self.hub.stats())

    def _faults(self, request: Request, _params: list[str]) -> Response:
        if request.method == "PUT":
            try:
                self.hub.set_faults(**_object(request.body))
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                raise _HTTPProblemError(422, _validation(str(exc))) from None
        return json_response(200, self.hub.faults.settings.model_dump())

    def _reset(self, _request: Request, _params: list[str]) -> Response:
        self.hub.reset()
        return json_response(200, {"status": "reset"})

    def _admin_record(self, request: Request, params: list[str]) -> Response:
        entity, uid = params
        if request.method == "DELETE":
            return Response(204, b"") if self.hub.remove(entity, uid) else _not_found()
        if request.method == "PATCH":
            try:
                record = self.hub.tamper(entity, uid, _object(request.body))
            except ValueError as exc:
                raise _HTTPProblemError(422, _validation(str(exc))) from None
        else:
            record = self.hub.record(entity, uid)
        return json_response(200, record) if record is not None else _not_found()


def _route(path: str) -> tuple[str, list[str]]:
    """The route pattern of a path and its parameters: ``/api/v1/items/batch`` ->
    (``{entity}/batch``, [``items``]); fixed words stay, other segments are parameters."""
    if path.startswith("/api/v1/"):
        parts = path[8:].split("/")
        if parts == ["health"]:
            return "health", []
        if len(parts) == 2 and parts[1] in ("index", "batch"):
            return "{entity}/" + parts[1], parts[:1]
        names = ("{entity}", "{entity}/{uid}")
        return (names[len(parts) - 1], parts) if 1 <= len(parts) <= 2 else ("", [])
    if path.startswith("/_emulator/"):
        parts = path[11:].split("/")
        if len(parts) == 3 and parts[0] == "records":
            return "_emulator/records/{entity}/{uid}", parts[1:]
        return "_emulator/" + "/".join(parts), []
    return "", []


class _HTTPProblemError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status, self.body = status, body


def _guarded(work: _Work, request: Request, params: list[str]) -> Response:
    try:
        return work(request, params)
    except UnknownEntityError as exc:
        raise _HTTPProblemError(
            404, {"error": "unknown_entity", "detail": f"no entity {exc.args[0]!r}"}
        ) from None


def _health(_request: Request, _params: list[str]) -> Response:
    return json_response(200, {"status": "ok"})


def _parse_batch(body: bytes) -> list[AnyOperation]:
    """The operations of a batch body; 422 when it is not the contract's shape, 413 past
    :data:`MAX_BATCH` operations."""
    try:
        operations = _decode_batch(body).operations
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _HTTPProblemError(422, _validation(f"malformed batch: {exc}")) from None
    if len(operations) > MAX_BATCH:
        raise _HTTPProblemError(
            413,
            {
                "error": "too_many_operations",
                "detail": f"{len(operations)} operations, at most {MAX_BATCH}",
            },
        )
    return operations


def _single(answer: tuple[int, dict[str, Any] | None]) -> Response:
    status, body = answer
    return Response(204, b"") if body is None else json_response(status, body)


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_PAGE
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise _HTTPProblemError(422, _validation(f"limit must be 1..{MAX_PAGE}"))
    return int(text)


def _object(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise _HTTPProblemError(422, _validation("the body must be a JSON object"))
    return value


def _validation(detail: str) -> dict[str, Any]:
    return {"error": "validation", "detail": detail}


def _not_found() -> Response:
    return json_response(404, {"error": "not_found"})
