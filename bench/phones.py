"""Closed-loop virtual phones: each its own worker and token, lease (count 1) → submit, no think time.

One asyncio loop drives every phone over raw HTTP/1.1 (keep-alive when the server keeps the
connection, a new connection when it answers `Connection: close` as gunicorn's sync workers do).
A request costs the load generator a few tens of microseconds, so on a 2-core machine nearly all
CPU stays with gunicorn and PostgreSQL. 10 % of leases are abandoned (never submitted; the expiry
job must recycle them), 5 % of submissions are sent a second time with the same Idempotency-Key.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass, field

from bench.report import LoadRow

LEASE_PATH = "/api/v1/assignments"
SUBMIT_PATH = "/api/v1/assignments/{id}/submission"
LOGIN_PATH = "/api/v1/auth/login"
REQUEST_TIMEOUT = 30.0


class HttpError(Exception):
    pass


class Connection:
    """One phone's connection: HTTP/1.1 with Content-Length bodies (and chunked, just in case)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.host_header = f"{host}:{port}".encode()

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: dict | None = None,
                      headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        payload = json.dumps(body).encode() if body is not None else b""
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self.host_header,
                 b"Content-Length: " + str(len(payload)).encode()]
        if body is not None:
            lines.append(b"Content-Type: application/json")
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}".encode())
        raw = b"\r\n".join(lines) + b"\r\n\r\n" + payload
        reused = self.writer is not None
        try:
            return await self._exchange(raw)
        except (ConnectionError, asyncio.IncompleteReadError) as error:
            self.close()
            # A kept-alive connection the server closed while idle: nothing was processed; once more.
            if reused and isinstance(error, asyncio.IncompleteReadError) and not error.partial:
                return await self._exchange(raw)
            if reused and isinstance(error, ConnectionResetError | BrokenPipeError):
                return await self._exchange(raw)
            raise

    async def _exchange(self, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            await self._open()
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head[:-4].split(b"\r\n")
        version, status = status_line.split(b" ", 2)[:2]
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode()] = value.strip().decode()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunked()
        else:
            body = await self.reader.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close" or version == b"HTTP/1.0":
            self.close()
        return int(status), headers, body

    async def _chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


@dataclass
class PhoneLog:
    """What the phones did, for the invariant checks (every retried submission counted once…)."""

    submitted: dict[int, str] = field(default_factory=dict)  # assignment id → Idempotency-Key (2xx)
    retried: dict[int, str] = field(default_factory=dict)  # assignment id → key sent twice
    abandoned: list[int] = field(default_factory=list)
    replay_mismatches: int = 0
    user_ids: list[int] = field(default_factory=list)


async def login_all(host: str, port: int, emails: list[str], password: str, parallel: int = 8) -> list[str]:
    """Each phone logs in as its own worker through the API; returns the access tokens."""
    semaphore = asyncio.Semaphore(parallel)

    async def one(email: str) -> str:
        async with semaphore:
            conn = Connection(host, port)
            try:
                status, _, body = await conn.request("POST", LOGIN_PATH, {"email": email, "password": password})
            finally:
                conn.close()
            if status != 200:
                raise HttpError(f"login of {email} answered {status}: {body[:300]!r}")
            return json.loads(body)["access_token"]

    return await asyncio.gather(*(one(email) for email in emails))


ACCURACY = 0.9  # a careful worker: right nine times in ten (gold tasks included)


def answer_for(assignment: dict, rng: random.Random) -> dict:
    """A valid answer for the leased task: the generator's label for that task (the gold answer of
    gold tasks) nine times in ten, another label otherwise. Random answers would fail the gold
    checks, and the quality floors would rightly pause the phones' workers on their projects."""
    from bench.datagen import LABELS, label_of

    if rng.random() < ACCURACY:
        return {"label": label_of(assignment["task"]["id"])}
    return {"label": rng.choice(LABELS)}


