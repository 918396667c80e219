"""Run an ASGI app on a loopback port: in a background thread, or in its own process.

A thread is what tests want (the emulator's Python API stays reachable); a process is
what benchmarks and ``syncflow sandbox`` want (the server must not share the client's
GIL). ``port=0`` (the default) takes a free port; both return once the server answers
HTTP.

>>> from syncflow_core.emulators.apismith import ApiSmithConfig, create_app
>>> with run_in_thread(create_app(ApiSmithConfig(sizes={"items": 5}))) as server:
...     httpx.get(server.url + "/api/v1/runtime/entities").status_code
401
"""

from __future__ import annotations

import gc
import multiprocessing
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

import httpx
import uvicorn

START_TIMEOUT_SECONDS = 60.0


@dataclass
class RunningServer:
    """A server on ``url``; ``stop()`` shuts it down (also on leaving a ``with`` block)."""

    url: str
    stop: Callable[[], None] = field(repr=False)
    pid: int | None = None  # the server's process when it runs in its own one
    is_alive: Callable[[], bool] = field(default=lambda: True, repr=False)

    def alive(self) -> bool:
        """Whether the server (its thread or process) is still running."""
        return self.is_alive()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _config(app: Any, log_level: str) -> uvicorn.Config:
    # httptools + uvloop when installed (they are in the lock); no access log on the hot path.
    return uvicorn.Config(
        app, log_level=log_level, access_log=False, lifespan="on", timeout_keep_alive=30
    )


def _listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


def run_in_thread(
    app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
) -> RunningServer:
    """Serve ``app`` from a daemon thread of this process (``port=0``: a free port)."""
    sock = _listening_socket(host, port)
    port = sock.getsockname()[1]
    server = uvicorn.Server(_config(app, log_level))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"asgi-{port}", daemon=True
    )
    thread.start()
    url = f"http://{host}:{port}"

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

    try:
        _wait_until_answering(url, alive=thread.is_alive)
    except BaseException:
        stop()
        raise
    return RunningServer(url, stop, None, thread.is_alive)


def run_in_process(
    factory: Callable[..., Any],
    *args: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
) -> RunningServer:
    """Serve ``factory(*args)`` from a fresh (spawned) process (``port=0``: a free port).

    ``factory`` must be importable by name (a module-level function such as
    ``apismith.create_app``) and ``args`` picklable; the calling script needs the usual
    ``if __name__ == "__main__":`` guard, since the spawned process imports it.
    """
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe(duplex=False)
    process = context.Process(
        target=_serve_in_child,
        args=(child_end, factory, args, host, port, log_level),
        name="asgi-server",
        daemon=True,
    )
    process.start()
    child_end.close()

    def stop() -> None:
        process.terminate()  # SIGTERM: uvicorn shuts down gracefully
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join()

    try:
        if not parent_end.poll(START_TIMEOUT_SECONDS):
            raise RuntimeError("server process did not report its port")
        try:
            bound = parent_end.recv()
        except EOFError as exc:
            raise RuntimeError(
                "server process died while starting (a script that starts one needs an "
                "`if __name__ == '__main__':` guard: spawned processes import it)"
            ) from exc
        if isinstance(bound, str):
            raise RuntimeError(f"server process could not listen on {host}:{port}: {bound}")
        url = f"http://{host}:{bound}"
        _wait_until_answering(url, alive=process.is_alive)
    except BaseException:
        stop()
        raise
    return RunningServer(url, stop, process.pid, process.is_alive)


def _serve_in_child(
    report: Connection,
    factory: Callable[..., Any],
    args: tuple[Any, ...],
    host: str,
    port: int,
    log_level: str,
) -> None:
    app = factory(*args)
    # A server process makes many short-lived containers per request (rows, answers): with
    # the default thresholds the cyclic collector ran 400 times per 200k rows written
    # (8% of the ScheduleHub emulator's CPU). What the factory built lives for good.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        sock = _listening_socket(host, port)
    except OSError as exc:  # the port is taken: say so instead of dying silently
        report.send(str(exc))
        report.close()
        return
    report.send(sock.getsockname()[1])
    report.close()
    uvicorn.Server(_config(app, log_level)).run(sockets=[sock])


def _wait_until_answering(url: str, *, alive: Callable[[], bool]) -> None:
    """Poll until any HTTP answer comes back (401 counts: the server is up)."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"server for {url} exited before answering")
        try:
            httpx.get(url + "/", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.02)
    raise RuntimeError(f"server at {url} did not answer within {START_TIMEOUT_SECONDS} s")
