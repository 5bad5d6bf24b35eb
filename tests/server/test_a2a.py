"""A2A 1.0 over real HTTP with the official a2a-sdk client (`create_client`), against the app under uvicorn.

One server for this module (fresh SQLite, demo keys). Each test negotiates on its own tasks;
SKUs and quantities are chosen so the tests never share stock or an organisation's hold cap.
"""

from __future__ import annotations

import datetime as dt
import asyncio
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.struct_pb2 import Value

from a2a.client import A2ACardResolver, ClientConfig, create_client
from a2a.client.errors import A2AClientError
from a2a.server.cluster.version import TaskVersion
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import (
    AuthenticationInfo,
    CancelTaskRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    SubscribeToTaskRequest,
    Task,
    TaskPushNotificationConfig,
    TaskState,
    TaskStatus,
)
from a2a.utils.errors import A2AError

from agent.server.a2a import new_task_id
from agent.server.a2a_executor import BuyerUser
from agent.server.a2a_tasks import message_digest
from agent.service import Buyer

S = TaskState


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# Tests whose subject does not depend on the database run on SQLite only.
SQLITE_ONLY = pytest.mark.parametrize("server", ["sqlite"], indirect=True)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, live_server_factory: Any) -> Iterator[Any]:
    """The server on a fresh SQLite file, then on a fresh PostgreSQL schema (skipped if unreachable)."""
    with database(request.param) as db_url:
        live = live_server_factory(db_url=db_url, rate_per_second=1000.0, rate_burst=2000, push_allow_local=True)
        live.app.state.a2a.backend.push_sender.base_delay = 0.05  # retries within the test's patience
        live.app.state.a2a.backend.push_sender.max_delay = 0.2
        yield live


@contextmanager
def database(kind: str) -> Iterator[str | None]:
    """None for the factory's fresh SQLite file, or a fresh PostgreSQL schema's URL."""
    if kind == "sqlite":
        yield None
        return
    import dbutil

    with dbutil.pg_schema() as url:
        yield url


# --- helpers ---------------------------------------------------------------------------------


def message(data: dict[str, Any] | None = None, text: str | None = None, task: Task | None = None,
            message_id: str | None = None) -> Message:
    parts = []
    if data is not None:
        value = Value()
        ParseDict(data, value)
        parts.append(Part(data=value))
    if text is not None:
        parts.append(Part(text=text))
    return Message(message_id=message_id or uuid.uuid4().hex, role=Role.ROLE_USER, parts=parts,
                   task_id=task.id if task is not None else "", context_id=task.context_id if task is not None else "")


async def client_for(server: Any, key: str | None, *, streaming: bool = False, bindings: list[str] | None = None):
    headers = {"Authorization": f"Bearer {server.keys.get(key, key)}"} if key else {}
    http = httpx.AsyncClient(headers=headers, timeout=30)
    config = ClientConfig(httpx_client=http, streaming=streaming, supported_protocol_bindings=bindings or [])
    return await create_client(server.url, config)


async def events_of(client: Any, msg: Message, config: SendMessageConfiguration | None = None) -> list[Any]:
    request = SendMessageRequest(message=msg)
    if config is not None:
        request.configuration.CopyFrom(config)
    return [ev async for ev in client.send_message(request)]


async def send(client: Any, msg: Message, config: SendMessageConfiguration | None = None) -> Task:
    """Send one message (non-streaming client) and return the task it answered with."""
    events = await events_of(client, msg, config)
    assert len(events) == 1 and events[0].HasField("task"), events
    return events[0].task


def data_of(task_or_msg: Any) -> dict[str, Any]:
    msg = task_or_msg.status.message if isinstance(task_or_msg, Task) else task_or_msg
    parts = [p for p in msg.parts if p.WhichOneof("content") == "data"]
    assert parts, msg
    return MessageToDict(parts[0].data)


def text_of(task: Task) -> str:
    return " ".join(p.text for p in task.status.message.parts if p.WhichOneof("content") == "text")


def artifact(task: Task, name: str) -> dict[str, Any] | None:
    for a in task.artifacts:
        if a.name == name:
            return MessageToDict(a.parts[0].data)
    return None


def rfq(sku: str, quantity: int, **extra: Any) -> dict[str, Any]:
    return {"type": "rfq", "items": [{"sku": sku, "quantity": str(quantity)}], **extra}


def counter(proposal: dict[str, Any], price: str) -> dict[str, Any]:
    return {"type": "counter_offer", "proposal_id": proposal["proposal_id"], "version": proposal["version"],
            "items": [{"sku": i["sku"], "quantity": i["quantity"], "unit_price": price} for i in proposal["items"]]}


def accept(proposal: dict[str, Any]) -> dict[str, Any]:
    return {"type": "accept", "proposal_id": proposal["proposal_id"], "version": proposal["version"]}


def rpc(server: Any, method: str, params: dict[str, Any], key: str | None = "buyer_eu",
        path: str = "/") -> httpx.Response:
    headers = {"A2A-Version": "1.0"}
    if key:
        headers["Authorization"] = f"Bearer {server.keys.get(key, key)}"
    return httpx.post(server.url + path, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                      headers=headers, timeout=30)


class Receiver:
    """A local push-notification receiver: records (headers, body); the first `fail_first` posts get 503."""

    def __init__(self, fail_first: int = 0):
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.attempts = 0
        self.fail_first = fail_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.attempts += 1
                if outer.attempts <= outer.fail_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                outer.received.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def states(self) -> list[str]:
        out = []
        for _, body in self.received:
            if "statusUpdate" in body:
                out.append(body["statusUpdate"]["status"]["state"])
            elif "task" in body:
                out.append(body["task"]["status"]["state"])
        return out


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)


# --- the agent card ----------------------------------------------------------------------------


@SQLITE_ONLY
def test_agent_card(server: Any) -> None:
    r = httpx.get(server.url + "/.well-known/agent-card.json")
    assert r.status_code == 200
    card = r.json()
    assert {s["id"] for s in card["skills"]} == {"catalog_search", "quote", "negotiate", "questions", "accept"}
    assert card["capabilities"]["streaming"] is True
    assert card["capabilities"]["pushNotifications"] is True
    scheme = card["securitySchemes"]["bearer"]["httpAuthSecurityScheme"]
    assert scheme["scheme"] == "Bearer"
    assert card["securityRequirements"] == [{"schemes": {"bearer": {}}}]
    jsonrpc = [i for i in card["supportedInterfaces"] if i["protocolBinding"] == "JSONRPC"]
    assert jsonrpc and jsonrpc[0]["url"] == server.url and jsonrpc[0]["protocolVersion"] == "1.0"
    (ext,) = card["capabilities"]["extensions"]
    for link in (ext["params"]["buyerMessageSchema"], ext["params"]["sellerMessageSchema"]):
        assert link.startswith(server.url + "/schemas/")
        schema = httpx.get(link)
        assert schema.status_code == 200 and schema.json()["title"].startswith("dealdesk")
    assert "not_authorized_for_region" in ext["params"]["errorCodes"]
    # every message type of the wire contract, the structured question and its answer too
    assert ext["params"]["buyerTypes"] == ["catalog_query", "rfq", "counter_offer", "accept", "reject", "question"]
    assert ext["params"]["sellerTypes"] == ["catalog_results", "proposal", "deal", "closed", "error", "answer"]


@SQLITE_ONLY
@pytest.mark.anyio
async def test_card_through_the_sdk(server: Any) -> None:
    async with httpx.AsyncClient() as http:
        card = await A2ACardResolver(http, server.url).get_agent_card()
    assert card.capabilities.streaming and card.capabilities.push_notifications
    assert "bearer" in card.security_schemes


