"""Live servers for the server tests: the real app under uvicorn on a free port, over real HTTP.

Fixtures:
- `live_server` (session): one in-process server on a fresh SQLite database in demo mode,
  with generous rate limits. `.url`, `.keys` (name -> key text: buyer_eu, buyer_us, operator,
  admin), `.ctx` (the ServerContext: `ctx.seller`, `ctx.keys`, ...), `.client(name)` (an
  httpx.Client with that key), `.headers(name)`.
- `live_server_factory` (session): `live_server_factory(**settings)` starts another in-process
  server with ServerSettings overrides (e.g. rate_burst=5, turn_timeout_s=0.2, db_url=...);
  each is stopped at the end of the session.
- `spawn_server(...)` (a plain function): `dealdesk serve` in a subprocess, for several
  workers, PostgreSQL and kill -9 tests; returns a `Spawned` with `.url`, `.keys`, `.proc`,
  `.stop()`, `.kill()`.
- `flow` (function): a `Flow` driving `live_server.ctx.seller` in-process: `new_buyer()` (a fresh
  organisation and its key), `rfq(...)`, `counter(...)`, `pending_approval(...)`, `free_holds(org)`.
  The strategy remembers an organisation's haggles on a SKU across negotiations, and BRG-6204 caps
  holds at 1000 units per organisation: use fresh buyers where the figures matter.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO_KEY_NAMES = ("buyer_eu", "buyer_us", "operator", "admin")


def demo_keys() -> dict[str, str]:
    from agent.server.app import DEMO_KEYS

    return {d.name: d.key for d in DEMO_KEYS}


def free_socket(host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class LiveServer:
    url: str
    keys: dict[str, str]
    ctx: Any = None  # agent.server.context.ServerContext when in-process
    app: Any = None

    def headers(self, name: str | None = None, **extra: str) -> dict[str, str]:
        """Headers with the key named `name` (a demo key name, or any key text)."""
        out = dict(extra)
        if name is not None:
            out["Authorization"] = f"Bearer {self.keys.get(name, name)}"
        return out

    def client(self, name: str | None = None, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers(name), timeout=kw.pop("timeout", 30), **kw)


class _Running:
    def __init__(self, server: Any, thread: threading.Thread, ctx: Any):
        self.server, self.thread, self.ctx = server, thread, ctx

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.ctx.seller.close()


def start_in_process(db_url: str, *, demo: bool = True, catalog: Any = None, policy: Any = None,
                     **overrides: Any) -> tuple[LiveServer, _Running]:
    """Build the context and app, serve them under uvicorn in a thread on a free port."""
    import uvicorn

    from agent.server.app import build_context, create_app
    from agent.server.context import ServerSettings

    sock = free_socket()
    port = sock.getsockname()[1]
    settings = ServerSettings(host="127.0.0.1", port=port, db_url=db_url, demo=demo, **overrides)
    ctx = build_context(settings, catalog, policy)
    app = create_app(ctx)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    live = LiveServer(url=f"http://127.0.0.1:{port}", keys=demo_keys() if demo else {}, ctx=ctx, app=app)
    return live, _Running(server, thread, ctx)


@pytest.fixture(scope="session")
def live_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    running: list[_Running] = []

    def make(**overrides: Any) -> LiveServer:
        db_url = overrides.pop("db_url", None)
        if db_url is None:
            db_url = f"sqlite:///{tmp_path_factory.mktemp('srv') / 'dealdesk.db'}"
        live, run = start_in_process(db_url, **overrides)
        running.append(run)
        return live

    yield make
    for run in reversed(running):
        run.stop()


@pytest.fixture(scope="session")
def live_server(live_server_factory: Any) -> LiveServer:
    """The shared server: SQLite, demo keys, rate limits high enough not to get in the way."""
    return live_server_factory(rate_per_second=1000.0, rate_burst=2000)


# --- subprocess servers -------------------------------------------------------------------


@dataclasses.dataclass
class Spawned:
    url: str
    keys: dict[str, str]
    proc: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def kill(self) -> None:
        """kill -9, for crash tests."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def spawn_server(db_url: str, *, workers: int = 1, demo: bool = True, port: int | None = None,
                 log: Path | None = None, extra_args: list[str] | None = None, env: dict[str, str] | None = None,
                 wait: float = 60) -> Spawned:
    """`dealdesk serve` in a subprocess (its own process group); waits until /readyz answers 200."""
    port = port or free_port()
    log = log or Path(os.environ.get("TMPDIR", "/tmp")) / f"dealdesk-serve-{port}.log"
    args = [sys.executable, "-m", "agent.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--db", db_url,
            "--workers", str(workers), "--demo" if demo else "--no-demo", *(extra_args or [])]
    fh = open(log, "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(args, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                            env={**os.environ, "DEALDESK_LOG": os.devnull, **(env or {})}, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + wait
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"dealdesk serve exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"dealdesk serve did not become ready:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)
    return Spawned(url=url, keys=demo_keys() if demo else {}, proc=proc, log=log)


