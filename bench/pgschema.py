"""A throwaway PostgreSQL schema for one benchmark run (shared by bench/*.py): created at once,
dropped with everything in it when the run's ExitStack closes, so nothing else is touched."""

from __future__ import annotations

import secrets
from contextlib import ExitStack
from urllib.parse import quote


def throwaway_schema(pg_url: str, stack: ExitStack, *, options: str = "") -> str:
    """A URL like `pg_url` whose connections live in a fresh schema `dd_bench_<hex>`.

    `options`: more libpq `-c` settings for those connections (for instance `-clock_timeout=20s`).
    """
    import psycopg

    schema = f"dd_bench_{secrets.token_hex(6)}"
    admin = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute("SET lock_timeout = '10s'")
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    stack.callback(drop)
    # %20, not "+": libpq does not read "+" in a URI as a space (SQLAlchemy would render one).
    quoted = quote(f"-csearch_path={schema} {options}".strip(), safe="")
    return f"{pg_url}{'&' if '?' in pg_url else '?'}options={quoted}"
