"""The web process does not load `stripe` (≈ 10-12 MB per worker with httpx and the rest) until it
really talks to Stripe: not at create_app, and not for views that only ask whether payouts are live."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, **env) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_stripe_is_loaded_only_when_stripe_is_called(tmp_path):
    printed = _python(
        "import sys\n"
        "from backend import create_app\n"
        f"app = create_app({{'TESTING': True, 'SQLALCHEMY_DATABASE_URI': 'sqlite:///{tmp_path}/app.db', "
        "'SECRET_KEY': 'lazy-stripe', 'STRIPE_API_KEY': 'sk_test_lazy', "
        "'STRIPE_API_BASE': 'http://127.0.0.1:9'})\n"
        "seen = ['stripe' in sys.modules]\n"
        "with app.app_context():\n"
        "    from backend.payouts import services\n"
        "    gateway = services.gateway()\n"
        "    seen.append(gateway.live and 'stripe' in sys.modules)\n"
        "    gateway.client\n"
        "    seen.append('stripe' in sys.modules)\n"
        "print(seen)")
    assert printed == "[False, False, True]"
