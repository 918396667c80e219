"""A minimal ASGI shell: one request in, one response out, no framework in the hot path.

The emulators answer JSON with pre-rendered bodies; Starlette's routing and response
classes would cost more per request than serving a page does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class Request:
    """What a handler sees of an HTTP request."""

    method: str
    path: str
    query_string: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def query(self) -> dict[str, list[str]]:
        """Query parameters, every value of every name, blanks kept."""
        return parse_qs(self.query_string.decode("latin-1"), keep_blank_values=True)

    def bearer_token(self) -> str | None:
        """The token of ``Authorization: Bearer <token>``, None when absent or another scheme."""
        value = self.headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None


@dataclass
class Response:
    """Status, JSON body bytes and extra headers."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: object, headers: dict[str, str] | None = None) -> Response:
    """A response whose body is ``payload`` as JSON."""
    return Response(status, orjson.dumps(payload), dict(headers or {}))


def error_response(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    """The contracts' error body ``{"detail": "..."}``."""
    return json_response(status, {"detail": detail}, headers)


Handler = Callable[[Request], Awaitable[Response]]


class AsgiApp:
    """Adapts a ``Request -> Response`` coroutine to ASGI (HTTP and lifespan).

    ``on_shutdown`` runs when the server shuts down (lifespan), e.g. to stop workers.
    """

    def __init__(self, handler: Handler, on_shutdown: Callable[[], None] | None = None) -> None:
        self._handler = handler
        self._on_shutdown = on_shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            if self._on_shutdown is not None:
                self._on_shutdown()
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body = await _read_body(receive) if scope["method"] in ("POST", "PUT", "PATCH") else b""
        request = Request(scope["method"], scope["path"], scope["query_string"], headers, body)
        response = await self._handler(request)
        raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(response.body)).encode()),
            *((k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()),
        ]
        await send(
            {"type": "http.response.start", "status": response.status, "headers": raw_headers}
        )
        await send({"type": "http.response.body", "body": response.body})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