# --- negotiations ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_message_naming_its_task_but_no_context_continues_the_tasks_context(server: Any) -> None:
    """A2A: the contextId is optional when the taskId is given. Follow-ups with only the taskId stay in the task's
    context, reply after reply (the SDK made up a new context for the first one, and the second then failed the
    task after its turn had run)."""
    client = await client_for(server, "buyer_eu")
    task = await send(client, message(rfq("FST-M8-WSH-A2", 100)))  # a product no other test here negotiates
    proposal = data_of(task)
    for price in ("0.01", "0.02", "0.03"):
        msg = message(counter(proposal, price), task=task)
        msg.context_id = ""
        got = await send(client, msg)
        assert got.id == task.id and got.status.state == S.TASK_STATE_INPUT_REQUIRED, text_of(got)
        assert got.context_id == task.context_id and got.status.message.context_id == task.context_id
        proposal = data_of(got)
        assert proposal["type"] == "proposal"
    msg = message(accept(proposal), task=task)
    msg.context_id = ""
    done = await send(client, msg)
    assert done.status.state == S.TASK_STATE_COMPLETED and artifact(done, "deal") is not None


@pytest.mark.anyio
async def test_happy_path_rfq_proposal_accept_deal(server: Any) -> None:
    client = await client_for(server, "buyer_eu")
    task = await send(client, message(rfq("BRG-6205", 200)))
    assert task.status.state == S.TASK_STATE_INPUT_REQUIRED
    proposal = data_of(task)
    assert proposal["type"] == "proposal" and proposal["status"] == "offered"
    assert isinstance(proposal["total"], str) and isinstance(proposal["items"][0]["unit_price"], str)
    assert proposal["items"][0]["quantity"] == "200"
    # instants carry their zone (UTC), so a buyer's bot never reads them as its own local time
    assert proposal["valid_until"].endswith("Z") and dt.datetime.fromisoformat(proposal["valid_until"]).tzinfo
    assert artifact(task, "proposal")["proposal_id"] == proposal["proposal_id"]
    assert "Proposal" in text_of(task)

    done = await send(client, message(accept(proposal), task=task))
    assert done.id == task.id and done.context_id == task.context_id
    assert done.status.state == S.TASK_STATE_COMPLETED
    deal = artifact(done, "deal")
    assert deal is not None and deal["type"] == "deal" and deal["proposal_id"] == proposal["proposal_id"]
    assert deal["total"] == proposal["total"] and deal["accepted_at"].endswith("Z")
    stored = server.ctx.seller.store.deals(negotiation_id=task.id)  # the task id is the negotiation id
    assert [d.id for d in stored] == [deal["deal_id"]]

    got = await client.get_task(GetTaskRequest(id=task.id))
    assert got.status.state == S.TASK_STATE_COMPLETED
    roles = [m.role for m in got.history]
    assert roles.count(Role.ROLE_USER) == 2 and Role.ROLE_AGENT in roles

    with pytest.raises(A2AError):  # a finished task takes no more messages
        await send(client, message(rfq("BRG-6205", 10), task=task))
    await client.close()


@SQLITE_ONLY
@pytest.mark.anyio
async def test_text_part_is_understood(server: Any) -> None:
    client = await client_for(server, "buyer_us")
    task = await send(client, message(text="Please quote 40 x BRG-6204-ZZ"))
    assert task.status.state == S.TASK_STATE_INPUT_REQUIRED
    proposal = data_of(task)
    assert proposal["type"] == "proposal" and proposal["currency"] == "USD"
    assert proposal["items"][0]["sku"] == "BRG-6204-ZZ"
    await client.close()


@pytest.mark.anyio
async def test_streaming(server: Any) -> None:
    client = await client_for(server, "buyer_eu", streaming=True)
    events = await events_of(client, message(rfq("BRG-6204-ZZ", 100)))
    kinds = [e.WhichOneof("payload") for e in events]
    assert kinds[0] == "task" and "artifact_update" in kinds and kinds[-1] == "status_update", kinds
    states = [e.status_update.status.state for e in events if e.HasField("status_update")]
    assert states[0] == S.TASK_STATE_WORKING and states[-1] == S.TASK_STATE_INPUT_REQUIRED
    task_id, context_id = events[0].task.id, events[0].task.context_id
    proposal = data_of(events[-1].status_update.status.message)
    assert proposal["type"] == "proposal"

    task = Task(id=task_id, context_id=context_id)
    events = await events_of(client, message({"type": "reject", "proposal_id": proposal["proposal_id"],
                                              "reason": "found it cheaper"}, task=task))
    # A2A: a task's stream begins with the Task, for a message on an existing task too (QA: it began with a
    # status update), then shows the work starting
    kinds = [e.WhichOneof("payload") for e in events]
    assert kinds[0] == "task" and events[0].task.id == task_id, kinds
    assert events[0].task.status.state == S.TASK_STATE_INPUT_REQUIRED  # as it stood when the message came
    assert events[1].status_update.status.state == S.TASK_STATE_WORKING, kinds
    last = events[-1].status_update
    assert last.task_id == task_id and last.status.state == S.TASK_STATE_COMPLETED
    closed = [e.artifact_update.artifact for e in events if e.HasField("artifact_update")]
    assert closed and closed[0].name == "closed"
    assert "buyer rejected" in MessageToDict(closed[0].parts[0].data)["reason"]
    await client.close()


@pytest.mark.anyio
async def test_multi_turn_haggle_same_task(server: Any) -> None:
    client = await client_for(server, "buyer_us")
    task = await send(client, message(rfq("BRG-6205", 300)))
    proposal = data_of(task)
    versions = [proposal["version"]]
    for price in ("2.80", "3.00", "3.20"):
        task = await send(client, message(counter(proposal, price), task=task))
        assert task.status.state == S.TASK_STATE_INPUT_REQUIRED
        proposal = data_of(task)
        assert proposal["type"] == "proposal", proposal
        versions.append(proposal["version"])
    assert versions == sorted(versions) and len(set(versions)) == 4
    assert artifact(task, "proposal")["version"] == proposal["version"]  # the artifact follows the last version
    got = await client.get_task(GetTaskRequest(id=task.id))
    assert len([m for m in got.history if m.role == Role.ROLE_USER]) == 4
    assert {m.context_id for m in got.history} == {task.context_id}
    listed = await client.list_tasks(ListTasksRequest(context_id=task.context_id))
    assert [t.id for t in listed.tasks] == [task.id]
    proposals = server.ctx.seller.store.proposals(task.id)
    assert max(p.version for p in proposals) == proposal["version"]
    await client.close()


