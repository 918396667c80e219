"""A ScheduleHub emulator on a free loopback port, shared by a module, reset per test."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncflow_core.clients.auth import TokenMinter
from syncflow_core.clients.retry import RetryPolicy
from syncflow_core.clients.schedulehub import ScheduleHubClient
from syncflow_core.emulators.schedulehub import ScheduleHubConfig, create_app, emulator_of
from syncflow_core.emulators.schedulehub_service import ScheduleHubEmulator
from syncflow_core.emulators.servers import run_in_thread
from syncflow_core.settings import Settings

SECRET = "test-secret-for-the-schedulehub-emulator"
FAST_RETRY = RetryPolicy(max_attempts=6, base_seconds=0.01, max_seconds=0.05)
_serial = itertools.count(1)


@dataclass
class Hub:
    url: str
    emulator: ScheduleHubEmulator
    storage: Path


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    storage = tmp_path_factory.mktemp("hub") / "schedulehub.db"
    app = create_app(ScheduleHubConfig(storage=str(storage), jwt_secret=SECRET))
    server = run_in_thread(app)
    yield Hub(server.url, emulator_of(app), storage)
    server.stop()


@pytest.fixture
def hub(hub_server: Hub) -> Hub:
    """The module's emulator, empty and without faults."""
    hub_server.emulator.reset()
    hub_server.emulator.set_faults(
        error_rate=0.0,
        lost_answer_rate=0.0,
        rate_limit_rate=0.0,
        latency_ms=0.0,
        retry_after_seconds=1,
        seed=1234,
    )
    return hub_server


def token(audience: str = "schedulehub", secret: str = SECRET, ttl: int = 600) -> str:
    return TokenMinter(secret, audience=audience, ttl_seconds=ttl).token()


@pytest.fixture
def http(hub: Hub) -> Iterator[httpx.Client]:
    """A plain HTTP client with a valid token: the contract, request by request."""
    headers = {"Authorization": f"Bearer {token()}"}
    with httpx.Client(base_url=hub.url, headers=headers, timeout=30) as client:
        yield client


def make_client(hub: Hub, **options: Any) -> ScheduleHubClient:
    settings = Settings(schedulehub_url=hub.url, schedulehub_jwt_secret=SECRET)
    options.setdefault("retry", FAST_RETRY)
    return ScheduleHubClient(settings, **options)


@pytest.fixture
def client(hub: Hub) -> Iterator[ScheduleHubClient]:
    with make_client(hub) as c:
        yield c


def hex_of(n: int, width: int) -> str:
    return f"{n:0{width}x}"


def identity(n: int | None = None) -> dict[str, str]:
    n = next(_serial) * 7919 + random.randrange(1 << 40) if n is None else n
    return {
        "erp_key_hash": hex_of(n, 32),
        "erp_data_hash": hex_of(n * 31, 64),
        "erp_rowversion": "2025-12-08T10:30:00.123456",
    }


def item(n: int | None = None, **changes: Any) -> dict[str, Any]:
    ids = identity(n)
    record = {
        "item_number": f"PART-{ids['erp_key_hash'][:8]}",
        "description": "Widget",
        "uom": "EA",
        "list_price": 12.5,
        "weight_kg": None,
        "lead_time_days": 3,
        "status": "A",
        "created_at": "2025-01-02T03:04:05",
        "notes": None,
        **ids,
    }
    return {**record, **changes}


def order(n: int | None = None, **changes: Any) -> dict[str, Any]:
    ids = identity(n)
    record = {
        "order_number": f"CO-{ids['erp_key_hash'][:8]}",
        "customer_code": "C1",
        "ordered_at": "2025-01-02 03:04:05",
        "due_at": None,
        "priority": 5,
        "status": "open",
        **ids,
    }
    return {**record, **changes}


def line(order_uid: str, item_uid: str, n: int | None = None, **changes: Any) -> dict[str, Any]:
    ids = identity(n)
    record = {
        "order_number": "CO-1",
        "line_number": "1",
        "release_number": "1",
        "item_number": "PART-1",
        "quantity": 2,
        "due_at": None,
        "order_uid": order_uid,
        "item_uid": item_uid,
        **ids,
    }
    return {**record, **changes}
