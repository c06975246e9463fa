"""LabelPath benchmarks: `make bench` (full) or `make bench QUICK=1` (under two minutes).

Layout:
- datagen.py     a realistic workforce and task pool (bulk COPY on PostgreSQL, executemany on SQLite)
- server.py      gunicorn on 127.0.0.1 over a given DATABASE_URL; total RSS/PSS of its processes
- phones.py      closed-loop virtual phones (asyncio, raw HTTP/1.1): lease → submit, abandon, retry
- ceiling.py     the engine's lease + answer SQL straight through psycopg, same concurrency, no HTTP
- expiry.py      the lease-expiry job run in a loop in its own process while the load runs
- invariants.py  the checks run against the database after every run (any violation fails)
- analytics.py   workforce summary/funnel timings (reported "not available yet" until they exist)
- report.py      percentiles, the table, bench/RESULTS.md
- run.py         the orchestration that __main__ drives

Speed is measured here, never by timed unit tests; tests/bench/test_smoke.py runs it tiny.
"""