@pytest.mark.anyio
async def test_approval_path_reaches_the_task_push_and_subscribe(server: Any) -> None:
    receiver = Receiver(fail_first=2)  # the first deliveries fail: retried with backoff
    try:
        client = await client_for(server, "buyer_eu")
        push = TaskPushNotificationConfig(url=receiver.url, token="tok-1",
                                          authentication=AuthenticationInfo(scheme="Bearer", credentials="push-secret"))
        task = await send(client, message(rfq("BRG-6204", 500)),
                          SendMessageConfiguration(task_push_notification_config=push))
        proposal = data_of(task)
        for price in ("2.40", "2.50", "2.60", "2.68", "2.70"):
            task = await send(client, message(counter(proposal, price), task=task))
            proposal = data_of(task)
            assert proposal["type"] == "proposal", proposal
        assert proposal["status"] == "offered" and task.status.state == S.TASK_STATE_INPUT_REQUIRED
        assert proposal["pending"]  # the standing offer may be accepted; a better one awaits approval
        approval = server.ctx.seller.store.pending_approval(task.id)
        assert approval is not None

        streaming = await client_for(server, "buyer_eu", streaming=True)
        seen: list[Any] = []

        async def tail() -> None:
            async for ev in streaming.subscribe(SubscribeToTaskRequest(id=task.id)):
                seen.append(ev)
                if ev.HasField("status_update") and data_of(ev.status_update.status.message).get("status") == "offered":
                    return

        tailing = asyncio.create_task(tail())
        await wait_for(lambda: len(seen) >= 1)  # subscribed: the current task came first

        async with httpx.AsyncClient(base_url=server.url, timeout=30,
                                     headers={"Authorization": f"Bearer {server.keys['operator']}"}) as op:
            r = await op.post(f"/v1/approvals/{approval.id}/approve", json={"note": "good customer"})
            assert r.status_code == 200, r.text

        got = await client.get_task(GetTaskRequest(id=task.id))
        after = data_of(got)
        assert after["type"] == "proposal" and after["status"] == "offered"
        assert after["version"] > proposal["version"] and after["proposal_id"] == proposal["proposal_id"]
        assert got.status.state == S.TASK_STATE_INPUT_REQUIRED
        assert artifact(got, "proposal")["version"] == after["version"]

        await asyncio.wait_for(tailing, 10)  # the stream saw the operator's decision
        await streaming.close()

        await wait_for(lambda: any(data_of_push(b).get("status") == "offered" for _, b in receiver.received))
        headers = [h for h, _ in receiver.received]
        assert all(h["authorization"] == "Bearer push-secret" for h in headers)
        assert all(h["x-a2a-notification-token"] == "tok-1" for h in headers)
        assert receiver.attempts >= len(receiver.received) + 2
        assert "TASK_STATE_INPUT_REQUIRED" in receiver.states()

        cfg = await client.get_task_push_notification_config(
            GetTaskPushNotificationConfigRequest(task_id=task.id, id=task.id))
        assert cfg.url == receiver.url  # persisted with the task

        done = await send(client, message(accept(after), task=got))
        assert done.status.state == S.TASK_STATE_COMPLETED and artifact(done, "deal")["version"] == after["version"]
        await client.close()
    finally:
        receiver.close()


def data_of_push(body: dict[str, Any]) -> dict[str, Any]:
    status = (body.get("statusUpdate") or body.get("task") or {}).get("status") or {}
    for part in (status.get("message") or {}).get("parts", []):
        if "data" in part:
            return part["data"]
    return {}


@pytest.mark.anyio
async def test_rest_accept_moves_the_task_on(server: Any) -> None:
    client = await client_for(server, "buyer_us")
    task = await send(client, message(rfq("BRG-6204-ZZ", 60)))
    proposal = data_of(task)
    async with httpx.AsyncClient(base_url=server.url, timeout=30,
                                 headers={"Authorization": f"Bearer {server.keys['buyer_us']}",
                                          "Idempotency-Key": uuid.uuid4().hex}) as http:
        r = await http.post(f"/v1/proposals/{proposal['proposal_id']}/accept", json={"version": proposal["version"]})
    assert r.status_code in (200, 201), r.text
    got = await client.get_task(GetTaskRequest(id=task.id))
    assert got.status.state == S.TASK_STATE_COMPLETED
    assert artifact(got, "deal")["proposal_id"] == proposal["proposal_id"]
    await client.close()


@pytest.mark.anyio
async def test_cancel_task(server: Any) -> None:
    client = await client_for(server, "buyer_us")
    task = await send(client, message(rfq("BRG-6205", 120)))
    proposal = data_of(task)
    store = server.ctx.seller.store
    assert any(h["proposal_id"] == proposal["proposal_id"] for h in store.active_holds("globex-us"))
    canceled = await client.cancel_task(CancelTaskRequest(id=task.id))
    assert canceled.status.state == S.TASK_STATE_CANCELED
    assert store.get_negotiation(task.id).status == "canceled"
    assert not any(h["proposal_id"] == proposal["proposal_id"] for h in store.active_holds("globex-us"))
    got = await client.get_task(GetTaskRequest(id=task.id))
    assert got.status.state == S.TASK_STATE_CANCELED
    with pytest.raises(A2AError):  # twice: not cancelable
        await client.cancel_task(CancelTaskRequest(id=task.id))
    with pytest.raises(A2AError):  # and no more messages
        await send(client, message(accept(proposal), task=task))
    assert store.deals(negotiation_id=task.id) == []
    await client.close()


@pytest.mark.anyio
async def test_after_the_maximum_rounds_the_standing_offer_is_accepted_in_the_same_task(server: Any) -> None:
    """The seller closes on the maximum rounds with its last offer standing: the `closed` part names that offer
    (`standing`) and the task stays open for its acceptance (it was COMPLETED: an A2A buyer could not accept)."""
    client = await client_for(server, "buyer_eu")
    task = await send(client, message(rfq("FST-M8-NUT-A2", 100)))  # a product no other test here negotiates
    proposal = data_of(task)
    for _ in range(20):
        task = await send(client, message(counter(proposal, "1.00"), task=task))
        got = data_of(task)
        if got["type"] != "proposal":
            break
        proposal = got
    assert got["type"] == "closed" and got["standing"]["proposal_id"] == proposal["proposal_id"]
    assert got["standing"]["version"] == proposal["version"]
    assert task.status.state == S.TASK_STATE_INPUT_REQUIRED and artifact(task, "closed") is not None
    done = await send(client, message(accept(proposal), task=task))
    assert done.status.state == S.TASK_STATE_COMPLETED and artifact(done, "deal")["version"] == proposal["version"]
    await client.close()


@pytest.mark.anyio
async def test_cancel_task_cancels_its_pending_approval(server: Any) -> None:
    """A cancelled task leaves nothing for an operator to approve: its approval request is canceled with it, in
    the same transaction as the negotiation's status and the proposal's holds."""
    client = await client_for(server, "buyer_eu")
    task = await send(client, message(rfq("MTR-IE3-0K75", 2)))  # motors are not sold autonomously in the demo
    assert data_of(task)["status"] == "pending_approval"
    store = server.ctx.seller.store
    approval = store.pending_approval(task.id)
    assert approval is not None
    await client.cancel_task(CancelTaskRequest(id=task.id))
    assert store.pending_approval(task.id) is None and store.get_approval(approval.id).status == "canceled"
    assert all(p.status == "rejected" for p in store.proposals(task.id))
    with pytest.raises(Exception):  # noqa: B017 - the operator's decision is refused (no longer pending)
        server.ctx.seller.decide(approval.id, "approve", by="mgr@x")
    assert store.deals(negotiation_id=task.id) == []
    await client.close()


@SQLITE_ONLY
@pytest.mark.anyio
async def test_region_mismatch_is_rejected(server: Any) -> None:
    client = await client_for(server, "buyer_eu")
    task = await send(client, message(rfq("BRG-6204", 10, region="US")))
    assert task.status.state == S.TASK_STATE_REJECTED
    err = data_of(task)
    assert err["type"] == "error" and err["code"] == "not_authorized_for_region"
    await client.close()

    _, apac = server.ctx.keys.create("buyer", org="apac-co", region="APAC", segment="standard")
    client = await client_for(server, apac)
    task = await send(client, message({"type": "catalog_query", "query": "bearing"}))
    assert task.status.state == S.TASK_STATE_REJECTED
    assert data_of(task)["code"] == "not_authorized_for_region"
    await client.close()

    _, odd = server.ctx.keys.create("buyer", org="odd-co", region="EU", segment="no-such-segment")
    client = await client_for(server, odd)
    task = await send(client, message(rfq("BRG-6205", 10)))
    assert task.status.state == S.TASK_STATE_REJECTED, data_of(task)
    assert data_of(task)["code"] == "unknown_segment"
    await client.close()


