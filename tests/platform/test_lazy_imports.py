"""The web process imports only what it serves with (issue #10, memory: ≤ 250 MB for gunicorn's
master + 2 workers). Libraries that only the CLI, the scheduler or a rare request need are imported
inside the functions that use them; `flask db …` still works (Flask-Migrate loads when invoked)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Not imported by the web app factory: Alembic/Flask-Migrate (migrations: the CLI), numpy (audio
# fingerprints of uploads), Pillow (images of course packs and quiz banks, and of uploads), stripe
# (payouts' gateway: only payouts and webhooks).
LAZY = ("numpy", "PIL", "flask_migrate", "alembic", "stripe")


def _python(code: str, **env) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_the_app_factory_imports_no_heavy_library_the_web_does_not_need(tmp_path):
    loaded = _python(
        "from backend import create_app\n"
        f"create_app({{'TESTING': True, 'SQLALCHEMY_DATABASE_URI': 'sqlite:///{tmp_path}/app.db', "
        "'SECRET_KEY': 'lazy-imports'})\n"
        "import sys\n"
        f"print(sorted(m for m in {LAZY!r} if m in sys.modules))")
    assert loaded == "[]"


def test_flask_db_commands_still_work(tmp_path):
    database = tmp_path / "cli.db"
    env = {"DATABASE_URL": f"sqlite:///{database}", "SECRET_KEY": "lazy-imports-cli", "FLASK_APP": "wsgi"}
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]

    def run(*args):
        result = subprocess.run([*flask, *args], cwd=ROOT, capture_output=True, text=True, timeout=180,
                                env={**os.environ, **env})
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    listed = run("--help")
    assert "db " in listed and "Perform database migrations." in listed
    help_text = run("db", "--help")
    for command in ("upgrade", "downgrade", "current", "heads", "backup"):
        assert command in help_text
    run("db", "upgrade")
    with sqlite3.connect(database) as conn:
        heads = [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]
    assert heads == [run("db", "heads").split()[0]]
    run("db", "backup", str(tmp_path / "copy.db"))
    assert (tmp_path / "copy.db").stat().st_size > 0
