"""Where A2A tasks live, and how their updates reach the buyer out of band.

- **Task store.** a2a-sdk's `VersionedDatabaseTaskStore` on the same database as the rest of
  dealdesk (`a2a_*` tables): SQLite through aiosqlite, PostgreSQL through psycopg 3 (one
  driver for the whole process). The versioned store compares and swaps a version per
  task, so two writers (a buyer turn here, an operator decision in another process) never
  overwrite each other silently. The `DatabaseTaskEventStream` lets any process serve
  `SubscribeToTask` for a task another process is running (several workers on PostgreSQL).
- **Owner.** Every task, push config and message-id record belongs to the buyer
  organisation of the key that created it (`owner_of`): another organisation's reads
  find nothing.
- **Push notifications.** Configs persist in the database (`DatabasePushNotificationConfigStore`;
  encrypted at rest when `DEALDESK_PUSH_CONFIG_KEY` holds a Fernet key).
  `RetryingPushSender` posts each event in order per task and config, with the auth the buyer
  set (`Authorization: <scheme> <credentials>`, and `X-A2A-Notification-Token`), retrying
  transport errors, 408, 429 and 5xx with exponential backoff and jitter (tenacity). Delivery
  runs beside the task, never inside it: a slow receiver delays nothing, and the buyer can
  always fall back to `GetTask`.
- **Message ids.** `MessageLog` remembers each (owner, messageId) with a digest of the message
  and the answer, so a retried `SendMessage` is answered once and never negotiated twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import inspect
import ipaddress
import json
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx
from google.protobuf.json_format import MessageToDict
from sqlalchemy import (Column, DateTime, MetaData, PrimaryKeyConstraint, String, Table, Text, and_, delete, event,
                        insert, select, update)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from a2a.server.context import ServerCallContext
from a2a.server.tasks import InMemoryPushNotificationConfigStore, InMemoryTaskStore, PushNotificationConfigStore
from a2a.server.tasks.push_notification_sender import PushNotificationEvent, PushNotificationSender
from a2a.types.a2a_pb2 import TaskPushNotificationConfig
from a2a.utils.proto_utils import to_stream_response

from agent.store.db import normalise_url
from agent.store.pools import DEFAULT as DEFAULT_POOLS
from agent.store.pools import PoolSizes
from agent.store.schema import add_column_if_missing

log = logging.getLogger("dealdesk.a2a")

# The SDK's own table names, so its migrations (`a2a-db`) apply to them as they are.
TASKS_TABLE = "tasks"
EVENTS_TABLE = "task_events"
VERSIONS_TABLE = "task_versions"
PUSH_TABLE = "push_notification_configs"
MESSAGE_LOG_TABLE = "a2a_message_log"
PUSH_KEY_ENV = "DEALDESK_PUSH_CONFIG_KEY"  # Fernet key (urlsafe base64, 32 bytes) to encrypt push configs


def owner_of(context: ServerCallContext) -> str:
    """The owner of tasks, push configs and message ids: the caller's buyer organisation."""
    return context.user.user_name if context.user.is_authenticated else ""


