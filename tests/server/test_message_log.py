"""The A2A message log: a repeated messageId is claimed once; a dead claim is taken over by one retry."""

from __future__ import annotations

import asyncio

import pytest

import dbutil
from agent.server.a2a_tasks import MessageLog, async_db_url, make_async_engine


def _engine(kind: str, tmp_path):
    if kind == "memory":
        yield None
        return
    if kind == "sqlite":
        yield make_async_engine(async_db_url(f"sqlite:///{tmp_path / 'log.db'}"))
        return
    dbutil.require_postgres()
    with dbutil.pg_schema() as url:
        yield make_async_engine(async_db_url(url))


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def log_engine(request: pytest.FixtureRequest, tmp_path):
    yield from _engine(request.param, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_log_engine(request: pytest.FixtureRequest, tmp_path):
    yield from _engine(request.param, tmp_path)


def test_a_claim_is_taken_over_once_and_only_as_it_was_read(log_engine) -> None:
    async def scenario() -> None:
        dead, a, b = MessageLog(log_engine, "dead-process"), MessageLog(log_engine, "proc-a"), \
            MessageLog(log_engine, "proc-b")
        if log_engine is None:  # in memory the log is one process's: one object plays every caller
            a = b = dead
        try:
            assert (await dead.claim("org", "m-1", "d")).state == "new"
            seen = await a.claim("org", "m-1", "d")
            assert (seen.state, seen.holder) == ("pending", "dead-process")
            assert (await b.claim("org", "m-1", "other")).state == "conflict"  # same id, another message
            wins = await asyncio.gather(a.take_over("org", "m-1", seen), b.take_over("org", "m-1", seen))
            assert sorted(wins) == [False, True]
            now = await b.claim("org", "m-1", "d")
            assert now.state == "pending" and now.updated_at != seen.updated_at
            assert not await b.take_over("org", "m-1", seen)  # read before the take-over: refused
            await a.complete("org", "m-1", "task-1", {"kind": "message", "value": {}})
            done = await b.claim("org", "m-1", "d")
            assert (done.state, done.task_id, done.response) == ("done", "task-1", {"kind": "message", "value": {}})
            assert not await b.take_over("org", "m-1", done)  # answered: never again
        finally:
            if log_engine is not None:
                await log_engine.dispose()

    asyncio.run(scenario())


def test_a_log_created_before_claims_named_their_process_gets_the_column(db_log_engine) -> None:
    from agent.server.a2a_tasks import MESSAGE_LOG_TABLE

    log_engine = db_log_engine

    async def scenario() -> None:
        try:
            async with log_engine.begin() as conn:  # the table as it was (no holder column), with a claim
                await conn.exec_driver_sql(
                    f"CREATE TABLE {MESSAGE_LOG_TABLE} (owner VARCHAR(255) NOT NULL, message_id VARCHAR(255) NOT NULL, "
                    "digest VARCHAR(64) NOT NULL, state VARCHAR(16) NOT NULL, task_id VARCHAR(64), response TEXT, "
                    "created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL, "
                    "CONSTRAINT pk_a2a_message_log PRIMARY KEY (owner, message_id))")
                await conn.exec_driver_sql(
                    f"INSERT INTO {MESSAGE_LOG_TABLE} (owner, message_id, digest, state, created_at, updated_at) "
                    "VALUES ('org', 'm-old', 'd', 'pending', '2026-11-26 00:00:00.000000', "
                    "'2026-11-26 00:00:00.000000')")  # as SQLAlchemy writes times on SQLite
            log = MessageLog(log_engine, "proc-new")
            old = await log.claim("org", "m-old", "d")
            assert (old.state, old.holder) == ("pending", None)  # no holder: only the timeout makes it stale
            assert await log.take_over("org", "m-old", old)
            assert (await log.claim("org", "m-new", "d")).state == "new"
            assert (await log.claim("org", "m-new", "d")).holder == "proc-new"
        finally:
            await log_engine.dispose()

    asyncio.run(scenario())
