"""A PostgreSQL outage (every backend terminated, as a database restart does): the server recovers on its
own once the database answers again, and /readyz says so only when every way a turn reaches the
database works (the store, the checkpointer's pool, the liveness lock).

Each test runs on a throwaway schema whose connections carry their own `application_name`, and only
those backends are terminated: other tests and developers on the same database are left alone.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import dbutil

from .conftest import spawn_server, start_in_process


@pytest.fixture()
def pg_app() -> Iterator[tuple[str, str]]:
    """(URL of a fresh schema whose connections are named, that name)."""
    with dbutil.pg_schema() as url:
        name = f"dd_t_outage_{secrets.token_hex(4)}"
        yield dbutil.named_url(url, name), name


def send(url: str, key: str, data: dict[str, Any], task_id: str | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"messageId": uuid.uuid4().hex, "role": "ROLE_USER", "parts": [{"data": data}]}
    if task_id:
        msg["taskId"] = task_id
    r = httpx.post(url + "/", json={"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": msg}},
                   headers={"Authorization": f"Bearer {key}", "A2A-Version": "1.0"}, timeout=30)
    assert r.status_code == 200 and "result" in r.json(), r.text
    return r.json()["result"]["task"]


def proposal_of(task: dict[str, Any]) -> dict[str, Any]:
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED", task["status"]
    data = next(p["data"] for p in task["status"]["message"]["parts"] if "data" in p)
    assert data["type"] == "proposal", data
    return data


RFQ = {"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "200"}]}


def test_turns_and_readiness_recover_after_the_database_drops_every_connection(pg_app: tuple[str, str]) -> None:
    url, name = pg_app
    live, running = start_in_process(url, rate_per_second=1000.0, rate_burst=2000)
    try:
        key = live.keys["buyer_eu"]
        task = send(live.url, key, RFQ)
        proposal_of(task)
        token = live.ctx.liveness.token

        assert dbutil.terminate(name) > 0
        # the next turn of the same negotiation works (its checkpoint is read on a new connection)
        again = send(live.url, key, {"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "300"}]},
                     task_id=task["id"])
        offer = proposal_of(again)
        r = httpx.get(live.url + "/readyz", timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["checkpoints"] == "ok" and r.json()["liveness"] == "ok"

        assert dbutil.terminate(name) > 0
        with live.client("buyer_eu") as c:  # a REST acceptance right after: a seller turn too
            r = c.post(f"/v1/proposals/{offer['proposal_id']}/accept", json={"version": offer["version"]},
                       headers={"Idempotency-Key": uuid.uuid4().hex})
            assert r.status_code == 200, r.text

        assert dbutil.terminate(name) > 0
        # the liveness lock is taken again without anyone asking: the process looks alive to the others
        from agent.store.liveness import Liveness

        observer = Liveness(live.ctx.seller.store.engine)
        deadline = time.monotonic() + 10
        while observer.dead(token) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not observer.dead(token), "this live process still looks dead to the others"
    finally:
        running.stop()


def test_readiness_is_not_ready_while_the_checkpointer_or_the_liveness_lock_cannot_reach_the_database(
        tmp_path) -> None:
    from types import SimpleNamespace

    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg_pool import ConnectionPool

    from agent.server.app import readiness
    from agent.store import Store

    store = Store(f"sqlite:///{tmp_path / 'ready.db'}")
    down = ConnectionPool("postgresql://postgres@127.0.0.1:1/nope?connect_timeout=1", min_size=1, open=False)
    down.open(wait=False)
    try:
        ok, body = readiness(SimpleNamespace(seller=SimpleNamespace(store=store, checkpointer=PostgresSaver(down)),
                                             liveness=None))
        assert not ok and body["status"] == "unavailable" and body["checkpoints"] == "unreachable"
        lost = SimpleNamespace(held=lambda: False)
        ok, body = readiness(SimpleNamespace(seller=SimpleNamespace(store=store, checkpointer=None), liveness=lost))
        assert not ok and body["status"] == "unavailable" and body["liveness"] == "lost"
        ok, body = readiness(SimpleNamespace(seller=SimpleNamespace(store=store, checkpointer=None),
                                             liveness=SimpleNamespace(held=lambda: True)))
        assert ok and body["status"] == "ready"
    finally:
        down.close()
        store.dispose()


def test_two_instances_of_two_workers_start_at_once_on_a_fresh_database_and_survive_an_outage(
        pg_app: tuple[str, str], tmp_path) -> None:
    """The QA scenario: `dealdesk serve --workers 2` twice at once on a migrated schema with no checkpoint
    tables yet (no deadlock in their setup), then every backend terminated: both answer turns again."""
    from agent.store import Store
    from agent.store.keys import KeyStore

    url, name = pg_app
    store = Store(url)  # as `dealdesk db upgrade` and `dealdesk keys create` would, before the start
    try:
        _, key = KeyStore(store.engine).create("buyer", org="acme-eu", region="EU", segment="standard",
                                               currency="EUR", label="outage test buyer")
    finally:
        store.dispose()
    servers: list[Any] = []
    errors: list[BaseException] = []

    def start(i: int) -> None:
        try:
            servers.append(spawn_server(url, workers=2, demo=False, log=tmp_path / f"serve-{i}.log",
                                        extra_args=["--instances", "2"]))  # two share the server's connections
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert not errors, errors
        assert len(servers) == 2
        assert dbutil.terminate(name) > 0
        for server in servers:
            for _ in range(2):  # each worker, likely
                proposal_of(send(server.url, key, RFQ))
            r = httpx.get(server.url + "/readyz", timeout=30)
            assert r.status_code == 200 and r.json()["liveness"] == "ok", r.text
    finally:
        for server in servers:
            server.stop()
