"""Percentiles, the results table and bench/RESULTS.md."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS.md"


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100) by the nearest-rank method; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ms(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    value = seconds * 1000
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def machine() -> dict:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    try:
        nproc = int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError, ValueError):
        nproc = os.cpu_count() or 0
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = ""
    with contextlib.suppress(OSError):
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent.parent, check=False).stdout.strip()
    return {
        "cores": nproc,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
    }


@dataclass
class LoadRow:
    """One closed-loop run (or one ceiling run) at one concurrency."""

    label: str
    phones: int
    seconds: float = 0.0
    cycles: int = 0
    lease_latencies: list[float] = field(default_factory=list)
    submit_latencies: list[float] = field(default_factory=list)
    retry_latencies: list[float] = field(default_factory=list)
    leases: int = 0
    empty_leases: int = 0
    abandoned: int = 0
    retries: int = 0
    statuses: dict[str, int] = field(default_factory=dict)  # "lease 200": n, "submit 409": n, …
    errors_4xx: int = 0
    errors_5xx: int = 0
    exceptions: int = 0
    rss_mb: float | None = None
    pss_mb: float | None = None
    ceiling_cycles_per_s: float | None = None
    connections: int | None = None
    cpu: dict | None = None  # cores used during the run: ours / postgres / others (machine_load)
    app_ms: float | None = None  # CPU ms per cycle of the app's processes (gunicorn) or the ceiling driver
    pg_ms: float | None = None  # CPU ms per cycle of PostgreSQL
    note: str = ""

    @property
    def cycles_per_s(self) -> float | None:
        return self.cycles / self.seconds if self.seconds else None

    @property
    def ratio(self) -> float | None:
        if not self.ceiling_cycles_per_s or self.cycles_per_s is None:
            return None
        return self.cycles_per_s / self.ceiling_cycles_per_s

    @property
    def errors(self) -> int:
        return self.errors_4xx + self.errors_5xx + self.exceptions

    def summary(self) -> dict:
        return {
            "label": self.label, "phones": self.phones, "cycles_per_s": self.cycles_per_s,
            "lease_p50": percentile(self.lease_latencies, 50), "lease_p99": percentile(self.lease_latencies, 99),
            "submit_p50": percentile(self.submit_latencies, 50),
            "submit_p99": percentile(self.submit_latencies, 99),
            "errors": self.errors, "errors_5xx": self.errors_5xx, "rss_mb": self.rss_mb,
            "ratio": self.ratio, "cpu": self.cpu,
        }


@dataclass
class Report:
    settings: dict = field(default_factory=dict)
    load: list[LoadRow] = field(default_factory=list)  # app runs (PostgreSQL)
    ceiling: list[LoadRow] = field(default_factory=list)
    sqlite: list[LoadRow] = field(default_factory=list)
    scaling: list[dict] = field(default_factory=list)  # {tasks, lease_p50, lease_p99, sql_p50, …}
    analytics: list[dict] = field(default_factory=list)  # {name, seconds | None, note}
    invariants: list[dict] = field(default_factory=list)  # {database, check, violations, detail}
    targets: list[dict] = field(default_factory=list)  # {target, value, met}
    notes: list[str] = field(default_factory=list)
    sql_counts: dict = field(default_factory=dict)
    profiles: list[list[str]] = field(default_factory=list)
    ceiling_drift: bool = False
    failures: list[str] = field(default_factory=list)  # phases that crashed

    @property
    def violations(self) -> int:
        return sum(item["violations"] for item in self.invariants)


def _load_table(rows: list[LoadRow], with_ceiling: bool = True) -> list[str]:
    head = ("| run | phones | cycles/s | lease p50 ms | lease p99 ms | submit p50 ms | submit p99 ms "
            "| errors (4xx/5xx/exc) | app RSS MB (PSS) | CPU ms/cycle app / PostgreSQL "
            "| cores: bench+app / PostgreSQL / others |")
    line = "|---|---:|---:|---:|---:|---:|---:|---|---:|---|---|"
    if with_ceiling:
        head += " ceiling cycles/s | app/ceiling |"
        line += "---:|---:|"
    out = [head, line]
    for row in rows:
        cells = [
            row.label, str(row.phones), num(row.cycles_per_s, 0),
            ms(percentile(row.lease_latencies, 50)), ms(percentile(row.lease_latencies, 99)),
            ms(percentile(row.submit_latencies, 50)), ms(percentile(row.submit_latencies, 99)),
            f"{row.errors} ({row.errors_4xx}/{row.errors_5xx}/{row.exceptions})",
            "–" if row.rss_mb is None else f"{row.rss_mb:.0f} ({row.pss_mb:.0f})", _per_cycle(row), _cpu(row.cpu),
        ]
        if with_ceiling:
            cells += [num(row.ceiling_cycles_per_s, 0), "–" if row.ratio is None else f"{row.ratio:.2f}"]
        out.append("| " + " | ".join(cells) + " |")
    return out


def _per_cycle(row: LoadRow) -> str:
    if row.app_ms is None and row.pg_ms is None:
        return "–"
    return f"{num(row.app_ms, 1)} / {num(row.pg_ms, 1)}"


def _cpu(cpu: dict | None) -> str:
    if not cpu:
        return "–"
    return f"{cpu['ours']:.2f} / {cpu['postgres']:.2f} / {cpu['others']:.2f}"


def _ceiling_table(rows: list[LoadRow]) -> list[str]:
    out = ["| ceiling | concurrency | connections | cycles/s | lease p50 ms | lease p99 ms | answer p50 ms "
           "| answer p99 ms | errors | CPU ms/cycle driver / PostgreSQL | cores: bench / PostgreSQL / others |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for row in rows:
        out.append("| " + " | ".join([
            row.label, str(row.phones), str(row.connections or "–"), num(row.cycles_per_s, 0),
            ms(percentile(row.lease_latencies, 50)), ms(percentile(row.lease_latencies, 99)),
            ms(percentile(row.submit_latencies, 50)), ms(percentile(row.submit_latencies, 99)),
            str(row.errors), _per_cycle(row), _cpu(row.cpu)]) + " |")
    return out


def render(report: Report) -> str:
    m = report.settings.get("machine") or machine()
    out = ["# LabelPath benchmark results", ""]
    out.append(f"Machine: {m['cores']} cores ({m.get('cpu') or 'unknown CPU'}), {m['memory_gib']} GiB memory; "
               f"Python {m.get('python', '')}; run {m['date']}" + (f" at commit {m['commit']}" if m.get("commit")
                                                                    else "") + ".")
    s = report.settings
    if s:
        out.append("")
        out.append("Settings: " + "; ".join(f"{key} {value}" for key, value in s.items() if key != "machine") + ".")
    out += ["", "## Lease → submit, closed loop over HTTP (gunicorn on 127.0.0.1, PostgreSQL)", ""]
    out += _load_table(report.load) if report.load else ["(not run)"]
    if report.load:
        out.append("")
        for row in report.load:
            detail = ", ".join(f"{key}: {value}" for key, value in sorted(row.statuses.items()))
            out.append(f"- {row.label} @ {row.phones}: {row.leases} leases ({row.empty_leases} empty: nothing the "
                       f"worker may take), "
                       f"{row.cycles} submits, {row.abandoned} abandoned, {row.retries} retried with the same "
                       f"key (retry p50 {ms(percentile(row.retry_latencies, 50))} ms); statuses {detail}"
                       + (f"; {row.note}" if row.note else ""))
    out += ["", "## The ceiling: the same lease + answer SQL through psycopg, no HTTP", ""]
    if report.ceiling_drift:
        out += ["**The engine's SQL drifted from bench/ceiling.py (see the notes): the ceiling is approximate.**", ""]
    out += _ceiling_table(report.ceiling) if report.ceiling else ["(not run)"]
    out += ["", "## SQLite (the embedded default), same loop", ""]
    out += _load_table(report.sqlite, with_ceiling=False) if report.sqlite else ["(not run)"]
    out += ["", "## Scaling: lease latency as the pool grows (8 phones)", ""]
    if report.scaling:
        out += ["| tasks in the pool | lease p50 ms (HTTP) | lease p99 ms (HTTP) | lease p50 ms (SQL, with commit) "
                "| claim statement p50 / p99 ms | ratio to the smallest (HTTP p50) |", "|---:|---:|---:|---:|---:|---:|"]
        base = report.scaling[0].get("lease_p50")
        for row in report.scaling:
            ratio = row["lease_p50"] / base if base and row.get("lease_p50") else None
            out.append(f"| {row['tasks']:,} | {ms(row.get('lease_p50'))} | {ms(row.get('lease_p99'))} "
                       f"| {ms(row.get('sql_p50'))} | {ms(row.get('claim_p50'))} / {ms(row.get('claim_p99'))} "
                       f"| {'–' if ratio is None else f'{ratio:.2f}'} |")
    else:
        out.append("(not run)")
    out += ["", "## Analytics", ""]
    if report.analytics:
        out += ["| query | size | time ms | note |", "|---|---|---:|---|"]
        for row in report.analytics:
            out.append(f"| {row['name']} | {row.get('size', '')} | {ms(row.get('seconds'))} | {row.get('note', '')} |")
    else:
        out.append("(not run)")
    out += ["", "## Invariants (checked from the database after every run)", ""]
    if report.invariants:
        out += ["| database | check | violations | detail |", "|---|---|---:|---|"]
        for row in report.invariants:
            out.append(f"| {row['database']} | {row['check']} | {row['violations']} | {row.get('detail', '')} |")
        out.append("")
        out.append(f"**{'PASS' if report.violations == 0 else 'FAIL'}**: {report.violations} violation(s).")
    else:
        out.append("(not run)")
    if report.sql_counts:
        out += ["", "## Statements per request (SQL log of one request, in-process)", ""]
        for name, statements in report.sql_counts.items():
            out.append(f"- {name}: {len(statements)} statements")
    for lines in report.profiles:
        out += ["", "## Profile", ""] + lines
    if report.targets:
        out += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
        for row in report.targets:
            met = {True: "yes", False: "**no**", None: "n/a"}[row["met"]]
            out.append(f"| {row['target']} | {row['value']} | {met} |")
    if report.failures:
        out += ["", "## Failed phases", ""] + [f"- **{failure}**" for failure in report.failures]
    if report.notes:
        out += ["", "## Notes", ""]
        out += [f"- {note}" for note in report.notes]
    return "\n".join(out) + "\n"


def write(report: Report, path: Path = RESULTS_PATH) -> Path:
    path.write_text(render(report))
    return path
