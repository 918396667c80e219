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
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from syncflow_core.clients.auth import TokenRejectedError, verify_token
from syncflow_core.emulators.schedulehub_ops import DELETE, INSERT, UPDATE, Operation
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
_Work = Callable[[Request, bytes], Response]

__all__ = ["ScheduleHubConfig", "ScheduleHubEmulator", "create_app", "emulator_of"]


def create_app(
    config: ScheduleHubConfig | None = None, *, emulator: ScheduleHubEmulator | None = None
) -> Starlette:
    """The ASGI app; ``emulator_of(app)`` is its Python API. Owns the emulator it creates."""
    owned = emulator is None
    hub = emulator or ScheduleHubEmulator(config)
    api = _Api(hub)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        api.pool.shutdown(wait=True)
        if owned:
            hub.close()

    app = Starlette(routes=api.routes(), lifespan=lifespan)
    app.state.emulator = hub
    return app


def emulator_of(app: Starlette) -> ScheduleHubEmulator:
    """The Python API of an app made by :func:`create_app`."""
    hub: ScheduleHubEmulator = app.state.emulator
    return hub


class _Batch(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    operations: list[Operation]


_decode_batch = msgspec.json.Decoder(_Batch).decode


class _Api:
    """Routes, auth, faults; the work runs on worker threads so the event loop keeps serving."""

    def __init__(self, hub: ScheduleHubEmulator) -> None:
        self.hub = hub
        # Two threads: one request is parsed and validated while another holds the store.
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="schedulehub")
        self._secret = hub.config.jwt_secret.get_secret_value()
        self._tokens: dict[str, float] = {}  # verified token -> its exp

    def routes(self) -> list[Route]:
        read, write, admin = "read", "write", "admin"
        endpoint = self._endpoint
        return [
            Route("/api/v1/health", endpoint(_health, "health"), methods=["GET"]),
            Route("/api/v1/{entity}", endpoint(self._find, read), methods=["GET"]),
            Route("/api/v1/{entity}", endpoint(self._insert, write), methods=["POST"]),
            Route("/api/v1/{entity}/index", endpoint(self._index, read), methods=["GET"]),
            Route("/api/v1/{entity}/batch", endpoint(self._batch, write), methods=["POST"]),
            Route("/api/v1/{entity}/{uid}", endpoint(self._update, write), methods=["PATCH"]),
            Route("/api/v1/{entity}/{uid}", endpoint(self._delete, write), methods=["DELETE"]),
            Route("/_emulator/stats", endpoint(self._stats, admin), methods=["GET"]),
            Route("/_emulator/faults", endpoint(self._faults, admin), methods=["GET", "PUT"]),
            Route("/_emulator/reset", endpoint(self._reset, admin), methods=["POST"]),
            Route(
                "/_emulator/records/{entity}/{uid}",
                endpoint(self._admin_record, admin),
                methods=["GET", "PATCH", "DELETE"],
            ),
        ]

    # --- the wrapper: latency, auth, faults, lost answers ----------------------------------

    def _endpoint(self, work: _Work, kind: str) -> Callable[[Request], Awaitable[Response]]:
        faults = self.hub.faults
        count = self.hub.note

        async def endpoint(request: Request) -> Response:
            injected = kind in ("read", "write")
            try:
                body = await request.body()
            except ClientDisconnect:
                return Response(status_code=400)  # nobody is listening any more
            if injected and faults.latency_seconds:
                # After the body arrived: a client that times out meanwhile has sent its
                # write, which is then applied, and its answer is lost.
                await asyncio.sleep(faults.latency_seconds)
            denied = self._denied(request.headers.get("authorization"))
            if denied is not None:
                count("unauthorized")
                return _json(401, {"detail": denied}, {"WWW-Authenticate": "Bearer"})
            if injected and faults.rate_limited():
                count("rate_limited")
                retry_after = str(faults.settings.retry_after_seconds)
                return _json(429, {"detail": "rate limited"}, {"Retry-After": retry_after})
            status = faults.error_status() if injected else None
            if status is not None:
                count("injected_errors")
                return _json(status, {"detail": "injected fault"})
            loop = asyncio.get_running_loop()
            try:
                response = await loop.run_in_executor(self.pool, _guarded, work, request, body)
            except _HTTPProblemError as problem:
                return _json(problem.status, problem.body)
            if kind == "write" and faults.lose_answer():
                count("lost_answers")
                return _json(503, {"detail": "injected fault: applied, answer lost"})
            return response

        return endpoint

    def _denied(self, header: str | None) -> str | None:
        """Why the request is refused (401), or ``None``. Never echoes the token."""
        if not header or not header.startswith("Bearer "):
            return "missing bearer token"
        token = header[7:].strip()
        expires = self._tokens.get(token)
        if expires is not None and expires > time.time():
            return None
        try:
            claims = verify_token(token, self._secret, audience=AUDIENCE)
        except TokenRejectedError as exc:
            return str(exc)
        if len(self._tokens) > 1024:
            self._tokens.clear()
        self._tokens[token] = float(claims["exp"])
        return None

    # --- the contract ----------------------------------------------------------------------

    def _insert(self, request: Request, body: bytes) -> Response:
        entity = request.path_params["entity"]
        return _single(self.hub.apply_one(entity, Operation.of(INSERT, data=body)))

    def _update(self, request: Request, body: bytes) -> Response:
        entity, uid = request.path_params["entity"], request.path_params["uid"]
        return _single(self.hub.apply_one(entity, Operation.of(UPDATE, uid=uid, data=body)))

    def _delete(self, request: Request, _body: bytes) -> Response:
        entity, uid = request.path_params["entity"], request.path_params["uid"]
        return _single(self.hub.apply_one(entity, Operation.of(DELETE, uid=uid)))

    def _batch(self, request: Request, body: bytes) -> Response:
        entity = request.path_params["entity"]
        self.hub.schema(entity)
        ops = _parse_batch(body)
        return Response(
            orjson.dumps({"results": self.hub.apply(entity, ops)}),
            media_type="application/json",
        )

    def _find(self, request: Request, _body: bytes) -> Response:
        entity = request.path_params["entity"]
        self.hub.schema(entity)
        key_hash = request.query_params.get("erp_key_hash")
        if key_hash is None or _KEY_HASH.fullmatch(key_hash) is None:
            raise _HTTPProblemError(422, _validation("erp_key_hash must be 32 lowercase hex"))
        record = self.hub.find(entity, key_hash)
        return _json(200, {"items": [record] if record is not None else []})

    def _index(self, request: Request, _body: bytes) -> Response:
        entity = request.path_params["entity"]
        self.hub.schema(entity)
        limit = _limit(request.query_params.get("limit"))
        try:
            items, cursor = self.hub.index(entity, request.query_params.get("cursor"), limit)
        except CursorError as exc:
            raise _HTTPProblemError(422, _validation(str(exc))) from None
        return _json(200, {"items": items, "next_cursor": cursor})

    # --- admin -----------------------------------------------------------------------------

    def _stats(self, _request: Request, _body: bytes) -> Response:
        return _json(200, self.hub.stats())

    def _faults(self, request: Request, body: bytes) -> Response:
        if request.method == "PUT":
            try:
                self.hub.set_faults(**_object(body))
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                raise _HTTPProblemError(422, _validation(str(exc))) from None
        return _json(200, self.hub.faults.settings.model_dump())

    def _reset(self, _request: Request, _body: bytes) -> Response:
        self.hub.reset()
        return _json(200, {"status": "reset"})

    def _admin_record(self, request: Request, body: bytes) -> Response:
        entity, uid = request.path_params["entity"], request.path_params["uid"]
        if request.method == "DELETE":
            return Response(status_code=204) if self.hub.remove(entity, uid) else _not_found()
        if request.method == "PATCH":
            try:
                record = self.hub.tamper(entity, uid, _object(body))
            except ValueError as exc:
                raise _HTTPProblemError(422, _validation(str(exc))) from None
        else:
            record = self.hub.record(entity, uid)
        return _json(200, record) if record is not None else _not_found()


