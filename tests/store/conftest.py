"""Fixtures for the storage tests: every test runs once on SQLite and once on PostgreSQL.

- `store_url`: SQLite in a file under tmp_path, or a fresh PostgreSQL schema per test
  (see tests/dbutil.py; unreachable PostgreSQL skips, or fails under CI=true).
- `store`: `Store(store_url)`, migrated, disposed afterwards.
- `open_store`: opens more `Store`s on the same database (all disposed afterwards).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import dbutil
import pytest

from agent.store import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/dealdesk.db"
        return
    with dbutil.pg_schema() as url:
        yield url


@pytest.fixture
def open_store(store_url: str) -> Iterator[Callable[..., Store]]:
    opened: list[Store] = []

    def _open(**kwargs) -> Store:
        s = Store(store_url, **kwargs)
        opened.append(s)
        return s

    yield _open
    for s in opened:
        s.dispose()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    try:
        yield s
    finally:
        s.dispose()
