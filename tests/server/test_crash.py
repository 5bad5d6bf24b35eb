"""Crash safety: kill -9 the server at the write boundaries of a negotiation, start it again on the same database.

Every server is `dealdesk serve` (the CLI, uvicorn, one worker) in a process of its own, killed with
SIGKILL, then started again on the same database. Starting a fresh Python and importing the server
costs 5 to 10 s on a busy 2-core machine, too much for a dozen restarts, so the server processes are
forked from a "zygote": a process (started once per module) that has imported the server and built a
throwaway app in memory, and forks a child per `dealdesk serve` on request. The child opens the real
database only after the fork, exactly as a fresh `dealdesk serve` does.

Boundaries inside an acceptance are hit deterministically: the child wraps one server function
(`arm_crash`: nothing in agent/ knows about it) and SIGKILLs itself there when the named buyer's
acceptance reaches it (`CRASH_POINTS`). Other boundaries are hit from outside: a kill right after the
buyer got a proposal (a) or a deal (c), and a kill timed in the middle of a burst of acceptances.

SQLite (`sqlite_scenario`, eight server lives, seven kills): (a) kill right after a proposal; an A2A
acceptance killed at each of `CRASH_POINTS`; a REST acceptance (Idempotency-Key) killed right after its
commit; (c) a deal, then at once a burst of acceptances killed half-way (timed). PostgreSQL
(`postgres_scenario`, one kill): a deal made, a proposal out, an acceptance killed right after its commit.

After each restart (`assert_intact`), for the whole database and every buyer that acted since its last
check (every buyer at the end):
- nothing is half-written (`assert_consistent`, a Store opened on the database): a deal exists iff its
  proposal version is accepted and its negotiation ended in a deal, with its decision record;
  allocated units == the sum of deal quantities and held units == the sum of active holds, per SKU;
  no active hold for an accepted proposal; one live version per proposal;
- the A2A task (GetTask) shows what the tables say: the current proposal (INPUT_REQUIRED, proposal
  artifact at the current version) or the deal (COMPLETED, deal artifact);
- every proposal version the buyer was sent reads back as sent (`GET /v1/proposals/{id}?version=`),
  `GET /v1/deals` lists exactly the buyer's deal, and an operator's `GET /v1/deals` lists exactly the
  store's deals;
- the buyer goes on on the same task (counter, accept), and a retried acceptance of the same version
  returns the same deal, never a second one.

Retries after a crash (the same A2A messageId, the same REST Idempotency-Key) are answered at once:
one process on SQLite knows that claims older than itself were left by a process that died; on
PostgreSQL a claim names its process, whose liveness lock died with it (agent/store/liveness.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.types.a2a_pb2 import GetTaskRequest, Task, TaskState
from sqlalchemy import select as sql_select
from sqlalchemy import text as sql_text

from .conftest import ROOT, free_port
from .test_a2a import accept, artifact, client_for, counter, data_of, message, rfq, send

S = TaskState
TURN_TIMEOUT_S = 5  # `--turn-timeout`: a messageId claimed by a killed process turns stale after 2 x this + 5 s
PROBE_TIMEOUT_S = 2.0  # how long a buyer's retry right after a restart may take to be answered
SKUS = ["BRG-6205", "BRG-6204-ZZ", "BRG-6204", "BRG-SEAL-20477"]  # plenty of stock, hold caps far above 20

# Where an armed server kills itself during one buyer's acceptance (A2A unless said otherwise).
CRASH_POINTS = {
    "accept_in_txn": "inside the acceptance transaction: allocation written, deal not inserted, nothing committed",
    "accept_committed": "acceptance committed (deal, allocation, proposal status, record); the rest of the turn "
                        "(events, checkpoint), the A2A task and the answer not",
    "turn_done": "seller turn done (checkpoint written); the A2A task not updated, the buyer not answered",
    "task_saved": "A2A task saved with the deal; the messageId not marked answered, the buyer not answered",
}


# --- in the server process: crash points ------------------------------------------------------------


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def arm_crash(spec: str) -> None:
    """`<point>:<org>`: kill this process (SIGKILL) when that organisation's acceptance reaches the point."""
    if not spec:
        return
    point, org = spec.split(":", 1)
    if point in ("accept_in_txn", "accept_committed"):
        from agent.store.store import Store

        original_accept = Store.accept

        def accept_(self: Any, *, deal_body_for: Any, buyer_org: str, **kw: Any) -> Any:
            mine = buyer_org == org

            def body(deal_id: str, now: Any) -> Any:  # called inside the transaction, after the allocation
                out = deal_body_for(deal_id, now)
                if mine and point == "accept_in_txn":
                    _die()
                return out

            result = original_accept(self, deal_body_for=body, buyer_org=buyer_org, **kw)
            if mine and point == "accept_committed":
                _die()
            return result

        Store.accept = accept_  # type: ignore[method-assign]
    elif point == "turn_done":
        from agent.server.a2a_executor import SellerExecutor

        original_turn = SellerExecutor._turn

        def turn(self: Any, key: Any, *args: Any) -> Any:
            reply = original_turn(self, key, *args)
            if key.org == org and reply.type == "deal":
                _die()
            return reply

        SellerExecutor._turn = turn  # type: ignore[method-assign]
    elif point == "task_saved":
        from agent.server.a2a_tasks import MessageLog

        original_complete = MessageLog.complete

        async def complete(self: Any, owner: str, message_id: str, task_id: Any, response: Any) -> None:
            if owner == org and '"type": "deal"' in json.dumps(response or {}):
                _die()
            await original_complete(self, owner, message_id, task_id, response)

        MessageLog.complete = complete  # type: ignore[method-assign]
    else:
        raise ValueError(f"unknown crash point {point!r}")


