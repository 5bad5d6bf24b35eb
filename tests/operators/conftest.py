"""Fixtures for the operator tests: the store parts run once on SQLite and once on PostgreSQL.

- `ops_url`: a SQLite file under tmp_path, or a throwaway PostgreSQL schema (tests/dbutil.py:
  skipped when unreachable, a failure under CI=true), with a lock timeout so a lock bug fails fast.
- `ops_store`: `Store(ops_url)`, disposed afterwards.
- `sim_day`: (module scope, both backends) a small simulated day driven through `Seller` (see day.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dbutil
import pytest

from agent.store import Store

PG_LOCK_TIMEOUT = "5s"


def _pg_url(url: str) -> str:
    from urllib.parse import quote, urlencode

    from sqlalchemy import make_url

    u = make_url(url)
    query = {**u.query, "options": f"{u.query.get('options', '')} -clock_timeout={PG_LOCK_TIMEOUT}".strip()}
    return f"{u.set(query={}).render_as_string(hide_password=False)}?{urlencode(query, quote_via=quote)}"


@pytest.fixture(params=["sqlite", "postgresql"])
def ops_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/ops.db"
        return
    with dbutil.pg_schema() as url:
        yield _pg_url(url)


@pytest.fixture
def ops_store(ops_url: str) -> Iterator[Store]:
    s = Store(ops_url)
    try:
        yield s
    finally:
        s.dispose()


@dataclass
class SimDay:
    url: str
    seller: Any
    day: Any

    @property
    def store(self) -> Store:
        return self.seller.store


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sim_day(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[SimDay]:
    """Ten negotiations (every buyer strategy, an approval, a guardrail block) on each backend."""
    from agent.config import load_data
    from agent.service import Seller

    from .day import leaky_model, simulate_day

    catalog, policy = load_data()
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('simday')}/day.db"
        ctx = None
    else:
        ctx = dbutil.pg_schema()
        url = _pg_url(ctx.__enter__())
    seller = Seller(catalog, policy, Store(url), model=leaky_model())
    try:
        day = simulate_day(seller, n=10, texts=1)
        yield SimDay(url, seller, day)
    finally:
        seller.close()
        if ctx is not None:
            ctx.__exit__(None, None, None)