@SQLITE_ONLY
@pytest.mark.anyio
async def test_catalog_query_and_bad_input_keep_the_task_open(server: Any) -> None:
    client = await client_for(server, "buyer_eu")
    task = await send(client, message({"type": "catalog_query", "query": "ball bearing", "limit": 3}))
    assert task.status.state == S.TASK_STATE_INPUT_REQUIRED
    results = data_of(task)
    assert results["type"] == "catalog_results" and 0 < len(results["products"]) <= 3
    task = await send(client, message({"type": "rfq", "items": [{"sku": "NOPE-1", "quantity": "5"}]}, task=task))
    assert task.status.state == S.TASK_STATE_INPUT_REQUIRED and data_of(task)["code"] == "unknown_sku"
    task = await send(client, message({"type": "rfq", "items": "many"}, task=task))
    assert data_of(task)["code"] == "malformed_message"
    await client.close()


@SQLITE_ONLY
@pytest.mark.anyio
async def test_internal_error_fails_the_task(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(server.ctx.seller, "send", boom)
    client = await client_for(server, "buyer_eu")
    task = await send(client, message(rfq("BRG-6205", 5)))
    assert task.status.state == S.TASK_STATE_FAILED
    assert data_of(task)["code"] == "internal_error" and "boom" not in json.dumps(data_of(task))
    await client.close()


@pytest.mark.anyio
async def test_reconcile_brings_lagging_tasks_in_line(server: Any) -> None:
    """A turn committed but never published on the task (a crash in between): reconciliation
    (run at start-up) publishes the negotiation's last word."""
    client = await client_for(server, "buyer_eu")
    seller = server.ctx.seller
    sold = await send(client, message(rfq("BRG-6205", 15)))
    moved = await send(client, message(rfq("BRG-6205", 16)))
    # the turns happen behind the task's back
    await asyncio.to_thread(seller.send, sold.id, data=accept(data_of(sold)))
    later = await asyncio.to_thread(seller.send, moved.id, data=counter(data_of(moved), "3.00"))
    assert later.type == "proposal" and later.data["version"] == data_of(moved)["version"] + 1

    service = server.app.state.a2a
    fixed = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(service.reconcile(), service.loop))
    assert fixed >= 2
    got = await client.get_task(GetTaskRequest(id=sold.id))
    assert got.status.state == S.TASK_STATE_COMPLETED and artifact(got, "deal")["type"] == "deal"
    got = await client.get_task(GetTaskRequest(id=moved.id))
    assert got.status.state == S.TASK_STATE_INPUT_REQUIRED
    assert data_of(got)["version"] == later.data["version"] == artifact(got, "proposal")["version"]
    again = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(service.reconcile(), service.loop))
    assert again == 0  # nothing lags any more
    await client.close()


@pytest.mark.anyio
async def test_a_late_publication_never_rolls_the_task_back(server: Any) -> None:
    """A seller turn published after a later turn reached the task (an operator's decision delivered
    late) does not replace what the task shows."""
    from agent.service import Reply

    client = await client_for(server, "buyer_us")
    task = await send(client, message(rfq("BRG-6205", 17)))
    first = data_of(task)
    task = await send(client, message(counter(first, "3.10"), task=task))
    second = data_of(task)
    service = server.app.state.a2a
    late = Reply(task.id, 1, first, "an old proposal")
    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(
        service.handler.deliver_seller_turn(task.id, late), service.loop))
    got = await client.get_task(GetTaskRequest(id=task.id))
    assert data_of(got)["version"] == second["version"] == artifact(got, "proposal")["version"]
    await client.close()


# --- retries -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_repeated_message_id_is_answered_once(server: Any) -> None:
    eu = await client_for(server, "buyer_eu")
    store = server.ctx.seller.store
    mid = "retry-" + uuid.uuid4().hex
    first = await send(eu, message(rfq("BRG-6205", 50), message_id=mid))
    again = await send(eu, message(rfq("BRG-6205", 50), message_id=mid))
    assert again.id == first.id and data_of(again) == data_of(first)
    assert len(store.proposals(first.id)) == 1

    # a follow-up, retried twice, concurrently: one counter-offer, one new version
    proposal = data_of(first)
    cid = "retry-" + uuid.uuid4().hex
    answers = await asyncio.gather(*[send(eu, message(counter(proposal, "2.90"), task=first, message_id=cid))
                                     for _ in range(3)])
    assert len({data_of(a)["version"] for a in answers}) == 1
    assert len(store.proposals(first.id)) == 2

    # the same id for a different message is refused
    with pytest.raises(A2AError) as exc:
        await send(eu, message(rfq("BRG-6205", 51), message_id=mid))
    assert "messageId" in str(exc.value)

    # ids are scoped per organisation: another buyer's same id is its own message
    us = await client_for(server, "buyer_us")
    theirs = await send(us, message(rfq("BRG-6205", 50), message_id=mid))
    assert theirs.id != first.id
    assert store.get_negotiation(theirs.id).buyer_org == "globex-us"

    # streaming retries too
    streaming = await client_for(server, "buyer_eu", streaming=True)
    sid = "retry-" + uuid.uuid4().hex
    events = await events_of(streaming, message(rfq("BRG-6205", 20), message_id=sid))
    replay = await events_of(streaming, message(rfq("BRG-6205", 20), message_id=sid))
    assert len(replay) == 1 and replay[0].task.id == events[0].task.id
    assert len(store.proposals(events[0].task.id)) == 1
    for c in (eu, us, streaming):
        await c.close()


# --- tenancy and auth --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_messages_sent_at_once_on_one_task_each_get_their_own_answer(server: Any) -> None:
    """QA: a question, a counter-offer and another question sent at once on one task. The SDK's blocking send
    answers with the first paused task its subscription sees, and the three shared one task's events: callers got
    another message's answer (the counter's caller a terms answer), and their retries replayed it. Now each
    caller gets the answer to its own message, and so does its retry."""
    client = await client_for(server, "buyer_eu")
    task = await send(client, message(rfq("BRG-6205", 30)))
    proposal = data_of(task)
    for round_ in range(3):  # the mix-up depended on timing: a few rounds
        msgs = {"terms": message({"type": "question", "topic": "terms"}, task=task),
                "counter": message(counter(proposal, f"3.0{round_}"), task=task),
                "lead_time": message({"type": "question", "topic": "lead_time", "skus": ["BRG-6205"]}, task=task)}
        got = dict(zip(msgs, await asyncio.gather(*[send(client, m) for m in msgs.values()]), strict=True))
        for kind, msg in msgs.items():
            again = await send(client, msg)  # a retry: the same answer
            for answer in (got[kind], again):
                data = data_of(answer)
                if kind == "counter":
                    assert data["type"] == "proposal", (kind, data)
                else:
                    assert data["type"] == "answer" and data["topic"] == kind, (kind, data)
        proposal = data_of(got["counter"])
    await client.close()


def _on_server_loop(server: Any, coro: Any) -> Any:
    return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, server.app.state.a2a.loop))


