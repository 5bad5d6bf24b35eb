"""The A2A message log: a repeated messageId is claimed once; a dead claim is taken over by one retry."""

from __future__ import annotations

import asyncio

import pytest

import dbutil
from agent.server.a2a_tasks import MessageLog, async_db_url, make_async_engine


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def log_engine(request: pytest.FixtureRequest, tmp_path):
    if request.param == "memory":
        yield None
        return
    if request.param == "sqlite":
        yield make_async_engine(async_db_url(f"sqlite:///{tmp_path / 'log.db'}"))
        return
    dbutil.require_postgres()
    with dbutil.pg_schema() as url:
        yield make_async_engine(async_db_url(url))


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