# --- the zygote: forks `dealdesk serve` processes -------------------------------------------------


def zygote_main() -> None:
    """Import the server, build a throwaway app in memory (every lazy import done), say "ready"; then for
    each JSON line on stdin fork a child that runs `dealdesk serve <args>` and answer "pid <n>". Reaped
    children's exit codes go to `<log>.exit`. Exits (killing its children) when stdin closes."""
    import threading

    import uvicorn  # noqa: F401

    import agent.cli
    from agent.config import load_data
    from agent.server.app import build_context, create_app
    from agent.server.context import ServerSettings

    for name in ("psycopg", "langgraph.checkpoint.postgres", "langgraph.checkpoint.sqlite", "aiosqlite"):
        __import__(name)
    ctx = build_context(ServerSettings(db_url="sqlite:///:memory:"), *load_data())
    create_app(ctx)
    ctx.seller.close()
    assert threading.active_count() == 1, threading.enumerate()  # forking is safe: no other thread
    children: dict[int, str] = {}
    print("ready", flush=True)
    while True:
        while children:  # reap
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            log = children.pop(pid, None)
            if log:
                Path(log + ".exit").write_text(str(os.waitstatus_to_exitcode(status)))
        ready, _, _ = select.select([sys.stdin], [], [], 0.02)
        if not ready:
            continue
        line = sys.stdin.readline()
        if not line:
            for pid in children:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return
        cmd = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the server process
            code = 1
            try:
                os.setsid()
                fd = os.open(cmd["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
                os.environ.update(cmd["env"])
                arm_crash(cmd.get("crash_at") or "")
                sys.argv = ["dealdesk", "serve", *cmd["args"]]
                agent.cli.main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # noqa: BLE001
                import traceback

                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children[pid] = cmd["log"]
        print(f"pid {pid}", flush=True)


ZYGOTE_BOOT = (f"import sys; sys.path.append({str(ROOT / 'tests')!r}); "
               "from server.test_crash import zygote_main; zygote_main()")


class Zygote:
    def __init__(self, log: Path, wait: float = 120):
        self.log = log
        self._fh = open(log, "ab")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen([sys.executable, "-c", ZYGOTE_BOOT], cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._fh, start_new_session=True)
        line = self._line(wait)
        if line != "ready":
            raise RuntimeError(f"the zygote did not start ({line!r}):\n{log.read_text(errors='replace')}")
        self.servers: list[Server] = []

    def _line(self, wait: float) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], wait)
        return self.proc.stdout.readline().decode().strip() if ready else ""

    def serve(self, db_url: str, log: Path, crash_at: str | None = None, wait: float = 60) -> Server:
        """A `dealdesk serve` child on db_url (armed with `crash_at`), once /readyz answers."""
        port = free_port()
        args = ["--host", "127.0.0.1", "--port", str(port), "--db", db_url, "--workers", "1", "--no-demo",
                "--rate", "1000", "--burst", "2000", "--turn-timeout", str(TURN_TIMEOUT_S), "--log-level", "warning"]
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"args": args, "log": str(log), "crash_at": crash_at,
                                           "env": {"DEALDESK_LOG": os.devnull}}) + "\n").encode())
        self.proc.stdin.flush()
        answer = self._line(10)
        if not answer.startswith("pid "):
            raise RuntimeError(f"the zygote did not fork ({answer!r}):\n{self.log.read_text(errors='replace')}")
        server = Server(url=f"http://127.0.0.1:{port}", pid=int(answer.split()[1]), log=log)
        self.servers.append(server)
        deadline = time.monotonic() + wait
        while True:
            if server.exit_code() is not None:
                raise RuntimeError(f"dealdesk serve exited with {server.exit_code()}:\n{server.output()}")
            try:
                if httpx.get(server.url + "/readyz", timeout=2).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f"dealdesk serve did not become ready:\n{server.output()}")
            time.sleep(0.05)

    def close(self) -> None:
        for s in self.servers:
            s.kill()
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._fh.close()


