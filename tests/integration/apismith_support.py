"""Helpers shared by the APISmith integration tests (servers on free loopback ports)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import jwt

from syncflow_core.emulators.apismith import ApiSmithConfig, ApiSmithEmulator, create_app
from syncflow_core.emulators.servers import RunningServer, run_in_thread

SECRET = "integration-test-secret-0123456789abcdef"  # test-only, not a real secret
SMALL_SIZES = {"items": 2500, "work_centers": 40, "orders": 300, "order_lines": 900}


def token(secret: str = SECRET, **claims: Any) -> str:
    """A token with the contract's claims, any of which a test may override or drop (None)."""
    now = int(time.time())
    body = {"iss": "syncflow", "aud": "apismith", "sub": "tests", "iat": now, "exp": now + 600}
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, secret, algorithm="HS256")


def auth(secret: str = SECRET, **claims: Any) -> dict[str, str]:
    """An Authorization header."""
    return {"authorization": f"Bearer {token(secret, **claims)}"}


@contextmanager
def apismith(**overrides: Any) -> Iterator[tuple[RunningServer, ApiSmithEmulator]]:
    """An emulator in a thread: (server with .url, emulator for the Python API)."""
    config = ApiSmithConfig(**{"sizes": SMALL_SIZES, "jwt_secret": SECRET, "days": 3, **overrides})
    app = create_app(config)
    with run_in_thread(app) as server:
        yield server, app.emulator  # type: ignore[attr-defined]


def scan(
    url: str, entity: str, params: dict[str, str] | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Every row of a raw HTTP scan (no client), following next_cursor."""
    rows: list[dict[str, Any]] = []
    query = {"limit": str(limit), **(params or {})}
    with httpx.Client(base_url=url, headers=auth(), timeout=30) as http:
        while True:
            response = http.get(f"/api/v1/runtime/{entity}/execute", params=query)
            assert response.status_code == 200, response.text
            page = response.json()
            rows += page["rows"]
            if page["next_cursor"] is None:
                return rows
            query["cursor"] = page["next_cursor"]
