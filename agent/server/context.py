"""What every part of the server shares: the settings, the seller, the keys, and the seller-turn hub.

The seller is synchronous (LangGraph, SQLAlchemy); the server is async. A turn
runs in a worker thread with a timeout (`run_turn`). A turn the buyer did not
start over A2A (an operator's decision, a REST accept) is published to the
listeners, so the A2A layer can move the buyer's task on and notify them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio

from agent.models.resilient import turn_deadline
from agent.service import Reply, Seller
from agent.store.keys import KeyStore
from agent.store.liveness import Liveness

log = logging.getLogger("dealdesk.server")
T = TypeVar("T")

SellerTurnListener = Callable[[str, Reply], Awaitable[None]]


_LATE: set[Any] = set()  # the late turns being published (`ServerContext.run_turn_then`)


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    db_url: str = ""
    public_url: str | None = None  # what the Agent Card advertises; default http://host:port
    demo: bool = False
    workers: int = 1
    max_body_bytes: int = 1_000_000
    max_json_depth: int = 32
    max_text_chars: int = 4000
    max_items: int = 100
    rate_per_second: float = 20.0  # token bucket per key: refill rate
    rate_burst: int = 40  # and capacity
    turn_timeout_s: float = 30.0
    pg_connections: int | None = None  # PostgreSQL connections this process may open (`agent/store/pools.py`)
    push_allow_local: bool = False  # push notifications may go to loopback receivers (a developer's machine)

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class TurnTimeout(Exception):
    """A turn took longer than the settings allow."""


@dataclass
class ServerContext:
    settings: ServerSettings
    seller: Seller
    keys: KeyStore
    listeners: list[SellerTurnListener] = field(default_factory=list)
    limiter: anyio.CapacityLimiter | None = None
    liveness: Liveness | None = None

    @property
    def single_process(self) -> bool:
        """Only this process writes the database (one worker on SQLite, which serves no more)."""
        return self.settings.workers <= 1 and str(self.seller.store.url).startswith("sqlite")

    def live(self) -> Liveness:
        """This process's liveness token (agent/store/liveness.py), taken on first use."""
        if self.liveness is None:
            self.liveness = Liveness(self.seller.store.engine, single_process=self.single_process).start()
        return self.liveness

    async def run_turn(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one blocking seller call in a worker thread, bounded by the turn timeout.

        On timeout the thread still finishes its transaction (nothing is half-written:
        each write is one transaction); the caller reports a timeout. A language model's requests in the
        turn end a margin before the timeout (`turn_deadline`), so a slow model is answered for by the
        offline model within the turn rather than after the buyer was told it took too long.
        """
        return await self.run_turn_then(None, fn, *args, **kwargs)

    async def run_turn_then(self, late: Callable[[T], Awaitable[Any]] | None, fn: Callable[..., T], *args: Any,
                            **kwargs: Any) -> T:
        """`run_turn`; when it times out, `late(result)` runs on the event loop once the thread's call returns, so a
        turn that commits after the buyer was told it took too long still reaches the buyer (its task) then,
        rather than at the next reconciliation. Not when the call raises: nothing committed to tell."""
        limiter = self.limiter or anyio.to_thread.current_default_thread_limiter()
        timeout = self.settings.turn_timeout_s
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        lock = threading.Lock()
        outcome: dict[str, Any] = {}  # "result" once the call returned; "late" once the caller gave up on it

        def deliver(result: T) -> None:
            if late is None:
                return
            try:
                done = asyncio.run_coroutine_threadsafe(self._late(late, result), loop)
            except RuntimeError:  # the loop is closed (shutting down): reconciliation at the next start
                return
            _LATE.add(done)  # held until it ran (the loop keeps tasks only weakly)
            done.add_done_callback(_LATE.discard)

        def call() -> T:
            with turn_deadline(timeout, started=started):
                result = fn(*args, **kwargs)
            with lock:
                outcome["result"] = result
                given_up = "late" in outcome
            if given_up:
                deliver(result)
            return result

        try:
            with anyio.fail_after(timeout):
                return await anyio.to_thread.run_sync(call, limiter=limiter, abandon_on_cancel=True)
        except TimeoutError as exc:
            with lock:
                outcome["late"] = True
                finished = "result" in outcome
            if finished:  # it returned just as the time ran out
                deliver(outcome["result"])
            raise TurnTimeout(f"the turn took longer than {self.settings.turn_timeout_s} s") from exc

    @staticmethod
    async def _late(late: Callable[[T], Awaitable[Any]], result: T) -> None:
        try:
            await late(result)
        except Exception:  # the turn committed; reconciliation still brings the task in line
            log.exception("publishing a late turn failed")

    async def decide(self, approval_id: str, decision: str, *, by: str, note: str | None = None,
                     prices: dict[str, str] | None = None) -> Reply | None:
        """An operator's decision (REST, console): the seller-initiated turn, then the buyer's task hears of it.

        Raises the seller's typed errors (ApprovalNotPending, DealdeskError) and TurnTimeout.
        """
        async def publish(reply: Reply | None) -> None:
            if reply is not None:
                await self.publish_seller_turn(reply.negotiation_id, reply)

        reply = await self.run_turn_then(publish, self.seller.decide, approval_id, decision, by=by, note=note,
                                         prices=prices)
        await publish(reply)
        return reply

    def on_seller_turn(self, listener: SellerTurnListener) -> None:
        self.listeners.append(listener)

    async def publish_seller_turn(self, negotiation_id: str, reply: Reply) -> None:
        """Tell the listeners (the A2A task layer) about a turn that did not come in over A2A."""
        for listener in list(self.listeners):
            try:
                await listener(negotiation_id, reply)
            except Exception:  # a listener's failure must not undo a committed turn
                log.exception("seller-turn listener failed for %s", negotiation_id)
            await asyncio.sleep(0)
