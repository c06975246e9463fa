"""Capture what a domain event carried, for tests of the senders."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def captured(signal):
    """The keyword arguments of every send of `signal` inside the block, in order."""
    seen: list[dict] = []

    def receiver(_sender=None, **kwargs):
        seen.append(kwargs)

    signal.connect(receiver)
    try:
        yield seen
    finally:
        signal.disconnect(receiver)