@dataclass
class Server:
    url: str
    pid: int
    log: Path
    keys: dict[str, str] = field(default_factory=dict)  # what client_for expects of a server

    def exit_code(self) -> int | None:
        done = Path(str(self.log) + ".exit")
        return int(done.read_text()) if done.exists() and done.read_text() else None

    def wait_exit(self, timeout: float = 10) -> int | None:
        deadline = time.monotonic() + timeout
        while (code := self.exit_code()) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return code

    def kill(self) -> None:
        """kill -9, and wait until the process is gone."""
        if self.exit_code() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            assert self.wait_exit() == -signal.SIGKILL

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture(scope="module")
def zygote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zygote]:
    z = Zygote(tmp_path_factory.mktemp("zygote") / "zygote.log")
    try:
        yield z
    finally:
        z.close()


class Lives:
    """Successive servers on one database."""

    def __init__(self, zygote: Zygote, db_url: str, tmp: Path):
        self.zygote, self.db_url, self.tmp = zygote, db_url, tmp
        self.current: Server | None = None
        self.n = 0

    def start(self, crash_at: str | None = None) -> Server:
        assert self.current is None or self.current.exit_code() is not None, "the last server still runs"
        self.n += 1
        self.current = self.zygote.serve(self.db_url, self.tmp / f"serve-{self.n}.log", crash_at)
        return self.current

    def kill(self) -> None:
        assert self.current is not None
        self.current.kill()


# --- buyers --------------------------------------------------------------------------------------


