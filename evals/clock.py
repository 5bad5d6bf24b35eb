"""A movable clock for cases that need time travel (an expired proposal, a pinned promotion date).

The seller reads the time through `agent.store.db.utcnow`, imported by name into
`agent.graph` and `agent.store.store`. There is no clock parameter on `Seller`
yet, so this module swaps those module attributes for the duration of one case
(process-local; cases run one at a time per process). Each patched name is
checked first: if the agent stops importing `utcnow` this way, the case fails
with a clear message instead of silently running on the real clock.
See the eval report's bug list: a `clock` argument on Seller/SellerGraph/Store
would make this unnecessary.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Iterator
from contextlib import contextmanager

from agent.store.db import utcnow as real_utcnow

PATCHED = ("agent.graph", "agent.store.store", "agent.store.db")


class ClockUnsupported(RuntimeError):
    pass


class EvalClock:
    """Real time plus an offset that cases can move forward."""

    def __init__(self, start: dt.datetime | None = None):
        self.offset = dt.timedelta(0)
        if start is not None:
            if start.tzinfo is not None:
                start = start.astimezone(dt.UTC).replace(tzinfo=None)
            self.offset = start - real_utcnow()

    def now(self) -> dt.datetime:
        return real_utcnow() + self.offset

    def advance(self, delta: dt.timedelta) -> None:
        self.offset += delta


@contextmanager
def patched(clock: EvalClock | None) -> Iterator[None]:
    """Make the seller read `clock` while the block runs (no-op for None)."""
    if clock is None:
        yield
        return
    saved = []
    try:
        for name in PATCHED:
            module = importlib.import_module(name)
            if getattr(module, "utcnow", None) is None:
                raise ClockUnsupported(f"{name} has no utcnow: the eval clock cannot move the seller's time")
            saved.append((module, module.utcnow))
            module.utcnow = clock.now
        yield
    finally:
        for module, original in saved:
            module.utcnow = original
