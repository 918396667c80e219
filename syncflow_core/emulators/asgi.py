"""The emulators' HTTP shell: one request in, one response out, no framework in the hot path.

Both emulators answer JSON with pre-rendered bodies; Starlette's routing and response
classes would cost more per request than serving a page does. :class:`AsgiApp` adapts a
``Request -> Response`` coroutine to ASGI, :class:`TokenGate` is the JWT check both run
on every request.

>>> gate = TokenGate("s" * 32, audience="demo")
>>> from syncflow_core.clients.auth import TokenMinter
>>> gate.refusal(TokenMinter("s" * 32, audience="demo").token()) is None
True
>>> gate.refusal(None), gate.refusal("not-a-jwt")
('missing bearer token', 'malformed token (DecodeError)')
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs

import orjson

from syncflow_core.clients.auth import TokenRejectedError, verify_token

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

    def param(self, name: str) -> str | None:
        """The last value of query parameter ``name``, or None."""
        values = self.query().get(name) if self.query_string else None
        return values[-1] if values else None

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


def unauthorized(reason: str) -> Response:
    """The 401 of both contracts: the reason (never the token), and the scheme to use."""
    return error_response(401, reason, {"www-authenticate": "Bearer"})


class TokenGate:
    """Checks bearer tokens (HS256, ``aud``, expiry, lifetime: ``clients.auth.verify_token``).

    A token already verified needs only its expiry checked until it expires: a client
    reuses its token for many requests, and the signature check costs more than a page.
    Thread-safe; remembers at most ``remember`` tokens.
    """

    def __init__(self, secret: str, *, audience: str, remember: int = 64) -> None:
        self._secret, self._audience, self._remember = secret, audience, remember
        self._verified: dict[str, float] = {}  # token -> exp
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the secret
        return f"TokenGate(audience={self._audience!r})"

    def refusal(self, token: str | None, *, clock_ahead: float = 0.0) -> str | None:
        """Why ``token`` is refused (a 401's detail), or None when it is good;
        ``clock_ahead``: seconds this server's clock runs ahead (a fault: tokens expire
        sooner)."""
        if token is None:
            return "missing bearer token"
        now = time.time() + clock_ahead
        expires = self._verified.get(token)
        if expires is not None and now < expires:
            return None
        try:
            claims = verify_token(token, self._secret, audience=self._audience)
        except TokenRejectedError as exc:
            return str(exc)
        if now >= claims["exp"]:
            return "token expired"
        with self._lock:
            if len(self._verified) >= self._remember:
                self._verified.clear()
            self._verified[token] = float(claims["exp"])
        return None


Handler = Callable[[Request], Awaitable[Response]]


class AsgiApp:
    """Adapts a ``Request -> Response`` coroutine to ASGI (HTTP and lifespan).

    ``on_shutdown`` runs when the server shuts down (lifespan), e.g. to stop workers. A
    request whose client went away before its body arrived is not handled.
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
        if body is None:
            return  # nobody is listening any more
        request = Request(scope["method"], scope["path"], scope["query_string"], headers, body)
        response = await self._handler(request)
        raw_headers = [
            *([(b"content-type", b"application/json")] if response.body else []),
            (b"content-length", str(len(response.body)).encode()),
            *((k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()),
        ]
        await send(
            {"type": "http.response.start", "status": response.status, "headers": raw_headers}
        )
        await send({"type": "http.response.body", "body": response.body})


E = TypeVar("E")


class EmulatorApp(AsgiApp, Generic[E]):
    """An :class:`AsgiApp` that carries the emulator behind it (``app.emulator``)."""

    def __init__(
        self, handler: Handler, emulator: E, on_shutdown: Callable[[], None] | None = None
    ) -> None:
        super().__init__(handler, on_shutdown)
        self.emulator = emulator


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None when the client disconnected first."""
    message = await receive()
    if message["type"] == "http.disconnect":
        return None
    first = message.get("body", b"")
    if not message.get("more_body"):
        return first
    chunks = [first]
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
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