def async_db_url(db_url: str) -> str | None:
    """The async SQLAlchemy URL for the same database; None for an in-memory (or no) database."""
    url = normalise_url(db_url or "")
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path in ("", ":memory:"):
            return None
        return f"sqlite+aiosqlite:///{path}"
    if url.startswith("postgresql+psycopg://"):
        return url
    if url.startswith("postgresql+"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url or None


def make_async_engine(url: str, pools: PoolSizes = DEFAULT_POOLS) -> AsyncEngine:
    if url.startswith("sqlite"):
        # Same file as the synchronous store (WAL, set there); wait on its write lock rather than fail.
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - every SQLite test
            # Tasks and message ids are derived state (reconciled from the negotiation tables on
            # start-up): in WAL mode NORMAL survives a killed process; only an OS crash may lose the
            # last commits, which reconciliation repairs. The deal itself is committed FULL by the store.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_async_engine(url, pool_size=pools.tasks[0], max_overflow=pools.tasks[1], pool_pre_ping=True)


# --- push notifications --------------------------------------------------------------------


# tenacity 9.2 renamed wait_exponential_jitter's `initial` to `multiplier`; 8.x only knows `initial`.
_FIRST_WAIT = "multiplier" if "multiplier" in inspect.signature(wait_exponential_jitter).parameters else "initial"


class RetryableDelivery(Exception):
    """A delivery worth retrying: transport error, 408, 429 or 5xx."""


def _loopback_host(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _has_control_or_space(url: str) -> bool:
    return any(ch <= " " or ch == "\x7f" for ch in url)


def push_url_policy(allow_local: bool = False) -> Callable[[str], Awaitable[bool]]:
    """http(s) only, with no whitespace or control characters (a newline would be written into the server's
    log); private, loopback and metadata addresses refused (SSRF). `allow_local` (`serve --push-allow-local`,
    for a developer's machine and the tests) lets loopback receivers through: never on a server others can
    reach, since a buyer would then make it POST, with headers the buyer chooses, to any local port (bound
    to loopback behind a reverse proxy, the server is reachable all the same)."""
    from a2a.utils.push_url_validator import validate_push_notification_url

    async def allowed(url: str) -> bool:
        if _has_control_or_space(url):
            return False
        try:
            parsed = urlparse(url)
        except ValueError:
            return False
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            return False
        if allow_local and _loopback_host(parsed.hostname):
            return True
        return await validate_push_notification_url(url)

    return allowed


class RetryingPushSender(PushNotificationSender):
    """Delivers every task event to the buyer's push configs, in order, retrying with backoff."""

    def __init__(self, config_store: PushNotificationConfigStore, *, url_ok: Callable[[str], Awaitable[bool]],
                 attempts: int = 6, base_delay: float = 0.5, max_delay: float = 30.0, timeout: float = 10.0):
        self.config_store = config_store
        self.url_ok = url_ok
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._queues: dict[tuple[str, str], deque[tuple[TaskPushNotificationConfig, dict[str, Any]]]] = {}
        self._workers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.delivered = 0
        self.failed = 0

    async def send_notification(self, task_id: str, event: PushNotificationEvent) -> None:
        try:
            configs = await self.config_store.get_info_for_dispatch(task_id)
        except Exception:  # best effort: the buyer can always GetTask
            log.exception("push configs for task %s could not be read", task_id)
            return
        if not configs:
            return
        payload = MessageToDict(to_stream_response(event))
        for cfg in configs:
            key = (task_id, cfg.id)
            self._queues.setdefault(key, deque()).append((cfg, payload))
            if key not in self._workers:
                worker = asyncio.create_task(self._drain(key), name=f"push:{task_id}:{cfg.id}")
                self._workers[key] = worker

    async def _drain(self, key: tuple[str, str]) -> None:
        queue = self._queues[key]
        try:
            while queue:
                cfg, payload = queue.popleft()
                await self._deliver(cfg, payload)
        finally:
            self._workers.pop(key, None)
            if not queue:
                self._queues.pop(key, None)

    @staticmethod
    def headers_for(cfg: TaskPushNotificationConfig) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if cfg.token:
            headers["X-A2A-Notification-Token"] = cfg.token
        if cfg.HasField("authentication") and cfg.authentication.scheme:
            auth = cfg.authentication
            headers["Authorization"] = f"{auth.scheme} {auth.credentials}".strip()
        return headers

    async def _deliver(self, cfg: TaskPushNotificationConfig, payload: dict[str, Any]) -> bool:
        try:
            if not await self.url_ok(cfg.url):
                log.warning("push URL refused for task %s: %s", cfg.task_id, cfg.url)
                self.failed += 1
                return False
        except Exception:
            log.exception("push URL check failed for task %s", cfg.task_id)
            self.failed += 1
            return False
        headers = self.headers_for(cfg)
        body = json.dumps(payload).encode()
        try:
            async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(max(self.attempts, 1)),
                    wait=wait_exponential_jitter(**{_FIRST_WAIT: self.base_delay}, max=self.max_delay,
                                                 jitter=self.base_delay / 2),
                    retry=retry_if_exception(lambda e: isinstance(e, (RetryableDelivery, httpx.TransportError))),
                    reraise=True):
                with attempt:
                    response = await self._client.post(cfg.url, content=body, headers=headers)
                    if response.status_code in (408, 429) or response.status_code >= 500:
                        raise RetryableDelivery(f"HTTP {response.status_code}")
                    response.raise_for_status()
        except Exception as exc:  # noqa: BLE001 - best effort, logged
            log.warning("push notification for task %s to %s failed: %s", cfg.task_id, cfg.url, exc)
            self.failed += 1
            return False
        self.delivered += 1
        return True

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait for deliveries in flight (tests, shutdown)."""
        workers = list(self._workers.values())
        if workers:
            await asyncio.wait(workers, timeout=timeout)

    async def aclose(self, timeout: float = 2.0) -> None:
        await self.drain(timeout)
        for worker in list(self._workers.values()):
            worker.cancel()
        await self._client.aclose()


# --- message ids (retries answered once) ---------------------------------------------------

_meta = MetaData()
message_log = Table(
    MESSAGE_LOG_TABLE, _meta,
    Column("owner", String(255), nullable=False),
    Column("message_id", String(255), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # pending | done
    Column("task_id", String(64)),
    Column("response", Text),  # JSON: {"kind": "task"|"message", "value": {...}}
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("holder", String(32)),  # token of the server process that claimed it (agent/store/liveness.py)
    PrimaryKeyConstraint("owner", "message_id", name="pk_a2a_message_log"),
)


def message_digest(message: Any) -> str:
    """What makes a message the same message: its task, context, parts and metadata (not its id)."""
    d = MessageToDict(message)
    d.pop("messageId", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class Claim:
    state: str  # new | pending | done | conflict
    task_id: str | None = None
    response: dict[str, Any] | None = None
    age_s: float = 0.0
    holder: str | None = None  # the claiming process's token
    updated_at: dt.datetime | None = None  # as read: a take-over succeeds only on the claim as it was read


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class MessageLog:
    """(owner, messageId) -> the answer, in the database (or in memory without one)."""

    def __init__(self, engine: AsyncEngine | None, holder: str | None = None):
        """`holder`: this process's token (agent/store/liveness.py), written on the claims it makes."""
        self.engine = engine
        self.holder = holder
        self._ready = False
        self._mem: dict[tuple[str, str], dict[str, Any]] = {}

    async def initialize(self) -> None:
        if self._ready or self.engine is None:
            self._ready = True
            return
        try:
            async with self.engine.begin() as conn:
                await conn.run_sync(_meta.create_all, tables=[message_log])
        except Exception:  # another process created it at the same moment
            async with self.engine.begin() as conn:
                await conn.run_sync(_meta.create_all, tables=[message_log])
        try:  # a log created before claims named their process
            async with self.engine.begin() as conn:
                await conn.run_sync(add_column_if_missing, message_log, "holder")
        except Exception:  # another process added it at the same moment
            log.debug("message log holder column", exc_info=True)
        self._ready = True

    async def claim(self, owner: str, message_id: str, digest: str, *, tries: int = 3) -> Claim:
        """Register a message id; tells whether it is new, in flight, answered, or reused for another message."""
        await self.initialize()
        now = _now()
        if self.engine is None:
            row = self._mem.get((owner, message_id))
            if row is None:
                self._mem[(owner, message_id)] = {"digest": digest, "state": "pending", "task_id": None,
                                                  "response": None, "created_at": now, "updated_at": now,
                                                  "holder": self.holder}
                return Claim("new")
            return self._claim_of(row, digest, now)
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(message_log).values(owner=owner, message_id=message_id, digest=digest,
                                                              state="pending", created_at=now, updated_at=now,
                                                              holder=self.holder))
            return Claim("new")
        except IntegrityError:
            pass
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(message_log).where(and_(
                message_log.c.owner == owner, message_log.c.message_id == message_id)))).first()
        if row is None:  # released meanwhile: try again, a few times (an insert that fails for another reason,
            if tries <= 1:  # a constraint of the database's own, would otherwise recurse without end)
                raise RuntimeError(f"messageId {message_id!r} could be neither claimed nor found")
            return await self.claim(owner, message_id, digest, tries=tries - 1)
        return self._claim_of(dict(row._mapping), digest, now)

    @staticmethod
    def _claim_of(row: dict[str, Any], digest: str, now: dt.datetime) -> Claim:
        if row["digest"] != digest:
            return Claim("conflict", row.get("task_id"))
        response = json.loads(row["response"]) if row.get("response") else None
        return Claim(row["state"], row.get("task_id"), response, (now - row["updated_at"]).total_seconds(),
                     row.get("holder"), row["updated_at"])

    async def take_over(self, owner: str, message_id: str, seen: Claim) -> bool:
        """Claim again a message whose first attempt came to nothing (a stale pending claim, or one
        recorded without an answer), as `seen` read it; True if this caller now holds it (exactly one
        caller wins: the claim must still be the one read, so a second retry finds it taken)."""
        now = _now()
        if self.engine is None:
            row = self._mem.get((owner, message_id))
            if row is None or row.get("response") is not None or row["updated_at"] != seen.updated_at:
                return False
            row.update(state="pending", updated_at=now, holder=self.holder)
            return True
        c = message_log.c
        async with self.engine.begin() as conn:
            done = await conn.execute(update(message_log).where(
                c.owner == owner, c.message_id == message_id, c.response.is_(None), c.updated_at == seen.updated_at,
                c.holder.is_(None) if seen.holder is None else c.holder == seen.holder)
                .values(state="pending", updated_at=now, holder=self.holder))
            return bool(done.rowcount)

    async def complete(self, owner: str, message_id: str, task_id: str | None,
                       response: dict[str, Any] | None) -> None:
        text = None if response is None else json.dumps(response)
        now = _now()
        if self.engine is None:
            row = self._mem.get((owner, message_id))
            if row is not None:
                row.update(state="done", task_id=task_id, response=text, updated_at=now)
            return
        async with self.engine.begin() as conn:
            await conn.execute(update(message_log).where(and_(
                message_log.c.owner == owner, message_log.c.message_id == message_id)).values(
                state="done", task_id=task_id, response=text, updated_at=now))

    async def release(self, owner: str, message_id: str) -> None:
        """Forget a claim whose request failed before any answer (a retry is processed afresh)."""
        if self.engine is None:
            row = self._mem.get((owner, message_id))
            if row is not None and row["state"] == "pending":
                del self._mem[(owner, message_id)]
            return
        async with self.engine.begin() as conn:
            await conn.execute(delete(message_log).where(and_(
                message_log.c.owner == owner, message_log.c.message_id == message_id,
                message_log.c.state == "pending")))


