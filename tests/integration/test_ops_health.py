"""``syncflow health`` and ``health.run_checks``: the state database, APISmith and
ScheduleHub, green and red, against the real emulators and real databases."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from syncflow_core.cli import cli
from syncflow_core.emulators.apismith import ApiSmithConfig
from syncflow_core.emulators.apismith import create_app as apismith_app
from syncflow_core.emulators.servers import run_in_thread
from syncflow_core.health import (
    AUTHENTICATION_FAILED,
    NOT_MIGRATED,
    UNREACHABLE,
    WRONG_SCHEMA,
    CheckResult,
    run_checks,
)
from syncflow_core.state import StateStore
from tests.support.ops import env_vars
from tests.support.world import APISMITH_SECRET, SCHEDULEHUB_SECRET, World, world

ROOT = Path(__file__).resolve().parents[2]
WRONG_SECRET = "not-the-schedulehub-secret-0123456789ab"  # test-only


@pytest.fixture
def w(state_url: str, tmp_path: Path) -> Iterator[World]:
    with world(state_url, tmp_path, sizes={"items": 20, "orders": 5, "order_lines": 10,
                                            "work_centers": 3}) as running:  # fmt: skip
        yield running


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


SECRETS = (APISMITH_SECRET, SCHEDULEHUB_SECRET, WRONG_SECRET)


def test_all_green(w: World) -> None:
    results = run_checks(w.settings, timeout_seconds=5)
    assert [r.name for r in results] == ["state database", "APISmith", "ScheduleHub"]
    for r in results:
        assert r.ok, r
        assert r.problem is None
        assert r.latency_ms is not None
        assert r.latency_ms > 0
    checks = by_name(results)
    head = StateStore.head()
    assert head == "0006"
    assert f"schema at revision {head} (head)" in checks["state database"].detail
    assert "4 entities offered" in checks["APISmith"].detail
    assert "read items index" in checks["ScheduleHub"].detail
    answer = CliRunner().invoke(cli, ["health"], env=env_vars(w.settings))
    assert answer.exit_code == 0, answer.output
    assert "all 3 checks passed" in answer.output
    assert answer.output.splitlines()[0].split() == ["check", "status", "latency", "ms",
                                                     "target", "detail"]  # fmt: skip


def test_stopped_emulator_is_unreachable(w: World) -> None:
    with run_in_thread(apismith_app(ApiSmithConfig(jwt_secret=APISMITH_SECRET))) as stopped:
        url = stopped.url
    settings = w.settings.model_copy(update={"apismith_url": url})
    checks = by_name(run_checks(settings, timeout_seconds=2))
    erp = checks["APISmith"]
    assert not erp.ok
    assert erp.problem == UNREACHABLE
    assert "GET /api/v1/runtime/entities: no answer (ConnectError" in erp.detail
    assert erp.target == url
    assert checks["ScheduleHub"].ok
    assert checks["state database"].ok
    answer = CliRunner().invoke(cli, ["health", "--timeout", "2"], env=env_vars(settings))
    assert answer.exit_code == 1
    assert "1 of 3 checks failed: APISmith" in answer.output
    assert "unreachable" in answer.output


def test_silent_server_times_out_without_retries(w: World) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings = w.settings.model_copy(update={"schedulehub_url": url})
        hub = by_name(run_checks(settings, timeout_seconds=0.5))["ScheduleHub"]
    assert hub.problem == UNREACHABLE
    assert "GET /api/v1/health: no answer (ReadTimeout" in hub.detail
    assert "attempts" not in hub.detail


def test_wrong_secret_is_authentication_failed_naming_the_system(w: World) -> None:
    settings = w.settings.model_copy(update={"schedulehub_jwt_secret": SecretStr(WRONG_SECRET)})
    checks = by_name(run_checks(settings, timeout_seconds=5))
    hub = checks["ScheduleHub"]
    assert not hub.ok
    assert hub.problem == AUTHENTICATION_FAILED
    assert hub.detail.startswith("authentication failed: ScheduleHub refused the token (HTTP 401")
    assert "check SYNCFLOW_SCHEDULEHUB_JWT_SECRET" in hub.detail
    assert checks["APISmith"].ok
    answer = CliRunner().invoke(
        cli, ["health", "--json"], env=env_vars(settings)
    )  # the whole output, JSON included, holds no secret
    assert answer.exit_code == 1
    for secret in SECRETS:
        assert secret not in answer.output
    payload = json.loads(answer.output)
    assert payload["ok"] is False
    assert [c["status"] for c in payload["checks"]] == ["ok", "ok", "authentication failed"]


def test_apismith_wrong_secret_too(w: World) -> None:
    settings = w.settings.model_copy(update={"apismith_jwt_secret": SecretStr(WRONG_SECRET)})
    erp = by_name(run_checks(settings, timeout_seconds=5))["APISmith"]
    assert erp.problem == AUTHENTICATION_FAILED
    assert "APISmith refused the token" in erp.detail
    assert WRONG_SECRET not in erp.detail


def test_state_database_not_migrated_then_behind(
    w: World, empty_db_url: str, tmp_path: Path
) -> None:
    settings = w.settings.model_copy(update={"database_url": empty_db_url})
    state = by_name(run_checks(settings))["state database"]
    assert state.problem == NOT_MIGRATED
    assert "run `uv run alembic upgrade head`" in state.detail
    with StateStore(empty_db_url) as store:
        store.upgrade("0001")
    state = by_name(run_checks(settings))["state database"]
    assert state.problem == WRONG_SCHEMA
    assert f"schema at revision 0001, this code needs {StateStore.head()}" in state.detail
    answer = CliRunner().invoke(cli, ["health"], env=env_vars(settings))
    assert answer.exit_code == 1
    assert "wrong schema" in answer.output


def test_missing_sqlite_file_is_reported_not_created(w: World, tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "state.db"
    settings = w.settings.model_copy(update={"database_url": f"sqlite:///{path}"})
    state = by_name(run_checks(settings))["state database"]
    assert state.problem == NOT_MIGRATED
    assert str(path) in state.detail
    assert not path.exists()


def test_unreachable_postgresql(w: World) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+psycopg://postgres:pw-not-shown@127.0.0.1:{port}/nothing"
    settings = w.settings.model_copy(update={"database_url": url})
    state = by_name(run_checks(settings, timeout_seconds=2))["state database"]
    assert state.problem == UNREACHABLE
    assert "cannot connect" in state.detail
    assert "pw-not-shown" not in state.detail + state.target
    assert state.target == f"postgresql+psycopg://postgres:***@127.0.0.1:{port}/nothing"


def run_installed(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real console script through uv, as a person runs it."""
    return subprocess.run(
        ["uv", "run", "syncflow", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_uv_run_syncflow_health(w: World, empty_db_url: str) -> None:
    green = run_installed(["health"], env_vars(w.settings))
    assert green.returncode == 0, green.stdout + green.stderr
    assert "all 3 checks passed" in green.stdout
    red = run_installed(
        ["health", "--json"], env_vars(w.settings, SYNCFLOW_DATABASE_URL=empty_db_url)
    )
    assert red.returncode == 1
    statuses = [c["status"] for c in json.loads(red.stdout)["checks"]]
    assert statuses == ["not migrated", "ok", "ok"]
