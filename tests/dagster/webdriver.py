"""A minimal W3C WebDriver client (the protocol chromedriver speaks) over httpx, and the
servers a browser test needs: ``dagster-webserver`` and ``chromedriver`` on free loopback
ports. Only what the UI test uses: open a page, run a script, click, take a screenshot."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--window-size=1600,1000",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], what: str, seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{what} within {seconds:.0f} s")


@contextmanager
def process(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, logging to ``log``, stopped (by its pid) afterwards."""
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def dagster_webserver(home: Path, log: Path) -> Iterator[str]:
    """``dagster-webserver -m syncflow_dagster`` on loopback; yields its URL."""
    port = free_port()
    binary = Path(sys.executable).with_name("dagster-webserver")
    command = [str(binary), "-m", "syncflow_dagster", "-h", "127.0.0.1", "-p", str(port)]
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    url = f"http://127.0.0.1:{port}"
    with process(command, env, log) as proc:
        wait_for(
            lambda: proc.poll() is None and httpx.get(url + "/server_info").status_code == 200,
            "dagster-webserver answers",
        )
        yield url


class Browser:
    """One WebDriver session."""

    def __init__(self, driver_url: str, session: str) -> None:
        self.http = httpx.Client(base_url=f"{driver_url}/session/{session}", timeout=60)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, path, json=body)
        response.raise_for_status()
        return response.json()["value"]

    def open(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def script(self, source: str, *args: Any) -> Any:
        return self._call("POST", "/execute/sync", {"script": source, "args": list(args)})

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self._call("GET", "/screenshot")))


@contextmanager
def chromium(log: Path) -> Iterator[Browser]:
    """Headless Chromium driven through ``chromedriver`` on a free port."""
    port = free_port()
    driver_url = f"http://127.0.0.1:{port}"
    with process(["chromedriver", f"--port={port}"], dict(os.environ), log) as proc:
        wait_for(
            lambda: proc.poll() is None and httpx.get(driver_url + "/status").status_code == 200,
            "chromedriver answers",
        )
        capabilities = {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": CHROMIUM_ARGS},
        }
        created = httpx.post(
            driver_url + "/session",
            json={"capabilities": {"alwaysMatch": capabilities}},
            timeout=120,
        )
        created.raise_for_status()
        session = created.json()["value"]["sessionId"]
        browser = Browser(driver_url, session)
        try:
            yield browser
        finally:
            httpx.delete(f"{driver_url}/session/{session}", timeout=30)
