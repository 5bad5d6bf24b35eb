"""Database engines for SQLite (embedded default) and PostgreSQL (several processes), and migrations.

SQLite runs in WAL mode with synchronous=NORMAL (FULL for a deal's commit),
and write transactions start with BEGIN IMMEDIATE, so two writers serialise on
the database lock instead of failing halfway. PostgreSQL uses psycopg 3 through SQLAlchemy
(`postgresql+psycopg://`); turns of one negotiation serialise on a
transaction-level advisory lock.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, insert, select, text
from sqlalchemy.pool import QueuePool

from agent.store.schema import MIGRATIONS, SCHEMA_VERSION, schema_version


def utcnow() -> dt.datetime:
    """Naive UTC now: the only time representation stored."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class JsonText(str):
    """A value already encoded for a JSON column (`json.dumps`, as the column would): stored as it is."""


_JSON_COLUMN = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _json_serializer(value: Any) -> str:
    """A JSON column's text: orjson (compact, UTF-8); what it refuses goes to `json.dumps`, whose error (a
    Decimal, a datetime) is the one SQLAlchemy's default serializer gives."""
    if isinstance(value, JsonText):
        return value
    try:
        return orjson.dumps(value, option=_JSON_COLUMN).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value)


def normalise_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


_BEGIN = "dd_begin"  # key of a pooled SQLite connection's info: how its next transaction begins


def _sqlite_begin(dbapi_conn: Any) -> None:
    """BEGIN a SQLite transaction (the driver runs in autocommit: pysqlite's own do_begin does nothing).

    Writers take the write lock up front (two writers queue instead of failing halfway), as
    `transaction` asks; readers take none, so WAL lets them read while another process writes.
    """
    for sql in dbapi_conn.info.pop(_BEGIN, ("BEGIN",)):
        dbapi_conn.driver_connection.execute(sql)


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # A file database keeps a small pool: opening a connection (and its pragmas) costs more
        # than most queries. `:memory:` keeps SQLAlchemy's single shared connection.
        pool = {"poolclass": QueuePool, "pool_size": 8, "max_overflow": 8} if path and path != ":memory:" else {}
        engine = create_engine(url, **pool, json_serializer=_json_serializer,
                               connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - exercised by every test
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")  # WAL: a crashed process loses nothing; deals ask FULL
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        # The dialect's own hook, not a `begin` event: any connection event listened for on the engine
        # makes SQLAlchemy dispatch its events around every statement.
        engine.dialect.do_begin = _sqlite_begin
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True,
                         json_serializer=_json_serializer)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


@contextmanager
def transaction(engine: Engine, *, durable: bool = False) -> Iterator[Connection]:
    """One write transaction: committed on success, rolled back on any exception.

    `durable`: on SQLite the commit is fsynced (synchronous=FULL) before this returns; used for
    deals, which the buyer is told about only after they are on disk. PostgreSQL always is.
    """
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # fsync this commit, whatever the connection's default
            conn.connection.info[_BEGIN] = ("PRAGMA synchronous=FULL", "BEGIN IMMEDIATE") if durable else \
                ("BEGIN IMMEDIATE",)
        try:
            with conn.begin():
                yield conn
        finally:
            if durable and sqlite:
                conn.connection.driver_connection.execute("PRAGMA synchronous=NORMAL")


_NEGOTIATION_LOCK = text("SELECT pg_advisory_xact_lock(:k)")


def lock_negotiation(conn: Connection, negotiation_id: str) -> None:
    """Serialise turns of one negotiation across processes (SQLite: its write lock already does)."""
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(negotiation_id.encode()) - 2**31
        conn.execute(_NEGOTIATION_LOCK, {"k": key})


def current_version(conn: Connection) -> int:
    if not conn.dialect.has_table(conn, schema_version.name):
        return 0
    return conn.execute(select(schema_version.c.version).order_by(schema_version.c.version.desc())).scalar() or 0


def upgrade(engine: Engine) -> int:
    """Apply pending migrations; returns the schema version. Safe to run from several processes."""
    with transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7272001)"))
        version = current_version(conn)
        for n in range(version, SCHEMA_VERSION):
            MIGRATIONS[n](conn)
            conn.execute(insert(schema_version).values(version=n + 1, applied_at=utcnow()))
        return max(version, SCHEMA_VERSION)
