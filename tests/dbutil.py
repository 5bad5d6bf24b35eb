"""Database helpers shared by every suite that needs a real database (`import dbutil`).

- `pg_url()`: the PostgreSQL to test against: `$DEALDESK_TEST_PG_URL`, or the local default.
- `require_postgres()`: skip the test when that server does not answer, with the reason;
  under CI (`CI=true`) a missing database is a failure instead, never a silent skip.
- `pg_schema()`: a throwaway schema `dd_t_<hex>` and a URL whose connections live in it
  (`options=-csearch_path=<schema>`), so `Store(url)` builds its tables there; the schema is
  dropped with CASCADE afterwards.
"""

from __future__ import annotations

import functools
import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from agent.store.db import normalise_url

PG_URL_ENV = "DEALDESK_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SCHEMA_PREFIX = "dd_t_"
CONNECT_TIMEOUT_S = 3


def pg_url() -> str:
    """The PostgreSQL URL under test, normalised to the psycopg 3 driver."""
    return normalise_url(os.environ.get(PG_URL_ENV) or DEFAULT_PG_URL)


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def shown(url: str) -> str:
    """The URL with any password masked, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def _admin_engine(url: str):
    return create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})


@functools.lru_cache(maxsize=None)
def pg_unreachable(url: str) -> str | None:
    """None when the server answers `SELECT 1`, else why not (remembered per URL for the session)."""
    try:
        engine = _admin_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the reason to report
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"{type(exc).__name__}: {first_line}"
    return None


def require_postgres(url: str | None = None) -> str:
    """Return the URL if PostgreSQL answers; otherwise skip (fail under CI=true) with the reason."""
    url = url or pg_url()
    reason = pg_unreachable(url)
    if reason is not None:
        message = f"PostgreSQL not reachable at {shown(url)}: {reason}"
        print(message, file=sys.stderr)
        if under_ci():
            pytest.fail(f"{message} (CI=true: a skipped database test counts as a failure; "
                        f"start PostgreSQL or set {PG_URL_ENV})", pytrace=False)
        pytest.skip(message)
    return url


def with_search_path(url: str, schema: str) -> str:
    """The URL whose connections use `schema` for unqualified names (tables land there)."""
    u = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return u.render_as_string(hide_password=False)


@contextmanager
def pg_schema(url: str | None = None, prefix: str = SCHEMA_PREFIX) -> Iterator[str]:
    """Create a fresh empty schema, yield a URL scoped to it, drop it (CASCADE) afterwards."""
    url = require_postgres(url)
    schema = f"{prefix}{secrets.token_hex(6)}"
    engine = _admin_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield with_search_path(url, schema)
    finally:
        try:
            with engine.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '10s'"))
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            engine.dispose()


def named_url(url: str, name: str) -> str:
    """`url` whose connections carry `application_name` `name`, so a test can cut exactly its own (`terminate`)."""
    return make_url(url).update_query_dict({"application_name": name}).render_as_string(hide_password=False)


def terminate(name: str) -> int:
    """Terminate every backend whose application_name is `name` (a test's own) and wait until they are gone;
    returns how many. The pids are listed first and only those terminated: a terminate inside a WHERE clause may
    run on rows the filter would reject (the planner orders the conditions), cutting other sessions."""
    import time

    admin = create_engine(pg_url(), poolclass=NullPool, isolation_level="AUTOCOMMIT")  # pg_stat_activity afresh
    try:
        with admin.connect() as conn:
            pids = [r[0] for r in conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE application_name = :n AND pid <> pg_backend_pid()"),
                {"n": name})]
            conn.execute(text("SELECT pg_terminate_backend(p) FROM unnest(CAST(:p AS int[])) AS p"), {"p": pids})
            deadline = time.monotonic() + 10
            while pids and time.monotonic() < deadline and conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:p)"), {"p": pids}).scalar():
                time.sleep(0.02)
        return len(pids)
    finally:
        admin.dispose()