# --- the backend as a whole ------------------------------------------------------------------


@dataclass
class TaskBackend:
    engine: AsyncEngine | None
    task_store: Any
    event_stream: Any
    push_store: PushNotificationConfigStore
    push_sender: RetryingPushSender
    message_log: MessageLog

    async def initialize(self) -> None:
        init = getattr(self.task_store, "initialize", None)
        if init is not None:
            await init()
        for part in (self.push_store, self.event_stream):
            init = getattr(part, "initialize", None)
            if init is not None:
                await init()
        await self.message_log.initialize()

    async def aclose(self) -> None:
        await self.push_sender.aclose()
        if self.engine is not None:
            await self.engine.dispose()


def make_task_backend(db_url: str, *, push_allow_local: bool = False, pools: PoolSizes = DEFAULT_POOLS,
                      holder: str | None = None) -> TaskBackend:
    """The task store, event stream, push config store and sender, and message log for a database URL."""
    url = async_db_url(db_url)
    url_ok = push_url_policy(push_allow_local)
    if url is None:
        push_store: PushNotificationConfigStore = InMemoryPushNotificationConfigStore(owner_resolver=owner_of)
        return TaskBackend(engine=None, task_store=InMemoryTaskStore(owner_resolver=owner_of), event_stream=None,
                           push_store=push_store, push_sender=RetryingPushSender(push_store, url_ok=url_ok),
                           message_log=MessageLog(None, holder))
    from a2a.server.cluster import DatabaseTaskEventStream, VersionedDatabaseTaskStore
    from a2a.server.tasks import DatabasePushNotificationConfigStore

    engine = make_async_engine(url, pools)
    task_store = VersionedDatabaseTaskStore(engine, table_name=TASKS_TABLE, owner_resolver=owner_of,
                                            event_table_name=EVENTS_TABLE, version_table_name=VERSIONS_TABLE,
                                            max_attempts=10, retry_delay_s=0.05)
    # Any process can serve SubscribeToTask for a task another one runs (or ran before a restart).
    event_stream = DatabaseTaskEventStream(engine, table_name=EVENTS_TABLE, poll_interval_s=0.25)
    # The buyer's webhook credentials are encrypted at rest when a key is configured (a Fernet key).
    push_key = os.environ.get(PUSH_KEY_ENV) or None
    if push_key is None:
        log.warning("%s is not set: buyers' push-notification credentials are stored in plain text "
                    "(set it to a Fernet key to encrypt them)", PUSH_KEY_ENV)
    push_store = DatabasePushNotificationConfigStore(engine, table_name=PUSH_TABLE, owner_resolver=owner_of,
                                                     encryption_key=push_key)
    return TaskBackend(engine=engine, task_store=task_store, event_stream=event_stream, push_store=push_store,
                       push_sender=RetryingPushSender(push_store, url_ok=url_ok),
                       message_log=MessageLog(engine, holder))
