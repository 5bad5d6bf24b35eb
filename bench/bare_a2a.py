"""A bare a2a-sdk server: the floor cost of the protocol stack that dealdesk's serving figures are compared with.

Run: `.venv/bin/python bench/bare_a2a.py --port 8090 --db sqlite:////tmp/bare.db [--workers N] [--log-level warning]`
(`bench/serve.py` starts it under uvicorn in a subprocess, next to `dealdesk serve`).

What it is:

- the SDK's `DefaultRequestHandlerV2` behind the SDK's JSON-RPC route (`create_jsonrpc_routes`, mounted
  with `add_a2a_routes_to_fastapi` on a FastAPI app, as dealdesk mounts its own) and its Agent Card route;
- the same task store and database as dealdesk: `make_task_backend(db_url)` from agent/server/a2a_tasks.py,
  i.e. a2a-sdk's cluster `VersionedDatabaseTaskStore` and `DatabaseTaskEventStream` on the same async
  engine settings (aiosqlite on a SQLite file, psycopg 3 on PostgreSQL), the same table names, and the
  same `interrupted_task_timeout` for parked INPUT_REQUIRED tasks;
- an `AgentExecutor` that answers at once, with no work: any message but an accept gets a fixed
  proposal data part (the shape and size of a dealdesk proposal, its version counting the buyer's
  messages) as a `proposal` artifact and the status message, and the task goes INPUT_REQUIRED; an
  `accept` gets a fixed deal (`deal` artifact) and the task goes COMPLETED. A new task starts
  SUBMITTED with the buyer's message in its history, as dealdesk's does.

What it leaves out (that is dealdesk's own cost): authentication and API keys, the limits middleware,
message-id retries (the message log), the seller turn (LangGraph, pricing, policy, guardrail, store
transactions, checkpoints, decision records), push notifications, reconciliation. No key is needed
(an Authorization header is ignored).

Several workers (`--workers N`, PostgreSQL only): the tables are created once here, then uvicorn runs
N processes through `app_from_env` (settings in the environment), as `dealdesk serve --workers N` does.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import datetime as dt
import json
import os
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events.event_queue_v2 import EventQueue
from a2a.server.request_handlers import DefaultRequestHandlerV2
from a2a.server.routes import (
    add_a2a_routes_to_fastapi,
    create_agent_card_routes,
    create_jsonrpc_routes,
)
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Artifact,
    Message,
    Part,
    Role,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from a2a.utils.constants import PROTOCOL_VERSION_1_0, TransportProtocol
from fastapi import FastAPI
from google.protobuf.json_format import ParseDict
from google.protobuf.struct_pb2 import Value

from agent.server.a2a_tasks import make_task_backend

SETTINGS_ENV = "BARE_A2A_SETTINGS"
PARKED_TASK_RELEASE_S = 300.0  # as agent/server/a2a.py

# A dealdesk proposal as the offline seller sends it (one line, three priced alternatives, terms).
PROPOSAL: dict[str, Any] = {
    "type": "proposal", "proposal_id": "P-0000000000", "version": 1, "status": "offered", "currency": "EUR",
    "region": "EU", "payment_terms": "NET30", "valid_until": "2026-12-10T00:00:00",
    "items": [{"sku": "FST-M8-WSH-A2", "name": "Washer M8 A2 stainless", "quantity": "10", "unit_price": "0.05",
               "list_price": "0.05", "discount_percent": "0.00", "line_total": "0.50", "lead_time_days": "2",
               "delivery_date": None}],
    "total": "0.50",
    "terms": {"liability_cap": "Liability is limited to the net value of the order.",
              "governing_law": "Laws of the State of Ohio (US orders) or of the Netherlands (EU orders); CISG "
                               "excluded.",
              "warranty": "12 months from delivery against defects in material and workmanship."},
    "alternatives": [
        {"kind": "related_sku", "sku": "FST-M8-NUT-A2", "name": "Hex nut M8 A2 stainless", "quantity": "10",
         "unit_price": "0.06", "line_total": "0.60", "lead_time_days": "2", "payment_terms": "NET30",
         "note": "FST-M8-NUT-A2 is compatible or related"},
        {"kind": "related_sku", "sku": "FST-M8-NYL-A2", "name": "Nylon lock nut M8 A2", "quantity": "10",
         "unit_price": "0.09", "line_total": "0.90", "lead_time_days": "2", "payment_terms": "NET30",
         "note": "FST-M8-NYL-A2 is compatible or related"},
        {"kind": "related_sku", "sku": "FST-M8X30-A2", "name": "Hex bolt M8x30 A2 stainless", "quantity": "10",
         "unit_price": "0.21", "line_total": "2.10", "lead_time_days": "2", "payment_terms": "NET30",
         "note": "FST-M8X30-A2 is compatible or related"},
    ],
    "pending": None,
}
PROPOSAL_TEXT = ("Proposal P-0000000000 version 1: 10 x FST-M8-WSH-A2 at 0.05 EUR each (0.50 EUR, ships in 2 days). "
                 "Total 0.50 EUR, payment NET30, valid until 2026-12-10. Also available: FST-M8-NUT-A2 (Hex nut M8 "
                 "A2 stainless) at 0.06 EUR each.")
DEAL: dict[str, Any] = {
    "type": "deal", "deal_id": "D-0000000000", "proposal_id": "P-0000000000", "version": 1, "currency": "EUR",
    "payment_terms": "NET30", "accepted_at": "2026-11-26T00:00:00", "total": "0.50",
    "items": [{"sku": "FST-M8-WSH-A2", "name": "Washer M8 A2 stainless", "quantity": "10", "unit_price": "0.05",
               "line_total": "0.50"}],
}
DEAL_TEXT = "Deal D-0000000000: proposal P-0000000000 version 1 accepted, total 0.50 EUR, payment NET30."


def _parts(data: dict[str, Any], text: str) -> list[Part]:
    value = Value()
    ParseDict(data, value)
    return [Part(data=value, media_type="application/json"), Part(text=text)]


def _status(state: int, message: Message) -> TaskStatus:
    status = TaskStatus(state=state)
    status.timestamp.FromDatetime(dt.datetime.now(dt.UTC))
    status.message.CopyFrom(message)
    return status


def _kind(message: Message | None) -> str | None:
    for part in message.parts if message is not None else ():
        if part.WhichOneof("content") == "data":
            fields = part.data.struct_value.fields
            return fields["type"].string_value if "type" in fields else None
    return None


class FixedProposalExecutor(AgentExecutor):
    """Answers at once: a fixed proposal (INPUT_REQUIRED), or a fixed deal on an accept (COMPLETED)."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id, context_id = context.task_id or "", context.context_id or ""
        current = context.current_task
        if current is None:
            await event_queue.enqueue_event(Task(
                id=task_id, context_id=context_id, status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED),
                history=[context.message] if context.message is not None else []))
        if _kind(context.message) == "accept":
            data, text, name, state = DEAL, DEAL_TEXT, "deal", TaskState.TASK_STATE_COMPLETED
        else:
            turns = 1 if current is None else 1 + sum(1 for m in current.history if m.role == Role.ROLE_USER)
            data = copy.copy(PROPOSAL)
            data["version"] = turns
            text, name, state = PROPOSAL_TEXT, "proposal", TaskState.TASK_STATE_INPUT_REQUIRED
        await event_queue.enqueue_event(TaskArtifactUpdateEvent(
            task_id=task_id, context_id=context_id, append=False, last_chunk=True,
            artifact=Artifact(artifact_id=name, name=name, parts=_parts(data, text))))
        reply = Message(message_id=f"{task_id}-{os.urandom(6).hex()}", role=Role.ROLE_AGENT, task_id=task_id,
                        context_id=context_id, parts=_parts(data, text))
        await event_queue.enqueue_event(TaskStatusUpdateEvent(task_id=task_id, context_id=context_id,
                                                              status=_status(state, reply)))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        reply = Message(message_id=os.urandom(8).hex(), role=Role.ROLE_AGENT, task_id=context.task_id or "",
                        context_id=context.context_id or "", parts=[Part(text="canceled")])
        await event_queue.enqueue_event(TaskStatusUpdateEvent(
            task_id=context.task_id or "", context_id=context.context_id or "",
            status=_status(TaskState.TASK_STATE_CANCELED, reply)))