@dataclass
class Buyer:
    org: str
    key: str
    sku: str
    quantity: int
    server: Server | None = None
    client: Any = None  # the official A2A client (a2a.client.create_client)
    task: Task | None = None
    proposal: dict[str, Any] | None = None  # the last proposal the buyer was sent
    sent: list[dict[str, Any]] = field(default_factory=list)  # every proposal version it was sent
    deal: dict[str, Any] | None = None  # the deal it knows of
    accept_id: str | None = None  # the messageId of its last acceptance
    touched: bool = False  # sent something since it was last checked

    async def connect(self, server: Server) -> None:
        """Talk to `server` from now on (the A2A client is made when first needed)."""
        await self.close()
        self.server = server

    async def sdk(self) -> Any:
        if self.client is None:
            self.client = await client_for(self.server, self.key)
        return self.client

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    def got(self, task: Task) -> Task:
        self.touched = True
        self.task = task
        data = data_of(task)
        if data.get("type") == "proposal":
            self.proposal = data
            self.sent.append(data)
        elif data.get("type") == "deal":
            self.deal = data
        return task

    async def rfq(self) -> Task:
        task = self.got(await send(await self.sdk(), message(rfq(self.sku, self.quantity))))
        assert self.proposal is not None and task.status.state == S.TASK_STATE_INPUT_REQUIRED, data_of(task)
        return task

    async def counter(self, price: str) -> Task:
        assert self.proposal is not None and self.task is not None
        return self.got(await send(await self.sdk(), message(counter(self.proposal, price), task=self.task)))

    async def accept(self, *, again: bool = False) -> Task:
        """Accept the last proposal; `again`: the very same message (same messageId) as the last acceptance."""
        assert self.proposal is not None and self.task is not None
        if not again or self.accept_id is None:
            self.accept_id = uuid.uuid4().hex
        self.touched = True  # even when no answer comes
        return self.got(await send(await self.sdk(), message(accept(self.proposal), task=self.task,
                                                             message_id=self.accept_id)))

    def rest(self, timeout: float = 30, **headers: str) -> httpx.AsyncClient:
        assert self.server is not None
        return httpx.AsyncClient(base_url=self.server.url, timeout=timeout,
                                 headers={"Authorization": f"Bearer {self.key}", **headers})

    async def rest_accept(self, idempotency_key: str, timeout: float = 30) -> httpx.Response:
        assert self.proposal is not None
        self.touched = True
        async with self.rest(timeout, **{"Idempotency-Key": idempotency_key}) as http:
            return await http.post(f"/v1/proposals/{self.proposal['proposal_id']}/accept",
                                   json={"version": _version(self.proposal["version"])})

    async def retry_same_message(self, timeout: float) -> tuple[float, Any]:
        """Send the last acceptance again (same messageId) over raw JSON-RPC: (seconds, result or error)."""
        assert self.proposal is not None and self.task is not None
        self.touched = True
        msg = {"messageId": self.accept_id, "role": "ROLE_USER", "taskId": self.task.id,
               "contextId": self.task.context_id, "parts": [{"data": accept(self.proposal)}]}
        started = time.monotonic()
        try:
            async with self.rest(timeout, **{"A2A-Version": "1.0"}) as http:
                r = await http.post("/", json={"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
                                               "params": {"message": msg}})
            body = r.json()
        except httpx.TimeoutException:
            return time.monotonic() - started, f"no answer within {timeout} s"
        elapsed = time.monotonic() - started
        if "error" in body:
            return elapsed, body["error"]
        parts = body["result"]["task"]["status"]["message"]["parts"]
        return elapsed, next((p["data"] for p in parts if "data" in p), None)


def new_buyers(db_url: str, n: int) -> tuple[str, list[Buyer]]:
    """An operator key and n fresh buyer organisations (keys written straight into the database),
    on the SKUs in turn."""
    from agent.store import Store
    from agent.store.keys import KeyStore

    store = Store(db_url)
    try:
        keys = KeyStore(store.engine)
        _, operator = keys.create("operator", label="crash test operator")
        out = []
        for i in range(n):
            org = f"crash-{uuid.uuid4().hex[:8]}"
            _, text = keys.create("buyer", org=org, region="EU", segment="standard", currency="EUR",
                                  label=f"crash test buyer {i}")
            out.append(Buyer(org=org, key=text, sku=SKUS[i % len(SKUS)], quantity=10 + i))
        return operator, out
    finally:
        store.dispose()


def _version(v: Any) -> int:
    return int(float(v))  # a data part's numbers come back from protobuf as floats


def deal_id_of(answer: Any) -> str | None:
    return answer.get("deal_id") if isinstance(answer, dict) and answer.get("type") == "deal" else None


# --- what the database holds ----------------------------------------------------------------------


def assert_consistent(db_url: str) -> dict[str, Any]:
    """Nothing half-written. Returns {"deals": {proposal_id: row}, "proposals": {id: latest version row}}."""
    from agent.store import Store
    from agent.store import schema as t

    store = Store(db_url, migrate=False)
    try:
        with store.engine.connect() as conn:
            inventory = {r.sku: r for r in conn.execute(sql_select(t.inventory))}
            deals = conn.execute(sql_select(t.deals)).all()
            proposals = conn.execute(sql_select(t.proposals)).all()
            holds = conn.execute(sql_select(t.holds)).all()
            negotiations = {r.id: r for r in conn.execute(sql_select(t.negotiations))}
            records = conn.execute(sql_select(t.decision_records.c.negotiation_id,
                                              t.decision_records.c.record)).all()
    finally:
        store.dispose()
    dealt: Counter[str] = Counter()
    for d in deals:
        for item in d.body["items"]:
            dealt[item["sku"]] += int(item["quantity"])
    held: Counter[str] = Counter()
    for h in holds:
        if h.status == "active":
            held[h.sku] += h.quantity
    for sku, row in inventory.items():
        assert row.allocated == dealt[sku], f"{sku}: {row.allocated} allocated, deals for {dealt[sku]}"
        assert row.held == held[sku], f"{sku}: {row.held} held, active holds for {held[sku]}"
        assert row.allocated + row.held <= row.on_hand, sku
    accepted = {(p.id, p.version) for p in proposals if p.status == "accepted"}
    assert {(d.proposal_id, d.version) for d in deals} == accepted, "a deal without its accepted proposal, or back"
    assert len({d.negotiation_id for d in deals}) == len(deals), "two deals in one negotiation"
    accepted_ids = {pid for pid, _ in accepted}
    assert not [h for h in holds if h.status == "active" and h.proposal_id in accepted_ids], \
        "an accepted proposal still holds stock"
    accept_records = {nid for nid, rec in records if rec.get("gen_ai.operation.name") == "accept"}
    for d in deals:
        assert negotiations[d.negotiation_id].status == "deal", d.negotiation_id
        assert d.negotiation_id in accept_records, f"deal {d.id} without its decision record"
    live = Counter(p.id for p in proposals if p.status in ("offered", "pending_approval"))
    assert all(n == 1 for n in live.values()), "two live versions of one proposal"
    latest: dict[str, Any] = {}
    for p in proposals:
        if p.id not in latest or p.version > latest[p.id].version:
            latest[p.id] = p
    return {"deals": {d.proposal_id: d for d in deals}, "proposals": latest}


