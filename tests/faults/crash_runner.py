"""Run one scheduled job in a process of its own and kill that process (SIGKILL: no cleanup, no
rollback, no `finally`) at an injected point, as a crashed or OOM-killed scheduler would die.

    python -m tests.faults.crash_runner CONFIG_JSON JOB_ID POINT N

POINT is where the N-th occurrence kills the process:
  flush   — after the N-th flush of the session (work written, not committed)
  commit  — right after the N-th commit (a unit of work is durable, the rest is not)
  answer  — right after the N-th answer of an outside service (FCM, Stripe) arrived over HTTP,
            before the job could record it (OAuth token answers do not count)
Exit status 3: the job finished without reaching the point (the test asked for a point that
does not exist, which it treats as a failure).
"""

from __future__ import annotations

import json
import os
import signal
import sys

import requests.adapters
from sqlalchemy import event
from sqlalchemy.orm import Session


def main() -> None:
    config, job_id, point, n = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    from backend import create_app
    from backend.scheduler import run_job

    app = create_app(config)
    seen = 0

    def hit(*_args, **_kwargs) -> None:
        nonlocal seen
        seen += 1
        if seen >= n:
            os.kill(os.getpid(), signal.SIGKILL)

    if point == "flush":
        event.listen(Session, "after_flush", hit)
    elif point == "commit":
        event.listen(Session, "after_commit", hit)
    elif point == "answer":
        send = requests.adapters.HTTPAdapter.send

        def answered(self, request, *args, **kwargs):
            response = send(self, request, *args, **kwargs)
            if not request.url.rstrip("/").endswith("/token"):
                hit()
            return response

        requests.adapters.HTTPAdapter.send = answered
    else:
        raise SystemExit(f"unknown point {point}")
    job = next(j for j in app.extensions["labelpath_jobs"] if j.id == job_id)
    run_job(app, job)
    sys.exit(3)


if __name__ == "__main__":
    main()
