"""25 buyers race, over A2A, to accept proposals covering the last units of one SKU.

Each buyer (its own organisation and key, its own A2A client and task) gets a proposal for
10 units while stock is plentiful. Then the proposals' holds lapse (released; the proposals
stay open) and the stock drops to the last 100 units: every acceptance must now take stock
with the store's conditional update. All 25 accept at the same moment. Exactly 10 deals are
made, the other 15 buyers are told `insufficient_inventory` (their tasks stay open), and the
allocation never exceeds the stock.

SQLite: one in-process server. PostgreSQL: two `dealdesk serve` worker processes on one database
(the buyers' requests land on either; any process serves any task).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update

from a2a.types.a2a_pb2 import TaskState

from agent.store import Store
from agent.store import schema as t
from agent.store.keys import KeyStore

from .conftest import spawn_server
from .test_a2a import accept, artifact, client_for, data_of, database, message, rfq, send

BUYERS = 25
UNITS = 10
LAST_UNITS = 100
SKU = "BRG-6205"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite", "postgresql"])
def racing_server(request: pytest.FixtureRequest, live_server_factory: Any,
                  tmp_path: Any) -> Iterator[tuple[Any, Store]]:
    """(server with .url, the store on its database)."""
    with database(request.param) as db_url:
        if db_url is None:
            server = live_server_factory(rate_per_second=1000.0, rate_burst=2000)
            yield server, server.ctx.seller.store
            return
        spawned = spawn_server(db_url, workers=2, log=tmp_path / "serve.log",
                               extra_args=["--rate", "1000", "--burst", "2000"])
        store = Store(db_url)
        try:
            yield spawned, store
        finally:
            store.dispose()
            spawned.stop()


@pytest.mark.anyio
async def test_25_buyers_race_for_the_last_units(racing_server: tuple[Any, Store]) -> None:
    server, store = racing_server
    keys = KeyStore(store.engine)
    texts = [keys.create("buyer", org=f"race-{i:02d}", region="EU", segment="standard", currency="EUR")[1]
             for i in range(BUYERS)]
    clients = await asyncio.gather(*[client_for(server, k) for k in texts])
    try:
        tasks = await asyncio.gather(*[send(c, message(rfq(SKU, UNITS))) for c in clients])
        proposals = [data_of(task) for task in tasks]
        assert all(p["type"] == "proposal" and p["status"] == "offered" for p in proposals), proposals

        # The holds lapse; the proposals stay open. Then only the last 100 units are left.
        for p in proposals:
            store.set_proposal_status(p["proposal_id"], p["version"], "offered", release_holds=True)
        before = store.stock(SKU)
        assert before["held"] == 0
        with store.engine.begin() as conn:
            conn.execute(update(t.inventory).where(t.inventory.c.sku == SKU)
                         .values(on_hand=before["allocated"] + LAST_UNITS))

        results = await asyncio.gather(*[send(c, message(accept(p), task=task))
                                         for c, p, task in zip(clients, proposals, tasks, strict=True)])
        won = [r for r in results if r.status.state == TaskState.TASK_STATE_COMPLETED]
        lost = [r for r in results if r.status.state != TaskState.TASK_STATE_COMPLETED]
        assert len(won) == LAST_UNITS // UNITS
        assert all(artifact(r, "deal") is not None for r in won)
        assert all(r.status.state == TaskState.TASK_STATE_INPUT_REQUIRED for r in lost)
        assert {data_of(r)["code"] for r in lost} == {"insufficient_inventory"}

        after = store.stock(SKU)
        assert after["allocated"] - before["allocated"] == LAST_UNITS
        assert after["allocated"] + after["held"] <= after["on_hand"]
        assert after["available"] == 0
        deals = [d for task in tasks for d in store.deals(negotiation_id=task.id)]
        assert len(deals) == len(won)
        assert sum(int(i["quantity"]) for d in deals for i in d.body["items"]) == LAST_UNITS
    finally:
        await asyncio.gather(*[c.close() for c in clients])