def left_behind(db_url: str, buyer: Buyer) -> dict[str, Any]:
    """What a killed server left of one buyer's acceptance, read before the restart (before reconciliation)."""
    from agent.server.a2a_tasks import MESSAGE_LOG_TABLE, TASKS_TABLE
    from agent.store import Store
    from agent.store import schema as t

    assert buyer.task is not None
    store = Store(db_url, migrate=False)
    try:
        with store.engine.connect() as conn:
            status = conn.execute(sql_text(f"SELECT status FROM {TASKS_TABLE} WHERE id = :id"),
                                  {"id": buyer.task.id}).scalar()
            claim = conn.execute(sql_text(f"SELECT state, response IS NOT NULL FROM {MESSAGE_LOG_TABLE} "
                                          "WHERE owner = :o AND message_id = :m"),
                                 {"o": buyer.org, "m": buyer.accept_id or ""}).first()
            deal = conn.execute(sql_select(t.deals.c.id).where(t.deals.c.negotiation_id == buyer.task.id)).scalar()
    finally:
        store.dispose()
    if isinstance(status, str):
        status = json.loads(status)
    return {"deal": deal is not None, "task": (status or {}).get("state", "").replace("TASK_STATE_", ""),
            "claim": None if claim is None else ("answered" if claim[1] else claim[0])}


# --- what the restarted server shows ---------------------------------------------------------------


async def wait_for_task(buyer: Buyer, want: Any, timeout: float = 15.0) -> Task:
    """GetTask until `want(task)`: reconciliation runs in the background after start-up."""
    deadline = time.monotonic() + timeout
    while True:
        got = await (await buyer.sdk()).get_task(GetTaskRequest(id=buyer.task.id))
        if want(got) or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.1)