def agent_card(base_url: str) -> AgentCard:
    return AgentCard(
        name="bare a2a-sdk seller", description="A fixed proposal at once; a fixed deal on accept.", version="1.0",
        supported_interfaces=[AgentInterface(url=base_url, protocol_binding=TransportProtocol.JSONRPC.value,
                                             protocol_version=PROTOCOL_VERSION_1_0)],
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=["application/json", "text/plain"], default_output_modes=["application/json", "text/plain"],
        skills=[AgentSkill(id="negotiate", name="Negotiate", description="rfq, counter_offer, accept",
                           tags=["negotiate"])])


def create_app(db_url: str, base_url: str) -> FastAPI:
    backend = make_task_backend(db_url)
    card = agent_card(base_url)
    handler = DefaultRequestHandlerV2(agent_executor=FixedProposalExecutor(), task_store=backend.task_store,
                                      agent_card=card, event_stream=backend.event_stream,
                                      interrupted_task_timeout=PARKED_TASK_RELEASE_S)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await initialize(backend)
        try:
            yield
        finally:
            await handler.aclose()
            await backend.aclose()

    app = FastAPI(title="bare a2a-sdk server", lifespan=lifespan)
    add_a2a_routes_to_fastapi(app, agent_card_routes=create_agent_card_routes(card),
                              jsonrpc_routes=create_jsonrpc_routes(handler, rpc_url="/"))

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    return app


async def initialize(backend: Any) -> None:
    """Create the task store's and event stream's tables (what dealdesk's TaskBackend.initialize does for them)."""
    for part in (backend.task_store, backend.event_stream):
        init = getattr(part, "initialize", None)
        if init is not None:
            await init()


def app_from_env() -> FastAPI:
    """The uvicorn factory for several workers: settings from BARE_A2A_SETTINGS."""
    s = json.loads(os.environ[SETTINGS_ENV])
    return create_app(s["db"], s["base_url"])


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    p.add_argument("--db", required=True, help="sqlite:///path or postgresql://... (the tables are created)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--log-level", default="warning")
    args = p.parse_args(argv)
    base_url = f"http://{args.host}:{args.port}"
    if args.workers == 1:
        uvicorn.run(create_app(args.db, base_url), host=args.host, port=args.port, log_level=args.log_level,
                    timeout_graceful_shutdown=5)
        return
    if args.db.startswith("sqlite"):
        raise SystemExit("--workers > 1 needs PostgreSQL, as dealdesk serve does")
    backend = make_task_backend(args.db)  # create the tables once, before the workers start

    async def setup() -> None:
        try:
            await initialize(backend)
        finally:
            await backend.aclose()

    asyncio.run(setup())
    os.environ[SETTINGS_ENV] = json.dumps({"db": args.db, "base_url": base_url})
    uvicorn.run("bare_a2a:app_from_env", factory=True, app_dir=str(Path(__file__).resolve().parent),
                host=args.host, port=args.port, workers=args.workers, log_level=args.log_level,
                timeout_graceful_shutdown=5)


if __name__ == "__main__":
    main()