class _HTTPProblemError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status, self.body = status, body


def _guarded(work: _Work, request: Request, body: bytes) -> Response:
    try:
        return work(request, body)
    except UnknownEntityError as exc:
        raise _HTTPProblemError(
            404, {"error": "unknown_entity", "detail": f"no entity {exc.args[0]!r}"}
        ) from None


def _health(_request: Request, _body: bytes) -> Response:
    return _json(200, {"status": "ok"})


def _parse_batch(body: bytes) -> list[Operation]:
    try:
        batch = _decode_batch(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _HTTPProblemError(422, _validation(f"malformed batch: {exc}")) from None
    if len(batch.operations) > MAX_BATCH:
        raise _HTTPProblemError(
            413,
            {
                "error": "too_many_operations",
                "detail": f"{len(batch.operations)} operations, at most {MAX_BATCH}",
            },
        )
    shapes = _SHAPES
    ops = batch.operations
    if all((op.op, op.uid is not None, len(op.data) > 0) in shapes for op in ops):
        return ops
    problem = next(p for i, op in enumerate(ops) if (p := _shape_error(i, op)))
    raise _HTTPProblemError(422, _validation(problem))


def _shape_error(position: int, op: Operation) -> str | None:
    """Why an operation is not one of the contract's three shapes (``None``: it is)."""
    has_data, has_uid = len(op.data) > 0, op.uid is not None
    if (op.op, has_uid, has_data) in _SHAPES:
        return None
    shapes = '{"op": "insert", "data"}, {"op": "update", "uid", "data"}, {"op": "delete", "uid"}'
    return f"malformed batch: operations[{position}] is not one of {shapes}"


_SHAPES = {(INSERT, False, True), (UPDATE, True, True), (DELETE, True, False)}


def _single(answer: tuple[int, dict[str, Any] | None]) -> Response:
    status, body = answer
    return Response(status_code=204) if body is None else _json(status, body)


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
    return _json(404, {"error": "not_found"})


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )
