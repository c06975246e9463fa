"""py-spy on the gunicorn workers while a level runs; a summary of where their time went.

`python -m bench --profile 32` records the app's processes during the 32-phone level (py-spy must
be installed: requirements-dev.txt pins it) and writes bench/profiles/app-32.collapsed (open it in
speedscope or flamegraph.pl) plus the summary that the report quotes. It samples only the thread
holding the GIL (`--gil`): where the app's Python CPU goes, which is what limits cycles/s here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

PROFILES = Path(__file__).resolve().parent / "profiles"

# Buckets for the summary: the first pattern found in a stack (outermost first) names its bucket.
BUCKETS = [
    ("waiting for PostgreSQL (socket wait in psycopg)", ("psycopg/waiting.py", "wait_c", "(psycopg", "wait (psycopg")),
    ("argon2 / login", ("argon2",)),
    ("JSON logging / access log", ("logging/__init__.py", "observability.py:_finish")),
    ("SQLAlchemy ORM + Core (compile, execute, rows)", ("sqlalchemy/",)),
    ("psycopg (adapting, sending)", ("psycopg/",)),
    ("marshmallow / webargs / flask-smorest", ("marshmallow/", "webargs/", "flask_smorest/")),
    ("Flask / Werkzeug request handling", ("flask/", "werkzeug/")),
    ("gunicorn (accept, parse, write)", ("gunicorn/",)),
    ("LabelPath code (backend/, mobile_api/)", ("backend/", "mobile_api/")),
]


def available() -> bool:
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) is not None or shutil.which("py-spy") is not None


def _py_spy() -> str:
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy") or "py-spy"


class Recorder:
    """Record all processes under `pid` (gunicorn master) for `seconds` into `name`.collapsed."""

    def __init__(self, pid: int, seconds: float, name: str, rate: int = 200, idle: bool = False, gil: bool = True):
        PROFILES.mkdir(exist_ok=True)
        self.path = PROFILES / f"{name}.collapsed"
        cmd = [_py_spy(), "record", "--pid", str(pid), "--subprocesses", "--duration", str(int(seconds)),
               "--rate", str(rate), "--format", "raw", "--output", str(self.path), "--nonblocking"]
        if idle:
            cmd.append("--idle")
        if gil:
            cmd.append("--gil")  # only the thread holding the GIL: where the Python CPU goes
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def wait(self, timeout: float = 120) -> Path | None:
        try:
            _, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return None
        return self.path if self.path.exists() else None


def _bucket(frames: list[str]) -> str:
    """The innermost frame that belongs to a known layer names the bucket."""
    for frame in reversed(frames):
        for name, patterns in BUCKETS:
            if any(p in frame for p in patterns):
                return name
    return "other"


def _function(frame: str) -> str:
    """'name (path/to/file.py:12)' → 'name (path/to/file.py)'."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else frame


IDLE = ("wait_for_signals (gunicorn/arbiter.py", "_worker (concurrent/futures/thread.py", "select (selectors.py",
        "poll (selectors.py", "accept (socket.py")
INCLUSIVE = ("backend/", "mobile_api/", "flask_smorest/", "webargs/", "sqlalchemy/orm/session.py",
             "sqlalchemy/orm/loading.py", "sqlalchemy/engine/base.py", "psycopg/cursor.py", "flask/app.py")


def summarize(path: Path, top: int = 15) -> dict:
    """Shares of the busy samples: by layer (innermost known frame), by function inclusive of what
    it calls (LabelPath code and the main library entry points), and by self time."""
    buckets: Counter = Counter()
    leaves: Counter = Counter()
    inclusive: Counter = Counter()
    total = idle = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if frames and any(frames[-1].startswith(marker) for marker in IDLE):
            idle += n
            continue
        total += n
        leaves[frames[-1]] += n
        buckets[_bucket(frames)] += n
        for function in {_function(f) for f in frames if any(k in f for k in INCLUSIVE)}:
            inclusive[function] += n
    share = (lambda pairs: [(name, n / total) for name, n in pairs]) if total else (lambda pairs: [])
    return {"samples": total, "idle": idle, "buckets": share(buckets.most_common()),
            "inclusive": share(inclusive.most_common(40)), "self": share(leaves.most_common(top))}


def render(summary: dict, title: str) -> list[str]:
    out = [f"{title}: {summary['samples']:,} busy samples (idle threads left out).", "", "By layer (innermost):", ""]
    out += [f"- {share:6.1%}  {name}" for name, share in summary["buckets"]]
    out += ["", "Inclusive (a function and what it calls):", ""]
    out += [f"- {share:6.1%}  `{name}`" for name, share in summary["inclusive"]]
    out += ["", "Top self time:", ""]
    out += [f"- {share:6.1%}  `{name}`" for name, share in summary["self"]]
    return out
