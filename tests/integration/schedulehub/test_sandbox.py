"""``syncflow sandbox``: both emulators until interrupted, on the ports asked for."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

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


def test_sandbox_runs_until_interrupted(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("syncflow")
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "SYNCFLOW_SCHEDULEHUB_JWT_SECRET": SECRET,
        "SYNCFLOW_APISMITH_JWT_SECRET": APISMITH_SECRET,
    }
    command = [
        str(script),
        "sandbox",
        "--apismith-port",
        "0",
        "--schedulehub-port",
        "0",
        "--items",
        "50",
        "--seed",
        "3",
        "--schedulehub-storage",
        str(tmp_path / "h.db"),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        lines = _read_until_ready(process)
        output = "\n".join(lines)
        hub_url = re.search(r"^ScheduleHub\s+(http://127\.0\.0\.1:\d+)$", output, re.M)
        assert hub_url, output
        health = httpx.get(
            f"{hub_url[1]}/api/v1/health", headers={"Authorization": f"Bearer {token()}"}
        )
        assert health.json() == {"status": "ok"}
        assert "ScheduleHub JWT secret: from SYNCFLOW_SCHEDULEHUB_JWT_SECRET" in output
        assert SECRET not in output
        assert APISMITH_SECRET not in output
        if importlib.util.find_spec("syncflow_core.emulators.apismith") is None:
            assert "APISmith emulator not available in this build" in output
        else:
            apismith = re.search(r"^APISmith\s+(http://127\.0\.0\.1:\d+)$", output, re.M)
            assert apismith, output
            assert "items 50" in output
            answer = httpx.get(
                f"{apismith[1]}/api/v1/runtime/entities",
                headers={"Authorization": f"Bearer {token('apismith', APISMITH_SECRET)}"},
            )
            assert "items" in answer.json()["entities"]
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    assert code == 0
    assert (tmp_path / "h.db").exists()


def test_development_secrets_are_named_never_shown(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("syncflow")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_JWT_SECRET")}
    env["PYTHONUNBUFFERED"] = "1"
    command = [
        str(script),
        "sandbox",
        "--apismith-port",
        "0",
        "--schedulehub-port",
        "0",
        "--schedulehub-storage",
        str(tmp_path / "h.db"),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        output = "\n".join(_read_until_ready(process))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert "ScheduleHub JWT secret: DEVELOPMENT DEFAULT" in output
    assert "dev-only" not in output
