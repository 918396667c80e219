"""``syncflow sandbox``: both emulators, each in its own process, until interrupted."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.schedulehub.conftest import SECRET, token

APISMITH_SECRET = "sandbox-apismith-secret-sandbox-apismith"


def _read_until_ready(process: subprocess.Popen[str]) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + 120
    assert process.stdout is not None
    while time.monotonic() < deadline:
        text = process.stdout.readline()
        if not text:
            break
        lines.append(text.rstrip("\n"))
        if text.startswith("Ctrl-C to stop"):
            return lines
    raise AssertionError(f"sandbox did not start: {lines}")


def _start(tmp_path: Path, env: dict[str, str], *options: str) -> subprocess.Popen[str]:
    """``syncflow sandbox`` on free ports with its storage under ``tmp_path``."""
    script = Path(sys.executable).with_name("syncflow")
    command = [str(script), "sandbox", "--apismith-port", "0", "--schedulehub-port", "0"]
    command += ["--schedulehub-storage", str(tmp_path / "h.db"), *options]
    env = {**env, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path)


def test_sandbox_runs_until_interrupted(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SYNCFLOW_SCHEDULEHUB_JWT_SECRET": SECRET,
        "SYNCFLOW_APISMITH_JWT_SECRET": APISMITH_SECRET,
        "SYNCFLOW_APISMITH_FAULT_RETRY_AFTER_SECONDS": "9",
        "SYNCFLOW_SCHEDULEHUB_FAULT_RETRY_AFTER_SECONDS": "7",
    }
    sizes = ["--items", "50", "--orders", "20", "--order-lines", "60", "--work-centers", "5"]
    process = _start(tmp_path, env, *sizes, "--days", "2", "--seed", "3")
    try:
        lines = _read_until_ready(process)
        output = "\n".join(lines)
        hub_url = re.search(r"^ScheduleHub\s+(http://127\.0\.0\.1:\d+)$", output, re.M)
        assert hub_url, output
        health = httpx.get(
            f"{hub_url[1]}/api/v1/health", headers={"Authorization": f"Bearer {token()}"}
        )
        assert health.json() == {"status": "ok"}
        hub_faults = httpx.get(
            f"{hub_url[1]}/_emulator/faults", headers={"Authorization": f"Bearer {token()}"}
        )
        assert hub_faults.json()["retry_after_seconds"] == 7  # from the environment
        assert "ScheduleHub JWT secret: from SYNCFLOW_SCHEDULEHUB_JWT_SECRET" in output
        assert SECRET not in output
        assert APISMITH_SECRET not in output
        apismith = re.search(r"^APISmith\s+(http://127\.0\.0\.1:\d+)$", output, re.M)
        assert apismith, output
        assert "items 50, work_centers 5, orders 20, order_lines 60 over 2 days" in output
        erp_auth = {"Authorization": f"Bearer {token('apismith', APISMITH_SECRET)}"}
        answer = httpx.get(f"{apismith[1]}/api/v1/runtime/entities", headers=erp_auth)
        assert "items" in answer.json()["entities"]
        page = httpx.get(
            f"{apismith[1]}/api/v1/runtime/orders/execute", headers=erp_auth, params={"limit": 100}
        )
        assert len(page.json()["rows"]) == 20
        erp_faults = httpx.get(f"{apismith[1]}/_emulator/faults", headers=erp_auth)
        assert erp_faults.json()["retry_after_seconds"] == 9
        refused = httpx.get(f"{apismith[1]}/api/v1/runtime/entities")
        assert refused.status_code == 401
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    assert code == 0
    assert process.stdout is not None
    assert "stopping" in process.stdout.read()
    for url in (hub_url[1], apismith[1]):  # both server processes are gone with it
        with pytest.raises(httpx.TransportError):
            httpx.get(url, timeout=2)
    assert (tmp_path / "h.db").exists()


def test_development_secrets_are_named_never_shown(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_JWT_SECRET")}
    process = _start(tmp_path, env)
    try:
        output = "\n".join(_read_until_ready(process))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert "ScheduleHub JWT secret: DEVELOPMENT DEFAULT" in output
    assert "dev-only" not in output
