"""gunicorn on 127.0.0.1 over a given database, for the length of a benchmark run.

The server runs `wsgi:app` as production does (same create_app, same logging), with a fixed
SECRET_KEY (one per deployment), the login rate limit per address raised (every virtual phone
logs in from 127.0.0.1) and a small SQLAlchemy pool per worker so the whole run stays under the
PostgreSQL connection budget (TRAPS.md: ≤ 64).
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
            except OSError:
                continue
    except OSError:
        pass
    return found


def process_tree(pid: int) -> list[int]:
    pids, stack = [], [pid]
    while stack:
        current = stack.pop()
        pids.append(current)
        stack += _children(current)
    return pids


def memory_mb(pids: list[int]) -> tuple[float, float]:
    """(sum of RSS, sum of PSS) in MB over the given processes (/proc; PSS shares shared pages fairly)."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        value = int(line.split()[1])
                        rss += value
                        pss += value
            except OSError:
                continue
    return rss / 1024, pss / 1024


@dataclass
class ServerConfig:
    workers: int = 2
    worker_class: str = "gthread"
    threads: int = 8
    pool_size: int = 8  # ≥ threads: each thread holds one connection for its request
    max_overflow: int = 2
    preload: bool = False
    extra_env: dict = field(default_factory=dict)

    def describe(self) -> str:
        text = f"gunicorn {self.workers} × {self.worker_class}"
        if self.worker_class == "gthread":
            text += f" ({self.threads} threads)"
        if self.preload:
            text += ", --preload"
        arenas = os.environ.get("MALLOC_ARENA_MAX", "2")
        return text + f", DB pool {self.pool_size}+{self.max_overflow} per worker, MALLOC_ARENA_MAX={arenas}"

    @property
    def max_connections(self) -> int:
        return self.workers * (self.pool_size + self.max_overflow)


class Server:
    """`with Server(url, config) as server:` → server.base_url, server.memory(), server.sample_memory()."""

    def __init__(self, database_url: str, config: ServerConfig | None = None, log_path: Path | None = None):
        self.database_url = database_url
        self.config = config or ServerConfig()
        self.port = free_port()
        self.host = "127.0.0.1"
        self.log_path = log_path or Path(f"/tmp/labelpath-bench-gunicorn-{self.port}.log")
        self.process: subprocess.Popen | None = None
        self._sampler: threading.Thread | None = None
        self._sampling = threading.Event()
        self.peak_rss = 0.0
        self.peak_pss = 0.0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict:
        c = self.config
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("TEST_", "PYTEST_"))}
        env.update({
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": SECRET_KEY,
            "LABELPATH_ENV": "bench",
            "LOGIN_LIMIT_PER_ADDRESS": "100000 per minute",
            "LOGIN_LIMIT_PER_ACCOUNT": "1000 per minute",
            "DB_POOL_SIZE": str(c.pool_size),
            "DB_MAX_OVERFLOW": str(c.max_overflow),
            "PYTHONUNBUFFERED": "1",
            # as `make run` and the README's production command: glibc's per-thread malloc arenas
            # cost gthread workers ≈ 10 MB each for no speed (measured at 32 phones)
            "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "2"),
        })
        env.update(c.extra_env)
        return env

    def command(self) -> list[str]:
        c = self.config
        cmd = [str(Path(sys.executable).parent / "gunicorn"), "--bind", f"{self.host}:{self.port}",
               "--workers", str(c.workers), "--worker-class", c.worker_class, "--backlog", "2048",
               "--timeout", "60", "--graceful-timeout", "5", "--keep-alive", "5"]
        if c.worker_class == "gthread":
            cmd += ["--threads", str(c.threads)]
        if c.preload:
            cmd.append("--preload")
        return [*cmd, "wsgi:app"]

    def start(self, timeout: float = 60) -> Server:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(self.command(), cwd=ROOT, env=self.env(), stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log_path}:\n"
                                       + self.log_path.read_text()[-3000:])
                if self._ready() and len(process_tree(self.process.pid)) >= self.config.workers + 1:
                    self._start_sampler()
                    return self
                time.sleep(0.2)
            raise RuntimeError(f"gunicorn did not become ready in {timeout}s; see {self.log_path}")
        except BaseException:  # also Ctrl-C while it boots: never leave a server behind
            self.stop()
            raise

    def _ready(self) -> bool:
        try:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=2)
            conn.request("GET", "/readyz")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    def pids(self) -> list[int]:
        return process_tree(self.process.pid) if self.process else []

    def memory(self) -> tuple[float, float]:
        return memory_mb(self.pids())

    def _start_sampler(self) -> None:
        def sample():
            while not self._sampling.wait(0.5):
                self.sample_memory()

        self._sampler = threading.Thread(target=sample, daemon=True)
        self._sampler.start()

    def sample_memory(self) -> tuple[float, float]:
        rss, pss = self.memory()
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)
        return rss, pss

    def reset_peak(self) -> None:
        self.peak_rss = self.peak_pss = 0.0
        self.sample_memory()

    def stop(self) -> None:
        self._sampling.set()
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        if getattr(self, "_log", None):
            self._log.close()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
