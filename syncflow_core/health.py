"""Health checks: is each system SyncFlow needs there, does it take our credentials, how fast.

>>> results = run_checks(settings)                       # doctest: +SKIP
>>> [(r.name, r.ok, r.problem) for r in results]         # doctest: +SKIP
[('state database', True, None), ('APISmith', True, None), ('ScheduleHub', False,
 'authentication failed')]

Three checks, run at the same time, each bounded by ``timeout_seconds`` and never retried
(a dead system is reported in seconds, not after the pipeline's backoff):

- **state database**: connect, and the schema at the migrations' head (Alembic);
- **APISmith**: ``GET /entities`` with a token (reachable, authenticated), and every catalog
  entity offered;
- **ScheduleHub**: ``GET /health``, then one authenticated read
  (``GET /{first catalog entity}/index?limit=1``).

A failed check says what and why (``problem``: unreachable, authentication failed, not
migrated, wrong schema, rate limited, unavailable, missing entities, error) in ``detail``,
which never holds a secret: it is built from typed errors and scrubbed by the log
redactor besides. ``latency_ms`` is the slowest single request of the check. The Dagster
layer shows the same results as asset checks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from syncflow_core.catalog import EntitySpec, load_catalog
from syncflow_core.clients.apismith import ApiSmithClient
from syncflow_core.clients.errors import AuthError, SyncFlowHTTPError, TransientError
from syncflow_core.clients.retry import RetryPolicy
from syncflow_core.clients.schedulehub import ScheduleHubClient
from syncflow_core.observability.redaction import Redactor
from syncflow_core.settings import Settings
from syncflow_core.state import StateStore

DEFAULT_TIMEOUT_SECONDS = 5.0
STATE, APISMITH, SCHEDULEHUB = "state database", "APISmith", "ScheduleHub"
CHECK_NAMES = (STATE, APISMITH, SCHEDULEHUB)

# problems
UNREACHABLE = "unreachable"
AUTHENTICATION_FAILED = "authentication failed"
NOT_MIGRATED = "not migrated"
WRONG_SCHEMA = "wrong schema"
RATE_LIMITED = "rate limited"
UNAVAILABLE = "unavailable"
MISSING_ENTITIES = "missing entities"
ERROR = "error"
REFUSED_TWICE = "token refused even after minting a new one ("


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check. ``problem`` is None when ``ok``."""

    name: str
    target: str
    ok: bool
    detail: str
    latency_ms: float | None = None
    problem: str | None = None

    @property
    def status(self) -> str:
        """``ok`` or the problem, as a table shows it."""
        return "ok" if self.ok else (self.problem or ERROR)

    def as_dict(self) -> dict[str, Any]:
        latency = round(self.latency_ms, 1) if self.latency_ms is not None else None
        return {**asdict(self), "latency_ms": latency, "status": self.status}


class CheckFailedError(Exception):
    """A check's own way out: the problem and its detail (raised inside a check only)."""

    def __init__(self, problem: str, detail: str) -> None:
        super().__init__(detail)
        self.problem, self.detail = problem, detail


