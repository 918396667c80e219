"""A throw-away PostgreSQL server of one test, which the test may restart or stop.

The shared server at 127.0.0.1:5432 serves other tests at the same time: a test that
restarts its state store needs a server of its own. ``initdb`` refuses to run as root,
so under root the server runs as the ``postgres`` user, in a directory it owns.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise RuntimeError(f"PostgreSQL's {name} not found")
    return found[-1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrivateServer:
    """A running server on 127.0.0.1:``port`` (user postgres, trust auth)."""

    directory: Path
    port: int
    user: str | None  # run the tools as this user (None: as ourselves)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str) -> None:
        """``pg_ctl -D <data> args...``."""
        self._run(_bin("pg_ctl"), "-D", str(self.directory / "data"), *args)

    def restart(self) -> None:
        """A fast restart: every connection is cut, the server is back when this returns."""
        self.ctl("-m", "fast", "-l", str(self.directory / "server.log"), "-w", "restart")

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)


@contextmanager
def private_postgres() -> Iterator[PrivateServer]:
    """Start a fresh server on a free port; stop it and remove its files after."""
    directory = Path(tempfile.mkdtemp(prefix="syncflow-pg-"))
    user = "postgres" if os.geteuid() == 0 else None
    if user:
        entry = pwd.getpwnam(user)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    server = PrivateServer(directory, _free_port(), user)
    try:
        server._run(_bin("initdb"), "-D", str(directory / "data"), "-A", "trust",
                    "-U", "postgres", "--no-sync")  # fmt: skip
        options = f"-p {server.port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        server.ctl("-o", options, "-l", str(directory / "server.log"), "-w", "start")
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError, RuntimeError):
            server.ctl("-m", "immediate", "-w", "stop")  # unless it never started
        shutil.rmtree(directory, ignore_errors=True)