async def _phone(conn: Connection, token: str, row: LoadRow, log: PhoneLog, rng: random.Random,
                 measure_from: float, stop_at: float, abandon: float, retry: float) -> None:
    auth = {"Authorization": f"Bearer {token}"}

    def status(kind: str, code: int, measured: bool) -> None:
        if not measured:
            return
        name = f"{kind} {code}"
        row.statuses[name] = row.statuses.get(name, 0) + 1
        if 400 <= code < 500:
            row.errors_4xx += 1
        elif code >= 500:
            row.errors_5xx += 1

    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        measured = started >= measure_from
        try:
            code, _, body = await asyncio.wait_for(
                conn.request("POST", LEASE_PATH, {"count": 1}, auth), REQUEST_TIMEOUT)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            conn.close()
            if measured:
                row.exceptions += 1
            await asyncio.sleep(0.05)
            continue
        finished = time.perf_counter()
        status("lease", code, measured)
        if code >= 300:
            await asyncio.sleep(0.05)
            continue
        items = json.loads(body).get("assignments") or []
        if measured:
            row.lease_latencies.append(finished - started)
            row.leases += 1
        if not items:
            if measured:
                row.empty_leases += 1
            await asyncio.sleep(0.1)
            continue
        assignment = items[0]
        assignment_id = assignment["id"]
        if rng.random() < abandon:
            log.abandoned.append(assignment_id)
            if measured:
                row.abandoned += 1
            continue
        key = uuid.uuid4().hex
        submission = {"answer": answer_for(assignment, rng), "duration_ms": rng.randrange(2000, 30000)}
        headers = {**auth, "Idempotency-Key": key}
        path = SUBMIT_PATH.format(id=assignment_id)
        started = time.perf_counter()
        try:
            code, _, first_body = await asyncio.wait_for(
                conn.request("POST", path, submission, headers), REQUEST_TIMEOUT)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            conn.close()
            if measured:
                row.exceptions += 1
            continue
        finished = time.perf_counter()
        status("submit", code, measured)
        if code >= 300:
            continue
        log.submitted[assignment_id] = key
        if measured:
            row.submit_latencies.append(finished - started)
            row.cycles += 1
        if rng.random() < retry:
            # The phone lost the answer and sends the same request again with the same key.
            log.retried[assignment_id] = key
            started = time.perf_counter()
            try:
                code, headers_back, body = await asyncio.wait_for(
                    conn.request("POST", path, submission, headers), REQUEST_TIMEOUT)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                conn.close()
                if measured:
                    row.exceptions += 1
                continue
            status("retry", code, measured)
            if code >= 300 or json.loads(body) != json.loads(first_body):
                log.replay_mismatches += 1
            if measured:
                row.retries += 1
                row.retry_latencies.append(time.perf_counter() - started)


async def _run(host: str, port: int, tokens: list[str], duration: float, warmup: float, abandon: float,
               retry: float, seed: int, label: str, window=None) -> tuple[LoadRow, PhoneLog]:
    row = LoadRow(label=label, phones=len(tokens))
    log = PhoneLog()
    if window is not None:
        loop = asyncio.get_running_loop()
        loop.call_later(warmup, window.start)
        loop.call_later(warmup + duration, window.stop)
    now = time.perf_counter()
    measure_from = now + warmup
    stop_at = measure_from + duration
    conns = [Connection(host, port) for _ in tokens]
    try:
        await asyncio.gather(*(
            _phone(conn, token, row, log, random.Random(seed * 1000 + n), measure_from, stop_at, abandon, retry)
            for n, (conn, token) in enumerate(zip(conns, tokens, strict=True))))
    finally:
        for conn in conns:
            conn.close()
    row.seconds = duration
    return row, log


def run_phones(host: str, port: int, emails: list[str], password: str, *, duration: float, warmup: float = 2.0,
               abandon: float = 0.10, retry: float = 0.05, seed: int = 11, label: str = "app",
               window=None) -> tuple[LoadRow, PhoneLog]:
    """Log every phone in, then run the closed loop for warmup + duration seconds (measured: duration).
    `window.start()` / `window.stop()` are called when the measured part begins and ends."""

    async def main():
        tokens = await login_all(host, port, emails, password)
        return await _run(host, port, tokens, duration, warmup, abandon, retry, seed, label, window)

    return asyncio.run(main())