async def assert_intact(server: Server, db_url: str, operator: str, buyers: list[Buyer], *,
                        everyone: bool = False) -> dict[str, Any]:
    """After a restart: the store is consistent; the operator's deal list is the store's; and every buyer
    that did something since its last check (all of them with `everyone`) finds its task, proposals and
    deal as the tables say. Connects the buyers to `server`; one that had not heard of its deal learns it
    from GetTask."""
    found = assert_consistent(db_url)
    deals, proposals = found["deals"], found["proposals"]
    async with httpx.AsyncClient(base_url=server.url, timeout=30,
                                 headers={"Authorization": f"Bearer {operator}"}) as http:
        r = await http.get("/v1/deals")
    assert r.status_code == 200, r.text
    assert {(d["deal_id"], d["proposal_id"], d["version"], d["total"]) for d in r.json()["data"]} == \
        {(d.id, d.proposal_id, d.version, str(d.total)) for d in deals.values()}

    async def check(b: Buyer) -> None:
        b.touched = False
        if b.task is None:
            return
        assert b.proposal is not None
        pid = b.proposal["proposal_id"]
        deal = deals.get(pid)
        async with b.rest() as http:
            for sent in b.sent:  # every version the buyer was sent reads back as sent
                r = await http.get(f"/v1/proposals/{pid}", params={"version": _version(sent["version"])})
                assert r.status_code == 200, r.text
                body = r.json()["proposal"]
                assert (body["total"], body["items"]) == (sent["total"], sent["items"]), (body, sent)
            r = await http.get(f"/v1/proposals/{pid}")
            assert r.status_code == 200 and r.json()["version"] == proposals[pid].version, r.text
            assert r.json()["status"] == ("accepted" if deal else proposals[pid].status)
            listed = await http.get("/v1/deals")
            assert listed.status_code == 200, listed.text
            listed_ids = [d["deal_id"] for d in listed.json()["data"]]
        if deal is not None:
            assert listed_ids == [deal.id], (listed_ids, deal.id)
            if b.deal is not None:
                assert b.deal["deal_id"] == deal.id
            got = await wait_for_task(b, lambda t: t.status.state == S.TASK_STATE_COMPLETED)
            assert got.status.state == S.TASK_STATE_COMPLETED, (b.org, got.status)
            shown = artifact(got, "deal")
            assert shown is not None and shown["deal_id"] == deal.id, shown
            b.deal = shown
        else:
            assert listed_ids == [] and b.deal is None, (listed_ids, b.deal)
            current = proposals[pid]
            assert current.status in ("offered", "pending_approval"), current.status

            def shows_current(t: Task, v: int = current.version) -> bool:
                a = artifact(t, "proposal")
                return t.status.state == S.TASK_STATE_INPUT_REQUIRED and a is not None and _version(a["version"]) == v

            got = await wait_for_task(b, shows_current)
            assert shows_current(got), (b.org, got.status, artifact(got, "proposal"))
        b.task = got

    await asyncio.gather(*[b.connect(server) for b in buyers])
    await asyncio.gather(*[check(b) for b in buyers if everyone or b.touched])
    return found


async def assert_same_deal_again(buyer: Buyer, *, same_message: bool = True) -> None:
    """A retried acceptance of the same version gets the same deal: the same A2A message (when the buyer
    was answered the first time), and a REST accept of the same version with a new Idempotency-Key."""
    assert buyer.deal is not None and buyer.proposal is not None
    if same_message:
        again = await send(await buyer.sdk(), message(accept(buyer.proposal), task=buyer.task,
                                                      message_id=buyer.accept_id))
        assert data_of(again).get("deal_id") == buyer.deal["deal_id"], data_of(again)
    r = await buyer.rest_accept(uuid.uuid4().hex)
    assert r.status_code == 200, r.text
    assert r.json()["deal"]["deal_id"] == buyer.deal["deal_id"]


async def killed_during(call: Any, server: Server) -> None:
    """Make the call the armed server dies on: the buyer gets no answer, the server died by SIGKILL."""
    with pytest.raises(Exception):  # noqa: B017 - the connection drops (the SDK wraps the transport error)
        await call
    assert server.wait_exit() == -signal.SIGKILL, f"the server did not die at the point:\n{server.output()}"


def _close_all(buyers: list[Buyer]) -> Any:
    return asyncio.gather(*[b.close() for b in buyers])


# --- SQLite: every boundary ---------------------------------------------------------------------------


@dataclass
class Run:
    boundaries: dict[str, dict[str, Any]] = field(default_factory=dict)  # what each kill left, before restart
    same_message_after_commit: dict[str, Any] = field(default_factory=dict)  # point -> retry's answer
    same_message_right_after_restart: dict[str, Any] = field(default_factory=dict)  # who -> (s, answer)
    rest_same_key_after_commit: Any = None
    timed: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