# --- negotiating in-process (through ctx.seller, no HTTP) ------------------------------------

EU_BUYER = {"org": "acme-eu", "region": "EU", "segment": "standard", "currency": "EUR"}  # demo key buyer_eu
US_BUYER = {"org": "globex-us", "region": "US", "segment": "strategic", "currency": "USD"}  # demo key buyer_us
APPROVAL_COUNTERS = ("2.40", "2.50", "2.60", "2.68", "2.70")  # 500 x BRG-6204 in EU: pending at level manager


class Flow:
    """Drive the seller directly (in-process) to set up proposals, deals and approvals."""

    def __init__(self, ctx: Any):
        self.ctx = ctx
        self.seller = ctx.seller
        self.opened: list[str] = []  # the negotiations `rfq` started, for a fixture to close after its test

    def new_buyer(self, region: str = "EU", segment: str = "standard", currency: str | None = "EUR",
                  org: str | None = None) -> tuple[dict[str, str], str]:
        """A fresh buyer organisation and a key for it: (buyer dict, key text).

        The strategy remembers an organisation's recent negotiations on a SKU (its concession curve
        continues across negotiations), so tests that need a predictable haggle use a fresh one.
        """
        import secrets

        org = org or f"org-{secrets.token_hex(4)}"
        _, text = self.ctx.keys.create("buyer", org=org, region=region, segment=segment, currency=currency,
                                       label=f"test buyer {org}")
        return {"org": org, "region": region, "segment": segment, "currency": currency}, text

    def rfq(self, buyer: dict[str, str] = EU_BUYER, sku: str = "BRG-6204", quantity: int = 500) -> tuple[str, dict]:
        """A new negotiation and its first proposal: (negotiation id, proposal data part)."""
        from agent.service import Buyer

        self.free_holds(buyer["org"])
        nid = self.seller.start(Buyer(**buyer))
        self.opened.append(nid)
        reply = self.seller.send(nid, data={"type": "rfq", "items": [{"sku": sku, "quantity": str(quantity)}]})
        assert reply.type == "proposal", reply.data
        return nid, reply.data

    def free_holds(self, org: str) -> None:
        """Release the organisation's active holds (earlier tests' open proposals), keeping each
        proposal's status: the per-organisation hold cap (1000 x BRG-6204) would refuse new RFQs.
        An accepted proposal re-reserves its stock, so nothing else changes."""
        store = self.seller.store
        for h in store.active_holds(org):
            p = store.get_proposal(h["proposal_id"], h["version"])
            store.set_proposal_status(h["proposal_id"], h["version"], p.status if p else "superseded",
                                      release_holds=True)

    def counter(self, nid: str, proposal: dict, price: str) -> Any:
        items = [{"sku": i["sku"], "quantity": i["quantity"], "unit_price": price} for i in proposal["items"]]
        return self.seller.send(nid, data={"type": "counter_offer", "proposal_id": proposal["proposal_id"],
                                           "version": proposal["version"], "items": items})

    def pending_approval(self, buyer: dict[str, str] | None = None) -> tuple[str, dict, Any]:
        """Haggle 500 x BRG-6204 until an approval is pending: (negotiation id, last proposal, approval row).

        Use a fresh EU buyer (`new_buyer()`): an organisation's earlier haggles move the curve on."""
        if buyer is None:
            buyer, _ = self.new_buyer()
        nid, proposal = self.rfq(buyer)
        for price in APPROVAL_COUNTERS:
            reply = self.counter(nid, proposal, price)
            assert reply.type == "proposal", reply.data
            proposal = reply.data
        approval = self.seller.store.pending_approval(nid)
        assert approval is not None and approval.level == "manager", approval
        return nid, proposal, approval


@pytest.fixture()
def flow(live_server: LiveServer) -> Flow:
    return Flow(live_server.ctx)