@SQLITE_ONLY
@pytest.mark.anyio
async def test_a_message_whose_turn_committed_before_its_process_died_is_never_run_again(server: Any) -> None:
    """Ops QA (kill -9 right after a counter-offer's commit, retry on another process): the retry found the claim
    stale and ran the counter again (proposal_superseded, a second turn for one message). Now a retry whose turn
    committed gets the task brought in line with the negotiation, once; a first message whose process died before
    its turn committed (its task left SUBMITTED) is processed on retry, not answered with the stale task forever."""
    handler = server.app.state.a2a.handler
    store = server.ctx.seller.store
    client = await client_for(server, "buyer_eu")
    task = await send(client, message(rfq("BRG-6205", 40)))
    proposal = data_of(task)
    msg = message(counter(proposal, "3.00"), task=task)
    # The dead process: it claimed the message, committed its turn, and never updated the task or the log.
    claim = await _on_server_loop(server, handler.backend.message_log.claim("acme-eu", msg.message_id,
                                                                            message_digest(msg)))
    assert claim.state == "new"
    committed = server.ctx.seller.send(task.id, data=counter(proposal, "3.00"), message_id=msg.message_id)
    assert committed.data["type"] == "proposal" and committed.data["version"] == 2
    serving_since = handler._serving_since
    handler._serving_since = time.time() + 60  # this process started after the claim: its holder is gone
    try:
        again = await send(client, msg)
        first = message(rfq("BRG-6205", 10))  # a first message, its task left SUBMITTED by the dead process
        await _on_server_loop(server, handler.backend.message_log.claim("acme-eu", first.message_id,
                                                                        message_digest(first)))
        first_task = new_task_id("acme-eu", first.message_id)
        call = ServerCallContext(user=BuyerUser(org="acme-eu"))
        await _on_server_loop(server, handler._versioned_store.save(Task(
            id=first_task, context_id=uuid.uuid4().hex, status=TaskStatus(state=S.TASK_STATE_SUBMITTED)),
            prev_version=TaskVersion.MISSING, context=call))
        answered = await send(client, first)
    finally:
        handler._serving_since = serving_since
    assert data_of(again)["type"] == "proposal" and data_of(again)["version"] == 2, data_of(again)
    assert store.proposal_versions(proposal["proposal_id"]) == [1, 2]
    turns = {r["turn"] for r in store.records(task.id) if r.get("message_id") == msg.message_id}
    assert turns == {committed.turn}, turns
    assert answered.id == first_task and answered.status.state == S.TASK_STATE_INPUT_REQUIRED
    assert data_of(answered)["type"] == "proposal"
    await client.close()


