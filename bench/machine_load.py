"""Who used the CPU during a run: this benchmark (and its children), PostgreSQL, everything else.

Several people share the machine; a test suite running beside the benchmark takes cores from it.
Each run reports the cores the others used, so a number measured on a busy machine says so.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[str, int, int]]:
    """{pid: (command, parent pid, CPU ticks)} from /proc."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1: raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        out[int(entry)] = (comm, int(fields[1]), int(fields[11]) + int(fields[12]))
    return out


@dataclass
class Snapshot:
    at: float
    processes: dict


def snapshot() -> Snapshot:
    return Snapshot(time.monotonic(), _processes())


def _descendants(processes: dict, root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (_comm, parent, _ticks) in processes.items():
        children.setdefault(parent, []).append(pid)
    found, stack = set(), [root]
    while stack:
        pid = stack.pop()
        found.add(pid)
        stack += children.get(pid, [])
    return found


def foreign_backends(server_url: str, prefix: str) -> set[int]:
    """PostgreSQL backends connected to databases other than ours (other people's tests)."""
    import psycopg
    import sqlalchemy as sa

    url = sa.engine.make_url(server_url).set(drivername="postgresql", database="postgres")
    try:
        with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname IS NOT NULL AND datname NOT LIKE %s "
                                "AND pid <> pg_backend_pid()", (prefix + "%",)).fetchall()
    except psycopg.Error:
        return set()
    return {pid for (pid,) in rows}


def usage(before: Snapshot, after: Snapshot, root: int | None = None, foreign: set[int] | frozenset = frozenset()
          ) -> dict:
    """Cores used between two snapshots by: ours (root and its descendants), PostgreSQL (ours and its
    background work), others (other processes, and PostgreSQL backends of other databases)."""
    root = root or os.getpid()
    ours = _descendants(after.processes, root) | _descendants(before.processes, root)
    seconds = max(after.at - before.at, 1e-6)
    totals = {"ours": 0, "postgres": 0, "others": 0}
    for pid, (comm, _parent, ticks) in after.processes.items():
        previous = before.processes.get(pid)
        delta = ticks - (previous[2] if previous and previous[0] == comm else 0)
        if delta <= 0:
            continue
        if pid in ours:
            kind = "ours"
        elif comm.startswith("postgres") and pid not in foreign:
            kind = "postgres"
        else:
            kind = "others"
        totals[kind] += delta
    return {kind: round(ticks / TICKS / seconds, 2) for kind, ticks in totals.items()}


def load_average() -> float:
    return os.getloadavg()[0]


class Window:
    """CPU use over the measured part of a run: `start()` and `stop()` take the snapshots."""

    def __init__(self, server_url: str | None = None, prefix: str = "labelpath_bench", app_pid: int | None = None):
        self.server_url, self.prefix, self.app_pid = server_url, prefix, app_pid
        self.before: Snapshot | None = None
        self.after: Snapshot | None = None

    def start(self) -> None:
        self.before = snapshot()

    def stop(self) -> None:
        self.after = snapshot()

    def result(self, cycles: int) -> dict:
        """{cores: {ours, postgres, others}, app_ms, pg_ms}: cores over the window, and CPU
        milliseconds per cycle of the app's processes (app_pid's tree) and of PostgreSQL."""
        if self.before is None or self.after is None:
            return {}
        foreign = foreign_backends(self.server_url, self.prefix) if self.server_url else set()
        cores = usage(self.before, self.after, foreign=foreign)
        seconds = self.after.at - self.before.at
        out = {"cores": cores}
        if cycles:
            out["pg_ms"] = cores["postgres"] * seconds / cycles * 1000
            out["ours_ms"] = cores["ours"] * seconds / cycles * 1000
            if self.app_pid:
                app = usage(self.before, self.after, root=self.app_pid)["ours"]
                out["app_ms"] = app * seconds / cycles * 1000
        return out
