"""A private PostgreSQL cluster on a free port, for tests that must take the database away.

The machine's own server is never touched: initdb into a temporary folder as the postgres user,
start and stop it with pg_ctl.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL server binary {name} not found")
    return found[-1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThrowawayPostgres:
    def __init__(self):
        self.port = _free_port()
        self.directory = tempfile.mkdtemp(prefix="labelpath-pg-")
        self.data = os.path.join(self.directory, "data")
        self.log = os.path.join(self.directory, "server.log")
        shutil.chown(self.directory, "postgres", "postgres")
        self._as_postgres([_bin("initdb"), "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync"])

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, command: list[str]) -> None:
        prefix = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
        subprocess.run(prefix + command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self._as_postgres([_bin("pg_ctl"), "-D", self.data, "-l", self.log, "-w", "-t", "30", "-o",
                           f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off",
                           "start"])

    def stop(self) -> None:
        self._as_postgres([_bin("pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop"])

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