@SQLITE_ONLY
@pytest.mark.anyio
async def test_first_messages_cut_short_at_shutdown_are_answered_once(server: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Ops QA re-test, SIGTERM under load: (1) the SDK dropped a turn's events at shutdown and the blocking send
    returned the task SUBMITTED, which the message log kept as the answer: every retry got SUBMITTED, the quote
    request was lost. Now it is no answer: a retry is processed (in the context the task was given). (2) A first
    message whose turn committed but whose task was never saved ran again on retry in another process (two turns,
    two versions). Now the task is made from the negotiation and the message is not run again."""
    import agent.server.a2a as a2a_module

    handler = server.app.state.a2a.handler
    store = server.ctx.seller.store
    client = await client_for(server, "buyer_eu")
    dropped = message(rfq("BRG-6205", 12))
    dropped_task = new_task_id("acme-eu", dropped.message_id)

    async def events_dropped(self: Any, params: Any, context: Any) -> Task:
        task = Task(id=dropped_task, context_id=uuid.uuid4().hex, status=TaskStatus(state=S.TASK_STATE_SUBMITTED))
        await self._versioned_store.save(task, prev_version=TaskVersion.MISSING, context=context)
        return task

    monkeypatch.setattr(a2a_module.DefaultRequestHandlerV2, "on_message_send", events_dropped)
    cut = await send(client, dropped)
    assert cut.status.state == S.TASK_STATE_SUBMITTED
    monkeypatch.undo()
    again = await send(client, dropped)
    assert again.id == dropped_task and data_of(again)["type"] == "proposal", again.status
    assert store.message_committed(dropped_task, dropped.message_id)

    committed = message(rfq("BRG-6205", 14))  # its process committed the turn and died before saving the task
    committed_task = new_task_id("acme-eu", committed.message_id)
    await _on_server_loop(server, handler.backend.message_log.claim("acme-eu", committed.message_id,
                                                                    message_digest(committed)))
    server.ctx.seller.start(Buyer(org="acme-eu", region="EU", segment="standard", currency="EUR"),
                            negotiation_id=committed_task)
    first = server.ctx.seller.send(committed_task, data=rfq("BRG-6205", 14), message_id=committed.message_id)
    serving_since = handler._serving_since
    handler._serving_since = time.time() + 60  # the claim's process is gone
    try:
        answered = await send(client, committed)
    finally:
        handler._serving_since = serving_since
    assert answered.id == committed_task and data_of(answered)["proposal_id"] == first.data["proposal_id"]
    assert store.proposal_versions(first.data["proposal_id"]) == [1]
    assert {r["turn"] for r in store.records(committed_task) if r.get("message_id") == committed.message_id} == {1}
    await client.close()


@pytest.mark.anyio
async def test_tenant_isolation(server: Any) -> None:
    eu = await client_for(server, "buyer_eu")
    us = await client_for(server, "buyer_us")
    task = await send(eu, message(rfq("BRG-6205", 30)))
    receiver = Receiver()
    try:
        await eu.create_task_push_notification_config(TaskPushNotificationConfig(task_id=task.id, url=receiver.url,
                                                                                  id="mine"))
        with pytest.raises(A2AError):
            await us.get_task(GetTaskRequest(id=task.id))
        with pytest.raises(A2AError):
            await us.cancel_task(CancelTaskRequest(id=task.id))
        with pytest.raises(A2AError):
            await send(us, message(accept(data_of(task)), task=task))
        with pytest.raises(A2AError):
            await us.get_task_push_notification_config(GetTaskPushNotificationConfigRequest(task_id=task.id, id="mine"))
        with pytest.raises(A2AError):
            await us.create_task_push_notification_config(TaskPushNotificationConfig(task_id=task.id,
                                                                                      url=receiver.url))
        listed = await us.list_tasks(ListTasksRequest(page_size=100))
        assert task.id not in {t.id for t in listed.tasks}
        assert all(server.ctx.seller.store.get_negotiation(t.id).buyer_org == "globex-us" for t in listed.tasks)
        mine = await eu.list_tasks(ListTasksRequest(page_size=100))
        assert task.id in {t.id for t in mine.tasks}
        # not found, not forbidden: the same answer as for a task that does not exist
        other = rpc(server, "GetTask", {"id": task.id}, key="buyer_us").json()
        missing = rpc(server, "GetTask", {"id": str(uuid.uuid4())}, key="buyer_us").json()
        assert other["error"]["code"] == missing["error"]["code"]
        got = await eu.get_task(GetTaskRequest(id=task.id))
        assert got.status.state == S.TASK_STATE_INPUT_REQUIRED  # untouched by the other buyer
    finally:
        receiver.close()
        await eu.close()
        await us.close()


@SQLITE_ONLY
def test_a_message_in_the_sellers_role_is_refused(server: Any) -> None:
    """A buyer's message has the role ROLE_USER; one sent as ROLE_AGENT (the seller's role) is a JSON-RPC invalid
    params error naming message.role, and nothing runs (it was processed as a buyer message)."""
    params = {"message": {"messageId": uuid.uuid4().hex, "role": "ROLE_AGENT", "parts": [{"data": rfq("BRG-6205", 5)}]}}
    r = rpc(server, "SendMessage", params)
    assert r.status_code == 200 and r.json()["error"]["code"] == -32602, r.text
    assert "message.role" in r.json()["error"]["message"] and "result" not in r.json()


@SQLITE_ONLY
@pytest.mark.parametrize("part", [
    {"url": "https://example.com/rfq.pdf", "mediaType": "application/pdf"},
    {"raw": "JVBERi0xLjQK", "mediaType": "application/pdf"},
    {"data": {"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "10"}]}, "mediaType": "image/png"},
    {"text": "<rfq/>", "mediaType": "application/xml"},
])
def test_a_part_the_card_does_not_take_is_refused_before_anything_is_done(server: Any, part: dict[str, Any]) -> None:
    """A2A ContentTypeNotSupportedError (-32005) for a file part or a media type the card's input modes do not
    declare (QA: a PDF opened a task answered malformed_message, a file beside text was dropped without a word,
    a data part labelled image/png was negotiated). No task is created."""
    store = server.ctx.seller.store
    mid = uuid.uuid4().hex
    for parts in ([part], [{"text": "need 10 x BRG-6204"}, part]):
        body = rpc(server, "SendMessage", {"message": {"messageId": mid, "role": "ROLE_USER", "parts": parts}}).json()
        assert body["error"]["code"] == -32005, body
        assert "parts[" in body["error"]["message"], body
    assert store.get_negotiation(new_task_id("acme-eu", mid)) is None
    ok = rpc(server, "SendMessage", {"message": {"messageId": mid, "role": "ROLE_USER", "parts": [
        {"text": "need 10 x BRG-6204", "mediaType": "text/plain; charset=utf-8"}]}}).json()
    assert ok["result"]["task"]["status"]["state"] == "TASK_STATE_INPUT_REQUIRED", ok  # the id was never used
    assert ok["result"]["task"]["id"] == new_task_id("acme-eu", mid)
    assert store.get_negotiation(new_task_id("acme-eu", mid)) is not None


@SQLITE_ONLY
def test_the_version_may_come_as_a_request_parameter(server: Any) -> None:
    """A2A 1.0 3.6.1: clients MAY give A2A-Version as a request parameter instead of a header (QA: `?A2A-Version=1.0`
    was read as no version, 0.3, and refused). No version at all, or one this agent does not speak, is refused."""
    body = {"jsonrpc": "2.0", "id": 7, "method": "ListTasks", "params": {}}
    auth = {"Authorization": f"Bearer {server.keys['buyer_eu']}"}
    for query, code in (("?A2A-Version=1.0", None), ("", -32009), ("?A2A-Version=0.3", -32009)):
        got = httpx.post(server.url + "/" + query, json=body, headers=auth, timeout=30).json()
        assert (got.get("error") or {}).get("code") == code, (query, got)
    rest = httpx.get(server.url + "/a2a/rest/tasks?A2A-Version=1.0", headers=auth, timeout=30)
    assert rest.status_code == 200, rest.text
    assert httpx.get(server.url + "/a2a/rest/tasks", headers=auth, timeout=30).status_code == 400


@SQLITE_ONLY
def test_auth_failures(server: Any) -> None:
    params = {"message": {"messageId": uuid.uuid4().hex, "role": "ROLE_USER",
                          "parts": [{"data": rfq("BRG-6205", 5)}]}}
    for path in ("/", "/a2a"):  # a JSON-RPC error object (the request's id), the envelope's type and code in its data
        r = rpc(server, "SendMessage", params, key=None, path=path)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        body = r.json()
        assert body["jsonrpc"] == "2.0" and body["id"] == 1 and body["error"]["code"] == -32000
        assert body["error"]["data"]["type"] == "authentication_error"
        assert body["error"]["data"]["code"] == "missing_api_key"
    r = rpc(server, "SendMessage", params, key="dd_buyer_not_a_real_key_000000000000")
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
    r = httpx.post(server.url + "/", json={"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "x"}},
                   headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert r.status_code == 401
    for key in ("operator", "admin"):
        r = rpc(server, "SendMessage", params, key=key)
        assert r.status_code == 403, r.text
        assert r.json()["error"]["data"]["type"] == "permission_error"
    r = httpx.get(server.url + "/a2a/rest/tasks", headers={"A2A-Version": "1.0"})
    assert r.status_code == 401
    assert rpc(server, "ListTasks", {}, key="buyer_eu").status_code == 200
    # QA: the refusal dropped a readable id (JSON-RPC 2.0 5: null only when the id cannot be known)
    for rid in ("req-42", 7):
        r = httpx.post(server.url + "/", json={"jsonrpc": "2.0", "id": rid, "method": "GetTask", "params": {"id": "x"}})
        assert r.status_code == 401 and r.json()["id"] == rid
    r = httpx.post(server.url + "/", content=b'{"jsonrpc": "2.0", "id": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and r.json()["id"] is None


@SQLITE_ONLY
def test_get_extended_agent_card_is_unsupported_in_both_bindings(server: Any) -> None:
    """A2A 1.0 3.3.4: with `extendedAgentCard` false the call answers UnsupportedOperation; 3.4.1: alike in every
    binding (QA: HTTP+JSON answered 404 in dealdesk's REST envelope)."""
    headers = {"A2A-Version": "1.0", "Authorization": f"Bearer {server.keys['buyer_eu']}"}
    got = rpc(server, "GetExtendedAgentCard", {}).json()
    assert got["error"]["code"] == -32004, got
    rest = httpx.get(server.url + "/a2a/rest/extendedAgentCard", headers=headers, timeout=30)
    assert rest.status_code == 400 and "UNSUPPORTED_OPERATION" in rest.text, (rest.status_code, rest.text)


@SQLITE_ONLY
def test_an_unexpected_error_reaches_the_caller_as_a_plain_internal_error(server: Any,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Ops QA: with PostgreSQL out of connections, buyers got the driver's text in the JSON-RPC error ("connection
    to server at ... FATAL: sorry, too many clients already"). The error is logged; the caller gets -32603 and a
    plain message, in both bindings."""
    from sqlalchemy.exc import OperationalError

    async def down(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("SELECT 1", {}, Exception('connection to server at "10.0.0.7", port 5432 failed: '
                                                        "FATAL: sorry, too many clients already"))

    monkeypatch.setattr(server.app.state.a2a.handler.backend.message_log, "claim", down)
    params = {"message": {"messageId": uuid.uuid4().hex, "role": "ROLE_USER", "parts": [{"data": rfq("BRG-6205", 5)}]}}
    got = rpc(server, "SendMessage", params).json()
    assert got["error"]["code"] == -32603, got
    assert "FATAL" not in json.dumps(got) and "10.0.0.7" not in json.dumps(got) and "messageId" in got["error"]["message"]
    headers = {"A2A-Version": "1.0", "Authorization": f"Bearer {server.keys['buyer_eu']}"}
    rest = httpx.post(server.url + "/a2a/rest/message:send", json=params, headers=headers, timeout=30)
    assert rest.status_code == 500 and "FATAL" not in rest.text, rest.text


def _stream_first_event(server: Any, params: dict[str, Any]) -> dict[str, Any]:
    """SendStreamingMessage over raw HTTP: the first SSE event, then the client leaves."""
    headers = {"A2A-Version": "1.0", "Authorization": f"Bearer {server.keys['buyer_eu']}",
               "Accept": "text/event-stream"}
    body = {"jsonrpc": "2.0", "id": 1, "method": "SendStreamingMessage", "params": params}
    with httpx.stream("POST", server.url + "/", json=body, headers=headers, timeout=30) as r:
        if not r.headers.get("content-type", "").startswith("text/event-stream"):  # refused before any stream
            r.read()
            return r.json()
        for line in r.iter_lines():
            if line.startswith("data:"):
                return json.loads(line[5:])
    raise AssertionError("no event")


@SQLITE_ONLY
def test_a_stream_whose_client_leaves_early_still_has_its_message_answered(server: Any) -> None:
    """QA re-test: a stream on an existing task read to its first event (the Task) and dropped. The Task went out
    before the turn started, the drop marked the message answered with nothing, and the counter never ran: its
    retries got the old task for ever. A stream dropped mid-turn left its messageId "being processed" (a retry
    waited 35 s for -32600). Now the turn runs, and a retry gets the task with its answer."""
    first = rpc(server, "SendMessage", {"message": {"messageId": uuid.uuid4().hex, "role": "ROLE_USER",
                                                    "parts": [{"data": rfq("BRG-6205", 30)}]}}).json()["result"]["task"]
    proposal = next(p["data"] for p in first["status"]["message"]["parts"] if "data" in p)
    msg = {"messageId": uuid.uuid4().hex, "role": "ROLE_USER", "taskId": first["id"], "contextId": first["contextId"],
           "parts": [{"data": counter(proposal, "3.00")}]}
    event = _stream_first_event(server, {"message": msg})
    assert "task" in event["result"], event  # A2A: the Task first
    started = time.monotonic()
    before = first["status"]["message"]["messageId"]
    for _ in range(50):  # the answer to this message: the task moved on from the rfq's reply
        again = rpc(server, "SendMessage", {"message": msg}).json()["result"]["task"]
        if again["status"]["message"]["messageId"] != before:
            break
        time.sleep(0.2)
    assert again["status"]["message"]["messageId"] != before, again["status"]
    assert server.ctx.seller.store.message_committed(first["id"], msg["messageId"])
    assert time.monotonic() - started < 20


@SQLITE_ONLY
def test_a_stream_the_sdk_refuses_sends_no_task_first(server: Any) -> None:
    """QA re-test: a stream on an existing task with a contextId not its own sent the Task, then the error; the
    request's checks come first now, as for a blocking send."""
    first = rpc(server, "SendMessage", {"message": {"messageId": uuid.uuid4().hex, "role": "ROLE_USER",
                                                    "parts": [{"data": rfq("BRG-6205", 5)}]}}).json()["result"]["task"]
    msg = {"messageId": uuid.uuid4().hex, "role": "ROLE_USER", "taskId": first["id"], "contextId": "wrong-ctx",
           "parts": [{"data": {"type": "question", "topic": "terms"}}]}
    event = _stream_first_event(server, {"message": msg})
    assert event.get("error", {}).get("code") == -32602, event


@SQLITE_ONLY
def test_parts_without_content_or_in_a_declared_mode(server: Any) -> None:
    """A part with no content is invalid params, and no task is opened (it opened one, answered malformed_message);
    a text part stating application/json, one of the card's input modes, is taken (it was refused)."""
    store = server.ctx.seller.store
    for part in ({"mediaType": "application/pdf"}, {"filename": "rfq.pdf"}):
        mid = uuid.uuid4().hex
        got = rpc(server, "SendMessage", {"message": {"messageId": mid, "role": "ROLE_USER", "parts": [part]}}).json()
        assert got["error"]["code"] == -32602 and "parts[0]" in got["error"]["message"], got
        assert store.get_negotiation(new_task_id("acme-eu", mid)) is None
    got = rpc(server, "SendMessage", {"message": {"messageId": uuid.uuid4().hex, "role": "ROLE_USER", "parts": [
        {"text": '{"type": "rfq", "items": [{"sku": "BRG-6205", "quantity": "5"}]}', "mediaType": "application/json"}]}})
    assert got.json()["result"]["task"]["status"]["state"] == "TASK_STATE_INPUT_REQUIRED", got.text


@SQLITE_ONLY
def test_a_subscription_sent_as_a_notification_is_answered_at_once(server: Any) -> None:
    """QA re-test: a SubscribeToTask notification was drained to the end of a stream that never ends (no answer,
    and the subscription outlived its client). A subscription is all response: 204 at once, nothing run."""
    first = rpc(server, "SendMessage", {"message": {"messageId": uuid.uuid4().hex, "role": "ROLE_USER",
                                                    "parts": [{"data": rfq("BRG-6205", 5)}]}}).json()["result"]["task"]
    headers = {"A2A-Version": "1.0", "Authorization": f"Bearer {server.keys['buyer_eu']}"}
    r = httpx.post(server.url + "/", json={"jsonrpc": "2.0", "method": "SubscribeToTask", "params": {"id": first["id"]}},
                   headers=headers, timeout=10)
    assert r.status_code == 204 and r.content == b""


@SQLITE_ONLY
def test_a_server_error_on_the_jsonrpc_endpoint_is_a_jsonrpc_error(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ops QA re-test: with the database unreachable, the key lookup failed and the JSON-RPC endpoint answered the
    REST envelope ({"error": {"type": "api_error", ...}}); a JSON-RPC client reads an error object."""
    import agent.server.a2a as a2a_module

    def down(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database is down")

    monkeypatch.setattr(a2a_module, "principal_from_header", down)
    for path in ("/", "/a2a"):
        r = rpc(server, "ListTasks", {}, path=path)
        assert r.status_code == 500 and r.json()["jsonrpc"] == "2.0" and r.json()["error"]["code"] == -32603, r.text
        assert "database" not in r.text
    monkeypatch.undo()
    rest = httpx.get(server.url + "/v1/proposals", headers={"Authorization": "Bearer x"}, timeout=30)
    assert "jsonrpc" not in rest.text  # the REST API keeps its envelope


@SQLITE_ONLY
def test_a_notification_is_processed_and_never_answered(server: Any) -> None:
    """JSON-RPC 2.0 4.1: a request without an `id` member is a notification, and the server MUST NOT reply (QA: a
    ListTasks notification got a result, a SendMessage notification its task). It is processed: the message's
    negotiation exists after it. Without a key it is refused over HTTP as any request is (401, id null)."""
    headers = {"A2A-Version": "1.0", "Authorization": f"Bearer {server.keys['buyer_eu']}"}
    mid = uuid.uuid4().hex
    for method, params in (("ListTasks", {}), ("SendMessage", {"message": {
            "messageId": mid, "role": "ROLE_USER", "parts": [{"data": rfq("BRG-6205", 5)}]}})):
        r = httpx.post(server.url + "/", json={"jsonrpc": "2.0", "method": method, "params": params}, headers=headers,
                       timeout=30)
        assert r.status_code == 204 and r.content == b"", (method, r.status_code, r.text)
    assert server.ctx.seller.store.get_negotiation(new_task_id("acme-eu", mid)) is not None
    r = httpx.post(server.url + "/", json={"jsonrpc": "2.0", "method": "ListTasks", "params": {}}, timeout=30)
    assert r.status_code == 401 and r.json()["id"] is None  # no key: refused before it is read as anything


def _floats_in(body: str) -> list[str]:
    """The JSON numbers of `body` written as floats (`2.0`): none of dealdesk's figures is one."""
    floats: list[str] = []
    json.loads(body, parse_float=lambda s: floats.append(s) or float(s))
    return floats


@SQLITE_ONLY
def test_whole_numbers_leave_as_json_integers(server: Any) -> None:
    """A data part is a protobuf Struct (numbers are doubles): the proposal's version must still be `1`,
    not `1.0`, in the JSON-RPC answer, the HTTP+JSON one and an SSE event (strict clients refuse `1.0`)."""
    def send_params() -> dict[str, Any]:
        return {"message": {"messageId": uuid.uuid4().hex, "role": "ROLE_USER", "parts": [{"data": rfq("BRG-6204", 40)}]}}

    r = rpc(server, "SendMessage", send_params())
    assert r.status_code == 200, r.text
    assert _floats_in(r.text) == [], r.text
    task = r.json()["result"]["task"]
    proposal = task["status"]["message"]["parts"][0]["data"]
    assert proposal["type"] == "proposal" and type(proposal["version"]) is int and proposal["version"] == 1
    assert re.search(r'"version":1[,}]', r.text.replace(" ", ""))

    headers = {"A2A-Version": "1.0", "Authorization": f"Bearer {server.keys['buyer_eu']}"}
    got = httpx.get(f"{server.url}/a2a/rest/tasks/{task['id']}", headers=headers, timeout=30)
    assert got.status_code == 200, got.text
    assert _floats_in(got.text) == [] and re.search(r'"version":1[,}]', got.text.replace(" ", ""))

    events = []
    with httpx.stream("POST", server.url + "/", headers=headers, timeout=30,
                      json={"jsonrpc": "2.0", "id": 2, "method": "SendStreamingMessage", "params": send_params()}) as st:
        assert st.status_code == 200
        events = [line[len("data:"):] for line in st.iter_lines() if line.startswith("data:")]
    assert events and all(_floats_in(e) == [] for e in events), events
    assert any(re.search(r'"version":1[,}]', e.replace(" ", "")) for e in events), events


@SQLITE_ONLY
@pytest.mark.anyio
async def test_sdk_client_without_key_gets_401(server: Any) -> None:
    client = await client_for(server, None)
    with pytest.raises(A2AClientError, match="401"):
        await send(client, message(rfq("BRG-6205", 5)))
    await client.close()


@SQLITE_ONLY
@pytest.mark.anyio
async def test_http_json_binding(server: Any) -> None:
    client = await client_for(server, "buyer_us", bindings=["HTTP+JSON"])
    task = await send(client, message(rfq("BRG-6204-ZZ", 25)))
    assert task.status.state == S.TASK_STATE_INPUT_REQUIRED and data_of(task)["type"] == "proposal"
    got = await client.get_task(GetTaskRequest(id=task.id))
    assert got.id == task.id
    await client.close()


@pytest.mark.anyio
@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
async def test_streams_are_alike_in_both_bindings(server: Any, binding: str) -> None:
    """QA: an HTTP+JSON stream had no WORKING update (the executor looked for the JSON-RPC method's name), and a
    stream on an existing task began with a status update, not the Task. Both bindings: the Task, WORKING, ..."""
    client = await client_for(server, "buyer_us", streaming=True, bindings=[binding])
    first = await events_of(client, message(rfq("BRG-6204-ZZ", 20)))
    task = first[0].task
    proposal = data_of(first[-1].status_update.status.message)
    follow = await events_of(client, message(counter(proposal, "3.00"), task=task))
    for events in (first, follow):
        kinds = [e.WhichOneof("payload") for e in events]
        assert kinds[0] == "task" and events[0].task.id == task.id, (binding, kinds)
        states = [e.status_update.status.state for e in events if e.HasField("status_update")]
        assert states[0] == S.TASK_STATE_WORKING and states[-1] == S.TASK_STATE_INPUT_REQUIRED, (binding, states)
    assert data_of(follow[-1].status_update.status.message)["type"] == "proposal"
    await client.close()


def test_shutdown_waits_for_active_tasks_only_so_long(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ops QA: SIGTERM under load (250 turns in flight) left a worker in its lifespan shutdown for minutes, the
    instance holding its port; the SDK's drain of active tasks had no bound. It has one now, and the task backend
    is closed after it either way."""
    import agent.server.a2a as a2a_module

    monkeypatch.setattr(a2a_module, "SHUTDOWN_DRAIN_S", 0.2)
    closed: list[str] = []

    class Stuck:
        async def aclose(self) -> None:
            await asyncio.sleep(3600)

    class Backend:
        async def aclose(self) -> None:
            closed.append("backend")

    service = a2a_module.A2AService.__new__(a2a_module.A2AService)
    service._reconciling, service.handler, service.backend = None, Stuck(), Backend()
    started = time.monotonic()
    asyncio.run(service.aclose())
    assert time.monotonic() - started < 5 and closed == ["backend"]


@SQLITE_ONLY
def test_an_infinite_number_in_a_data_part_is_invalid_params_in_both_bindings(server: Any) -> None:
    """QA (security): `{"quantity": 1e999999}` in a data part reads as an infinite double; the task store could not
    write it back and every try answered -32603 (HTTP+JSON: 500), with a traceback in the log."""
    headers = {"A2A-Version": "1.0", "Authorization": f"Bearer {server.keys['buyer_eu']}",
               "Content-Type": "application/json"}
    for number in ("1e999999", "-1e999999"):
        mid = uuid.uuid4().hex
        raw = ('{"jsonrpc": "2.0", "id": 5, "method": "SendMessage", "params": {"message": {"messageId": "%s", '
               '"role": "ROLE_USER", "parts": [{"data": {"type": "rfq", "items": [{"sku": "BRG-6204", '
               '"quantity": %s}]}}]}}}' % (mid, number))
        got = httpx.post(server.url + "/", content=raw, headers=headers, timeout=30)
        body = got.json()
        assert body["id"] == 5 and body["error"]["code"] == -32602, body
        assert "parts[0].data" in body["error"]["message"] and "decimal strings" in body["error"]["message"]
        finite = raw.replace('"quantity": %s' % number, '"quantity": "5"')
        for meta in (finite.replace('"role": "ROLE_USER", ', '"role": "ROLE_USER", "metadata": {"x": %s}, ' % number),
                     finite.replace('"parts": [{', '"parts": [{"metadata": {"y": %s}, ' % number)):
            meta = meta.replace(mid, uuid.uuid4().hex)  # the message's metadata, then a part's
            got = httpx.post(server.url + "/", content=meta, headers=headers, timeout=30).json()
            assert got["error"]["code"] == -32602 and "metadata" in got["error"]["message"], got
        rest_raw = raw[raw.index('{"message"'):-2]
        rest = httpx.post(server.url + "/a2a/rest/message:send", content=rest_raw.replace(mid, uuid.uuid4().hex),
                          headers=headers, timeout=30)
        assert rest.status_code == 400, rest.text
    ok = rpc(server, "SendMessage", {"message": {"messageId": uuid.uuid4().hex, "role": "ROLE_USER",
                                                 "parts": [{"data": rfq("BRG-6204", 5)}]}}).json()
    assert "result" in ok, ok


@pytest.mark.anyio
@pytest.mark.parametrize("decision", ["reject", "approve"])
async def test_a_decision_made_elsewhere_reaches_the_task_in_its_own_words(server: Any, decision: str) -> None:
    """QA (operators): a rejection decided by the CLI (no server listener) never reached the buyer's task, which went
    on saying the offer awaits approval (the tables showed nothing to publish: the standing version did not
    change); an approval decided there reached it as "Proposal P version N is the current offer". Reconciliation now
    publishes the decision's own message."""
    _, key = server.ctx.keys.create("buyer", org=f"elsewhere-{decision}-{uuid.uuid4().hex[:6]}", region="EU",
                                    segment="standard", currency="EUR")
    client = await client_for(server, key)
    task = await send(client, message(rfq("BRG-6204", 500)))
    proposal = data_of(task)
    for price in ("2.40", "2.50", "2.60", "2.68", "2.70"):
        task = await send(client, message(counter(proposal, price), task=task))
        proposal = data_of(task)
    seller = server.ctx.seller
    approval = seller.store.pending_approval(task.id)
    assert approval is not None and proposal["pending"]
    reply = await asyncio.to_thread(seller.decide, approval.id, decision, by="cli operator")  # as the CLI does
    assert reply is not None and reply.text
    service = server.app.state.a2a
    fixed = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(service.reconcile(), service.loop))
    assert fixed == 1
    got = await client.get_task(GetTaskRequest(id=task.id))
    assert text_of(got) == reply.text and got.status.state == S.TASK_STATE_INPUT_REQUIRED
    assert data_of(got) == json.loads(json.dumps(reply.data))
    again = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(service.reconcile(), service.loop))
    assert again == 0
    await client.close()
