"""Run an ASGI app on a free loopback port, in a thread or in a process of its own.

Private to the ScheduleHub side until ``emulators/servers.py`` lands; same shape
(``RunningServer(url, stop)``), so that callers can switch by changing one import.

>>> from starlette.applications import Starlette
>>> server = run_in_thread(Starlette())
>>> server.url.startswith("http://127.0.0.1:")
True
>>> server.stop()
"""

from __future__ import annotations

import multiprocessing
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

_START_TIMEOUT = 60.0


@dataclass(frozen=True)
class RunningServer:
    """A server that is accepting requests at ``url`` until ``stop()``."""

    url: str
    stop: Callable[[], None]
    pid: int | None = None  # the server's process, when it has its own
    is_alive: Callable[[], bool] = lambda: True

    def alive(self) -> bool:
        """Whether the server is still running."""
        return self.is_alive()


def _listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def _config(app: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_keep_alive=30,
    )


def run_in_thread(app: Any, *, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve ``app`` from a daemon thread of this process (for in-process tests)."""
    sock = _listening_socket(host, port)
    server = uvicorn.Server(_config(app))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the server did not start")
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()

    return RunningServer(f"http://{host}:{sock.getsockname()[1]}", stop, None, thread.is_alive)


def _serve(factory: Callable[..., Any], args: tuple[Any, ...], sock: socket.socket) -> None:
    uvicorn.Server(_config(factory(*args))).run(sockets=[sock])


def run_in_process(
    factory: Callable[..., Any],
    *args: Any,
    host: str = "127.0.0.1",
    port: int = 0,
) -> RunningServer:
    """Serve ``factory(*args)`` from a new process (spawned, so that it has its own GIL).

    ``factory`` and ``args`` must be picklable (a module-level function and its config).
    """
    sock = _listening_socket(host, port)
    process = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(factory, args, sock), daemon=True
    )
    process.start()
    url = f"http://{host}:{sock.getsockname()[1]}"
    _wait_until_serving(url, process)

    def stop() -> None:
        process.terminate()  # uvicorn shuts down cleanly on SIGTERM (lifespan runs)
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
            process.join()
        sock.close()

    return RunningServer(url, stop, process.pid, process.is_alive)


def _wait_until_serving(url: str, process: Any) -> None:
    """The socket listens at once; wait until the app answers (any status)."""
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if not process.is_alive():
            raise RuntimeError(f"the server process exited ({process.exitcode})")
        try:
            httpx.get(f"{url}/_ready", timeout=5.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the server did not start")