async def sqlite_scenario(zygote: Zygote, db: str, tmp: Path) -> Run:
    run = Run()
    started = time.monotonic()
    points = list(CRASH_POINTS)
    operator, (a, c, rest_victim, *others) = new_buyers(db, 3 + len(points) + 3)
    victims = dict(zip(points, others[:len(points)], strict=True))
    timed = others[len(points):]
    everyone = [a, c, rest_victim, *victims.values(), *timed]
    lives = Lives(zygote, db, tmp)
    try:
        # life 1: a deal for C; A gets a proposal, and at once kill -9 (a).
        server = lives.start()
        for b in everyone:
            await b.connect(server)
        await c.rfq()
        await c.accept()
        assert c.deal is not None
        await a.rfq()
        lives.kill()

        # lives 2-5: restart, check, go on; then a buyer's acceptance kills the server at the armed point (b).
        for n, point in enumerate(points):
            victim = victims[point]
            server = lives.start(crash_at=f"{point}:{victim.org}")
            await assert_intact(server, db, operator, everyone)
            if n == 1:  # the buyer whose acceptance died before its commit sends the same message at once
                first = victims[points[0]]
                run.same_message_right_after_restart[points[0]] = answer = \
                    await first.retry_same_message(PROBE_TIMEOUT_S)
                if deal_id_of(answer[1]) is None:  # no answer: it goes on with a new acceptance
                    await first.accept()
                else:
                    first.deal = answer[1]
                assert first.deal is not None
            if n < 2:  # A goes on haggling on the same task
                await a.counter("3.60")
                assert a.task.status.state == S.TASK_STATE_INPUT_REQUIRED and _version(a.proposal["version"]) > n + 1
            await victim.rfq()
            await killed_during(victim.accept(), server)
            run.boundaries[point] = left_behind(db, victim)
            assert run.boundaries[point]["deal"] is (point != "accept_in_txn"), run.boundaries[point]

        # life 6: an acceptance over REST (with an Idempotency-Key) dies right after its commit.
        server = lives.start(crash_at=f"accept_committed:{rest_victim.org}")
        await assert_intact(server, db, operator, everyone)
        await rest_victim.rfq()
        rest_key = uuid.uuid4().hex
        await killed_during(rest_victim.rest_accept(rest_key), server)
        run.boundaries["rest:accept_committed"] = left_behind(db, rest_victim)

        # life 7: the REST buyer retries with its key; a deal for A, then (c) at once a burst of
        # acceptances, and the server is killed in the middle of them (timed).
        server = lives.start()
        await assert_intact(server, db, operator, everyone)
        r = await rest_victim.rest_accept(rest_key)
        run.rest_same_key_after_commit = (r.status_code, r.json())
        await assert_same_deal_again(rest_victim, same_message=False)
        await assert_same_deal_again(c)
        await asyncio.gather(*[b.rfq() for b in timed])
        t0 = time.monotonic()
        await a.accept()
        assert a.deal is not None and a.task.status.state == S.TASK_STATE_COMPLETED
        one_accept = time.monotonic() - t0
        burst = [asyncio.create_task(b.accept()) for b in timed]
        await asyncio.sleep(min(max(one_accept * 0.5, 0.05), 1.0))  # half-way through the burst
        lives.kill()
        outcomes = await asyncio.gather(*burst, return_exceptions=True)
        for b, outcome in zip(timed, outcomes, strict=True):
            answered = not isinstance(outcome, BaseException)
            run.timed.append({**left_behind(db, b), "answered": answered})
            assert not answered or b.deal is not None

        # life 8: everything intact; every buyer goes on and ends with exactly its one deal.
        server = lives.start()
        await assert_intact(server, db, operator, everyone, everyone=True)

        async def committed_victim(point: str) -> None:  # the same message, once its claim has turned stale
            v = victims[point]
            _, answer = await v.retry_same_message(3 * TURN_TIMEOUT_S + 10)
            run.same_message_after_commit[point] = answer
            await assert_same_deal_again(v, same_message=False)

        async def timed_buyer(b: Buyer, left: dict[str, Any]) -> None:
            if left["answered"]:
                await assert_same_deal_again(b)
                return
            if left["claim"] == "pending":
                run.same_message_right_after_restart[f"timed:{b.org}"] = answer = \
                    await b.retry_same_message(PROBE_TIMEOUT_S)
                if deal_id_of(answer[1]):
                    b.deal = answer[1]
            if b.deal is None:  # no deal was made before the kill: accept (a new message)
                await b.accept()
            assert b.deal is not None
            await assert_same_deal_again(b, same_message=False)

        await asyncio.gather(assert_same_deal_again(a), *[committed_victim(p) for p in points[1:]],
                             *[timed_buyer(b, left) for b, left in zip(timed, run.timed, strict=True)])
        found = assert_consistent(db)
        assert len(found["deals"]) == len(everyone)  # one deal each, none twice
        server.kill()
    finally:
        await _close_all(everyone)
    run.seconds = time.monotonic() - started
    return run


