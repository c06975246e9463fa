"""Workforce analytics timings: `backend.workforce.services.summary()` and `funnel()`.

Until that module exists (a later issue) the report carries a clearly marked "not available yet"
row; the moment it appears with both functions, the same code generates the analytics database
(100,000 workers, 1,000,000 submissions) and times them, with no change here.
"""

from __future__ import annotations

import importlib
import inspect
import time

NAMES = ("summary", "funnel")
# Jobs that keep the queries' rollups current in production: run one before timing (and report it).
PREPARE = ("rebuild_rollups", "refresh_rollups")
SLOW_S = 5.0


def available() -> tuple[bool, str]:
    try:
        module = importlib.import_module("backend.workforce.services")
    except ImportError as error:
        return False, f"not available yet: backend.workforce.services cannot be imported ({error})"
    missing = [name for name in NAMES if not callable(getattr(module, name, None))]
    if missing:
        return False, f"not available yet: backend.workforce.services has no {', '.join(missing)}()"
    return True, ""


def _call(func):
    """Call with no arguments; required parameters get neutral defaults (None) so a signature with
    filters still runs over everything."""
    params = inspect.signature(func).parameters.values()
    kwargs = {p.name: None for p in params
              if p.default is inspect.Parameter.empty and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    return func(**kwargs)


def measure(url: str, size: str, repeats: int = 3) -> list[dict]:
    """Best of 1 + `repeats` calls per query (a single call when the first takes over SLOW_S), in an
    app context on `url`, after the rollup job the queries read from."""
    ok, note = available()
    if not ok:
        return [{"name": f"workforce {name}", "size": size, "seconds": None, "note": note} for name in NAMES]
    from backend import create_app
    from backend.extensions import db
    from bench.server import SECRET_KEY

    module = importlib.import_module("backend.workforce.services")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY})
    rows = []
    with app.test_request_context():
        for name in PREPARE:
            job = getattr(module, name, None)
            if not callable(job):
                continue
            try:
                started = time.perf_counter()
                _call(job)
                db.session.commit()
                rows.append({"name": f"workforce {name} (scheduled job, run once first)", "size": size,
                             "seconds": time.perf_counter() - started, "note": "not a target: a background job",
                             "job": True})
            except Exception as error:  # noqa: BLE001 - reported, not fatal
                db.session.rollback()
                rows.append({"name": f"workforce {name}", "size": size, "seconds": None, "job": True,
                             "note": f"failed: {type(error).__name__}: {str(error)[:200]}"})
            break
        for name in NAMES:
            func = getattr(module, name)
            try:
                started = time.perf_counter()
                _call(func)
                first = time.perf_counter() - started
                db.session.rollback()
                if first > SLOW_S:  # far past the target: one run says enough
                    rows.append({"name": f"workforce {name}", "size": size, "seconds": first,
                                 "note": "one cold run (too slow to repeat)"})
                    continue
                best = first
                for _ in range(repeats):
                    started = time.perf_counter()
                    _call(func)
                    elapsed = time.perf_counter() - started
                    db.session.rollback()
                    best = min(best, elapsed)
                rows.append({"name": f"workforce {name}", "size": size, "seconds": best,
                             "note": f"best of {repeats + 1}"})
            except Exception as error:  # noqa: BLE001 - reported, not fatal
                db.session.rollback()
                rows.append({"name": f"workforce {name}", "size": size, "seconds": None,
                             "note": f"failed: {type(error).__name__}: {str(error)[:200]}"})
        db.engine.dispose()
    return rows