class _Stopwatch:
    """The slowest of the timed calls, in milliseconds."""

    def __init__(self) -> None:
        self.slowest: float | None = None

    def time(self, fn: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return fn()
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            self.slowest = max(self.slowest or 0.0, elapsed)


def run_checks(
    settings: Settings,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    catalog: dict[str, EntitySpec] | None = None,
) -> list[CheckResult]:
    """The three checks, run concurrently, in the order of ``CHECK_NAMES``."""
    catalog = catalog if catalog is not None else load_catalog()
    redactor = Redactor.from_settings(settings)
    checks: list[Callable[[], CheckResult]] = [
        lambda: check_state(settings, timeout_seconds),
        lambda: check_apismith(settings, timeout_seconds, catalog),
        lambda: check_schedulehub(settings, timeout_seconds, catalog),
    ]
    with ThreadPoolExecutor(len(checks), thread_name_prefix="health") as pool:
        results = list(pool.map(lambda check: check(), checks))
    return [_scrubbed(r, redactor) for r in results]


def _scrubbed(result: CheckResult, redactor: Redactor) -> CheckResult:
    """``result`` with its text scrubbed of every secret the settings hold."""
    return CheckResult(
        name=result.name,
        target=redactor.text(result.target),
        ok=result.ok,
        detail=redactor.text(result.detail),
        latency_ms=result.latency_ms,
        problem=result.problem,
    )


def _run(name: str, target: str, body: Callable[[_Stopwatch], str]) -> CheckResult:
    """Run a check body; its return value is the detail of a passed check."""
    watch = _Stopwatch()
    try:
        detail = body(watch)
    except CheckFailedError as failed:
        return CheckResult(name, target, False, failed.detail, watch.slowest, failed.problem)
    except Exception as exc:  # any other failure is reported, never raised
        detail = f"{type(exc).__name__}: {exc}"
        return CheckResult(name, target, False, detail, watch.slowest, ERROR)
    return CheckResult(name, target, True, detail, watch.slowest)


# --- state database ------------------------------------------------------------------------


def check_state(
    settings: Settings, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
) -> CheckResult:
    """Connect to the state database and compare its Alembic revision with the head."""
    url = make_url(settings.state_url)
    target = url.render_as_string(hide_password=True)

    def body(watch: _Stopwatch) -> str:
        _sqlite_file_exists(url)
        with StateStore(_with_connect_timeout(url, timeout_seconds)) as store:
            try:
                current = watch.time(store.revision)
            except sa.exc.OperationalError as exc:
                raise _database_failure(exc) from exc
            head = store.head()
        if current is None:
            raise CheckFailedError(
                NOT_MIGRATED,
                f"no SyncFlow schema in this database; code needs revision {head}: "
                "run `uv run alembic upgrade head`",
            )
        if current != head:
            raise CheckFailedError(
                WRONG_SCHEMA,
                f"schema at revision {current}, this code needs {head}: "
                "run `uv run alembic upgrade head` (or deploy the SyncFlow that matches)",
            )
        return f"connected, schema at revision {head} (head)"

    return _run(STATE, target, body)


def _sqlite_file_exists(url: sa.engine.URL) -> None:
    """A missing SQLite file is reported, not created by the check."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    path = Path(url.database)
    if not path.exists():
        raise CheckFailedError(
            NOT_MIGRATED,
            f"no database file at {path}: run `uv run alembic upgrade head` to create it",
        )


def _with_connect_timeout(url: sa.engine.URL, timeout_seconds: float) -> str:
    if url.get_backend_name() == "postgresql":
        seconds = max(1, math.ceil(timeout_seconds))  # libpq takes whole seconds, at least 1
        url = url.update_query_dict({"connect_timeout": str(seconds)})
    return url.render_as_string(hide_password=False)


def _database_failure(exc: sa.exc.OperationalError) -> CheckFailedError:
    """The driver's first line says why (libpq: refused, unknown host, auth, no database)."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    if "authentication failed" in reason or "no password supplied" in reason:
        return CheckFailedError(AUTHENTICATION_FAILED, f"the database refused the login: {reason}")
    return CheckFailedError(UNREACHABLE, f"cannot connect: {reason}")


# --- the two HTTP systems ------------------------------------------------------------------


def _no_retries() -> RetryPolicy:
    """One attempt, and a 429 is an answer (not a wait)."""
    return RetryPolicy(max_attempts=1, max_rate_limited=0)


def check_apismith(
    settings: Settings,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    catalog: dict[str, EntitySpec] | None = None,
) -> CheckResult:
    """``GET /entities`` with a token; every catalog entity must be offered."""
    catalog = catalog if catalog is not None else load_catalog()

    def body(watch: _Stopwatch) -> str:
        with ApiSmithClient(
            settings, retry=_no_retries(), timeout_seconds=timeout_seconds, prefetch=False
        ) as client:
            offered = _http(APISMITH, "SYNCFLOW_APISMITH_JWT_SECRET", watch, client.entities)
        missing = sorted(set(catalog) - set(offered))
        if missing:
            raise CheckFailedError(
                MISSING_ENTITIES,
                "token accepted, but APISmith does not offer catalog entities: "
                + ", ".join(missing),
            )
        return f"token accepted; {len(offered)} entities offered, every catalog entity among them"

    return _run(APISMITH, settings.apismith_url, body)


def check_schedulehub(
    settings: Settings,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    catalog: dict[str, EntitySpec] | None = None,
) -> CheckResult:
    """``GET /health``, then an authenticated read of the first catalog entity's index."""
    catalog = catalog if catalog is not None else load_catalog()
    entity = next(iter(catalog))

    def body(watch: _Stopwatch) -> str:
        with ScheduleHubClient(
            settings, retry=_no_retries(), timeout_seconds=timeout_seconds, max_in_flight=1
        ) as client:
            variable = "SYNCFLOW_SCHEDULEHUB_JWT_SECRET"  # named in messages, never read
            answer = _http(SCHEDULEHUB, variable, watch, client.health)
            if answer.get("status") != "ok":
                raise CheckFailedError(UNAVAILABLE, f"/health answered {answer!r}")
            _http(SCHEDULEHUB, variable, watch, lambda: next(client.index(entity, page_size=1)))
        return f"healthy; token accepted (read {entity} index)"

    return _run(SCHEDULEHUB, settings.schedulehub_url, body)


def _http(system: str, variable: str, watch: _Stopwatch, call: Callable[[], Any]) -> Any:
    """Run one request; its typed error becomes the check's problem."""
    try:
        return watch.time(call)
    except AuthError as exc:
        # the request loop's wording around the server's reason (a fresh token was tried too)
        why = exc.reason.removeprefix(REFUSED_TWICE).removesuffix(")") or "no detail"
        raise CheckFailedError(
            AUTHENTICATION_FAILED,
            f"authentication failed: {system} refused the token (HTTP 401: {why}); "
            f"check {variable}",
        ) from exc
    except TransientError as exc:
        raise _transient(exc) from exc
    except SyncFlowHTTPError as exc:
        raise CheckFailedError(ERROR, str(exc)) from exc


def _transient(exc: TransientError) -> CheckFailedError:
    """No usable answer: rate limited, a 5xx, or no answer at all (refused, timed out)."""
    where = f"{exc.method} {exc.path}"
    if exc.status == 429:
        return CheckFailedError(RATE_LIMITED, f"{where}: rate limited (HTTP 429)")
    reason = exc.reason.removesuffix(" (after 1 attempts)")
    if reason.startswith("HTTP "):  # the request loop's wording of a 5xx answer
        return CheckFailedError(UNAVAILABLE, f"{where}: {reason}")
    return CheckFailedError(UNREACHABLE, f"{where}: no answer ({reason})")
