"""Both emulators in processes of their own on free loopback ports, with fresh secrets,
and the ``SYNCFLOW_*`` environment that points SyncFlow at them.

>>> import datetime as dt
>>> sizes_for(20_000)
{'items': 20000, 'work_centers': 50, 'orders': 5000, 'order_lines': 20000}
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from syncflow_core.clients.auth import TokenMinter
from syncflow_core.emulators.apismith import ApiSmithConfig
from syncflow_core.emulators.apismith import create_app as apismith_app
from syncflow_core.emulators.schedulehub import create_app as schedulehub_app
from syncflow_core.emulators.schedulehub_service import ScheduleHubConfig
from syncflow_core.emulators.servers import RunningServer, run_in_process


def sizes_for(items: int) -> dict[str, int]:
    """Rows per entity for ``items`` items: a quarter as many orders, a line per item."""
    return {"items": items, "work_centers": 50, "orders": max(1, items // 4), "order_lines": items}


@dataclass
class Emulators:
    """Running APISmith and ScheduleHub emulators and the secrets they check."""

    apismith: RunningServer
    schedulehub: RunningServer
    apismith_secret: str
    schedulehub_secret: str

    def environment(self) -> dict[str, str]:
        """``SYNCFLOW_*`` variables that point SyncFlow at these emulators."""
        return {
            "SYNCFLOW_APISMITH_URL": self.apismith.url,
            "SYNCFLOW_APISMITH_JWT_SECRET": self.apismith_secret,
            "SYNCFLOW_SCHEDULEHUB_URL": self.schedulehub.url,
            "SYNCFLOW_SCHEDULEHUB_JWT_SECRET": self.schedulehub_secret,
        }

    def activity(self, entity: str, **amounts: Any) -> dict[str, Any]:
        """ERP activity on ``entity`` (``change``, ``touch``, ``delete``, ``add``, their
        ``*_share``, ``at``) through the emulator's control endpoint."""
        body = {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in amounts.items()}
        return self._control("apismith", "POST", "/_emulator/activity", {"entity": entity, **body})

    def hub_stats(self) -> dict[str, Any]:
        """ScheduleHub's records and writes per entity."""
        return self._control("schedulehub", "GET", "/_emulator/stats", None)

    def stats(self, system: str) -> dict[str, Any]:
        """The ``/_emulator/stats`` of ``system`` (``apismith`` or ``schedulehub``)."""
        return self._control(system, "GET", "/_emulator/stats", None)

    def set_faults(self, system: str, **changes: Any) -> dict[str, Any]:
        """Change the fault settings of ``system`` at run time (``error_rate=0.05`` ...)."""
        return self._control(system, "PUT", "/_emulator/faults", changes)

    def control(
        self, system: str, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Any JWT-authenticated request to ``system``; the JSON answer (raises on >= 400)."""
        return self._control(system, method, path, body)

    def _control(
        self, system: str, method: str, path: str, body: dict[str, Any] | None
    ) -> dict[str, Any]:
        server = self.apismith if system == "apismith" else self.schedulehub
        secret = self.apismith_secret if system == "apismith" else self.schedulehub_secret
        token = TokenMinter(secret, audience=system, ttl_seconds=300).token()
        response = httpx.request(
            method,
            server.url + path,
            json=body,
            headers={"authorization": f"Bearer {token}"},
            timeout=60,
        )
        response.raise_for_status()
        answer: dict[str, Any] = response.json() if response.content else {}
        return answer


@contextmanager
def emulators(
    *,
    sizes: dict[str, int],
    start_day: dt.date,
    days: int,
    storage: Path,
    seed: int = 42,
    apismith_options: dict[str, Any] | None = None,
) -> Iterator[Emulators]:
    """Start both (fresh secrets; ScheduleHub on SQLite at ``storage``); stop them after.
    ``apismith_options`` are further fields of :class:`ApiSmithConfig`."""
    apismith_secret, schedulehub_secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    erp = ApiSmithConfig(
        sizes=sizes,
        seed=seed,
        start_day=start_day,
        days=days,
        jwt_secret=apismith_secret,
        **(apismith_options or {}),
    )
    hub = ScheduleHubConfig(storage=str(storage), jwt_secret=schedulehub_secret)
    with ExitStack() as stack:
        hub_server = run_in_process(schedulehub_app, hub)
        stack.callback(hub_server.stop)
        erp_server = run_in_process(apismith_app, erp)
        stack.callback(erp_server.stop)
        yield Emulators(erp_server, hub_server, apismith_secret, schedulehub_secret)