@pytest.fixture(scope="module")
def sqlite_run(zygote: Zygote, tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("crash-sqlite")
    run = asyncio.run(sqlite_scenario(zygote, f"sqlite:///{tmp / 'crash.db'}", tmp))
    print(f"\nSQLite crash run: {run.seconds:.1f} s")
    for point, left in run.boundaries.items():
        print(f"  killed at {point}: left {left}")
    print(f"  timed kill: {run.timed}")
    print(f"  same message right after restart: {run.same_message_right_after_restart}")
    print(f"  same message after a commit crash: {run.same_message_after_commit}")
    print(f"  REST same Idempotency-Key after a commit crash: {run.rest_same_key_after_commit}")
    return run


def test_sqlite_kill_9_at_every_boundary_keeps_tasks_proposals_and_deals_intact(sqlite_run: Run) -> None:
    """The scenario asserts as it goes (see the module doc); here, that each armed kill hit its point."""
    left = sqlite_run.boundaries
    assert left["accept_in_txn"] == {"deal": False, "task": "INPUT_REQUIRED", "claim": "pending"}
    assert left["accept_committed"]["deal"] and left["accept_committed"]["task"] == "INPUT_REQUIRED"
    assert left["turn_done"]["deal"] and left["turn_done"]["task"] == "INPUT_REQUIRED"
    assert left["task_saved"] == {"deal": True, "task": "COMPLETED", "claim": "pending"}
    assert left["rest:accept_committed"]["deal"] and left["rest:accept_committed"]["task"] == "INPUT_REQUIRED"


def test_same_message_retried_after_a_crash_past_the_commit_gets_the_deal(sqlite_run: Run) -> None:
    answers = sqlite_run.same_message_after_commit
    assert set(answers) == set(list(CRASH_POINTS)[1:])
    assert all(deal_id_of(a) for a in answers.values()), answers


def test_same_message_retried_right_after_a_restart_is_answered_promptly(sqlite_run: Run) -> None:
    probes = sqlite_run.same_message_right_after_restart
    assert "accept_in_txn" in probes
    assert all(seconds < PROBE_TIMEOUT_S and deal_id_of(answer) for seconds, answer in probes.values()), probes


def test_rest_accept_retried_with_its_idempotency_key_after_a_crash_gets_the_deal(sqlite_run: Run) -> None:
    status, body = sqlite_run.rest_same_key_after_commit
    assert status == 200 and body["deal"]["type"] == "deal", (status, body)


# --- PostgreSQL: one kill ------------------------------------------------------------------------


def test_postgresql_kill_9_keeps_tasks_proposals_and_deals_intact(zygote: Zygote, tmp_path: Path) -> None:
    import dbutil

    with dbutil.pg_schema() as db:
        asyncio.run(postgres_scenario(zygote, db, tmp_path))


async def postgres_scenario(zygote: Zygote, db: str, tmp: Path) -> None:
    operator, buyers = new_buyers(db, 3)
    a, c, victim = buyers
    lives = Lives(zygote, db, tmp)
    try:
        # life 1: a deal for C, a proposal for A, and the victim's acceptance kills the server after its commit.
        server = lives.start(crash_at=f"accept_committed:{victim.org}")
        for b in buyers:
            await b.connect(server)
        await c.rfq()
        await c.accept()
        await victim.rfq()
        await a.rfq()
        await killed_during(victim.accept(), server)
        left = left_behind(db, victim)
        assert left == {"deal": True, "task": "INPUT_REQUIRED", "claim": "pending"}, left

        # life 2: intact; the victim's retry of its acceptance (the same messageId, whose claim the killed
        # process left pending) is answered at once: the claim names a process whose liveness lock is gone.
        server = lives.start()
        await assert_intact(server, db, operator, buyers, everyone=True)
        assert victim.deal is not None  # learnt from GetTask: the task was reconciled to COMPLETED with the deal
        seconds, answer = await victim.retry_same_message(PROBE_TIMEOUT_S)
        assert seconds < PROBE_TIMEOUT_S and deal_id_of(answer) == victim.deal["deal_id"], (seconds, answer)
        await assert_same_deal_again(victim, same_message=False)
        await assert_same_deal_again(c)
        await a.counter("3.60")
        await a.accept()
        assert a.deal is not None
        await assert_same_deal_again(a)
        assert len(assert_consistent(db)["deals"]) == 3
        server.kill()
    finally:
        await _close_all(buyers)
