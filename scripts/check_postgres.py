"""Exit 0 when the PostgreSQL server for tests answers, 1 otherwise (used by `make test`)."""

import os
import sys

import psycopg

url = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/")
try:
    psycopg.connect(url, dbname="postgres", connect_timeout=3).close()
except psycopg.Error as error:
    print(f"PostgreSQL not reachable at {url}: {error}", file=sys.stderr)
    sys.exit(1)
