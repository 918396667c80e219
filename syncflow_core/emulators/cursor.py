"""Opaque, stateless page cursors: the keyset position, bound to its query, signed.

A cursor is ``base64url(version | rowversion µs | row index | query digest | HMAC)``.
Nothing is stored on the server, so a cursor never expires (the contract asks for at
least one hour); the HMAC makes a forged or mangled cursor a clean ``400`` and the query
digest refuses a cursor replayed against another entity or other ROWVERSION bounds.

>>> codec = CursorCodec(b"k")
>>> token = codec.encode((1_700_000_000_000_000, 42), query="items|ge=1")
>>> codec.decode(token, query="items|ge=1")
(1700000000000000, 42)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct

_LAYOUT = struct.Struct(">BqQ8s")
_VERSION = 1
_MAC_BYTES = 12


class CursorError(ValueError):
    """The cursor is malformed, forged, or belongs to another query."""


class CursorCodec:
    """Encodes and checks cursors with a server-side key."""

    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"apismith-cursor\x00" + key).digest()

    def encode(self, position: tuple[int, int], *, query: str) -> str:
        """The cursor continuing after ``position`` = (rowversion µs, row index)."""
        body = _LAYOUT.pack(_VERSION, position[0], position[1], _digest(query))
        return base64.urlsafe_b64encode(body + self._mac(body)).decode().rstrip("=")

    def decode(self, token: str, *, query: str) -> tuple[int, int]:
        """The position a cursor stands for; :class:`CursorError` when it is not valid."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as exc:
            raise CursorError("cursor is not valid base64url") from exc
        body, mac = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
        if len(body) != _LAYOUT.size or not hmac.compare_digest(mac, self._mac(body)):
            raise CursorError("cursor is not one this server issued")
        version, rv, idx, digest = _LAYOUT.unpack(body)
        if version != _VERSION:
            raise CursorError("cursor version is not supported")
        if not hmac.compare_digest(digest, _digest(query)):
            raise CursorError("cursor belongs to another entity or other rowversion bounds")
        return rv, idx

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_MAC_BYTES]


def _digest(query: str) -> bytes:
    return hashlib.sha256(query.encode()).digest()[:8]
