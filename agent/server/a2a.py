"""A2A 1.0 over a2a-sdk 1.3: the Agent Card, the JSON-RPC binding (and HTTP+JSON), tasks as negotiations.

`mount_a2a(app, ctx)` adds to the FastAPI app:

- `GET /.well-known/agent-card.json`: the card (agent.server.a2a_card), public;
- `POST /` (the card's JSON-RPC URL; `/a2a` is an alias): SendMessage, SendStreamingMessage,
  GetTask, ListTasks, CancelTask, SubscribeToTask and the push-notification config methods;
- `/a2a/rest/...`: the same methods in the HTTP+JSON binding.

Every A2A call but the card needs a buyer API key (`Authorization: Bearer`): no key or a bad
one is answered 401 with `WWW-Authenticate`, an operator or admin key 403, before the
SDK sees the request. The key's buyer organisation owns the tasks it creates (the stores'
owner resolution): another organisation's GetTask, CancelTask, ListTasks and push configs
find nothing.

`DealdeskRequestHandler` extends the SDK's default handler with what dealdesk needs:

- **retries**: a messageId already seen for the organisation is answered from the message log
  (the same answer, or the task as it stands), never negotiated twice; the same id with a
  different message is refused;
- **cancel**: the negotiation is marked canceled and its holds released, under the turn lock,
  so a cancel can never race an acceptance into a canceled task with a deal;
- **seller turns from elsewhere** (`deliver_seller_turn`, registered with
  `ctx.on_seller_turn`): an operator's decision or a REST accept moves the buyer's task on
  (status, artifact, streams, push notifications); a publication that arrives after a later
  turn is dropped, never rolling the task back;
- **new task ids** derived from (organisation, messageId), so a retry whose first attempt died
  half-way finds the task it started;
- **one message of a task at a time** in this process (`_TaskSends`): the SDK's blocking send answers with
  the first paused or final task its subscription sees, and two messages sent at once on one task shared
  one subscription's events, so a caller got the answer to the other message (and the message log kept
  it for its retries). Another process's turns on the task never reach this process's subscription.

`A2AService.reconcile` (at start-up, then every RECONCILE_EVERY_S) brings open tasks in line
with the negotiation tables, the source of truth: after a crash between a committed turn and
the task's update, or a decision made in a process that serves no A2A (the CLI).
`A2AService.deliver_decisions` (every DECISION_POLL_S) publishes such a decision within a second
or two: it reads the pending approvals (an index) and looks, by key, only at the negotiations
of requests that left them.

Push notification configs: at most MAX_PUSH_CONFIGS_PER_TASK a task (each is posted to on every
event of it), their strings bounded (id, url, token, credentials).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import inspect
import json
import logging
import math
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select
from sqlalchemy import text as sql_text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from a2a.extensions.common import HTTP_EXTENSION_HEADER, get_requested_extensions
from a2a.server.agent_execution import RequestContext, SimpleRequestContextBuilder
from a2a.server.agent_execution.active_task import TERMINAL_TASK_STATES
from a2a.server.cluster.version import TaskVersion
from a2a.server.context import ServerCallContext
from a2a.server.request_handlers import DefaultRequestHandlerV2
from a2a.server.routes import create_agent_card_routes
from a2a.server.routes.common import ServerCallContextBuilder
from a2a.server.routes.fastapi_routes import add_a2a_routes_to_fastapi
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.types.a2a_pb2 import (
    AgentCard,
    CancelTaskRequest,
    ListTasksRequest,
    ListTasksResponse,
    Message,
    Role,
    SendMessageRequest,
    Task,
    TaskPushNotificationConfig,
    TaskState,
    TaskStatus,
)
from a2a.utils.constants import VERSION_HEADER
from a2a.utils.errors import (
    A2AError,
    ContentTypeNotSupportedError,
    InternalError,
    InvalidParamsError,
    InvalidRequestError,
    PushNotificationNotSupportedError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
    VersionNotSupportedError,
)
from a2a.utils.proto_utils import validate_proto_required_fields
from a2a.utils.task import apply_history_length, decode_list_tasks_cursor

from agent.server import protojson
from agent.server.a2a_card import (DATA_MEDIA_TYPE, JSONRPC_ALIAS, JSONRPC_PATH, REST_PREFIX, TEXT_MEDIA_TYPE,
                                   build_agent_card)
from agent.server.a2a_executor import (FINAL_STATE, KEY_STATE, SELLER_TURN_STATE, STREAM_STATE, TURN_TIMEOUT_CODE,
                                       BuyerUser, SellerExecutor, turn_of)
from agent.server.a2a_tasks import TaskBackend, make_task_backend, message_digest, owner_of
from agent.server.auth import AuthError, principal_from_header, require_scope
from agent.server.context import ServerContext
from agent.server.errors import jsonrpc_error
from agent.service import Reply
from agent.store.audit_tables import DECIDED
from agent.store.db import utcnow
from agent.store.pools import DEFAULT as DEFAULT_POOLS

log = logging.getLogger("dealdesk.a2a")

MAX_ID_CHARS = 36  # task and context ids: the SDK's tables hold 36 characters
MAX_MESSAGE_ID_CHARS = 128
MAX_PUSH_CONFIG_ID_CHARS = 255  # the SDK's push config table holds 255 characters (PostgreSQL refused more: -32603)
MAX_PUSH_URL_CHARS = 2048  # a webhook URL; the config is stored, listed and posted to on every event
MAX_PUSH_SECRET_CHARS = 4096  # the token and the credentials, sent as headers of every notification
MAX_PUSH_CONFIGS_PER_TASK = 10  # each config gets a POST on every event of the task: a buyer may not multiply them
PARKED_TASK_RELEASE_S = 300.0  # an idle INPUT_REQUIRED task leaves memory; the next message reloads it
SHUTDOWN_DRAIN_S = 10.0  # how long a shutting-down process waits for its A2A tasks to finish
PUBLISH_WAIT_S = 10.0  # how long an operator's request waits for its decision to reach the buyer's task
RECONCILE_EVERY_S = 15.0  # how often open tasks are checked against their negotiations
RECONCILE_GRACE_S = 10.0  # a negotiation that moved more recently is left to the turn in flight
DECISION_POLL_S = 1.0  # how often the operators' queue is read for decisions made in another process (the CLI)
DECISION_WATCH_S = 120.0  # how long a decided request's negotiation is watched for the decision's message
DECISION_RECENT_S = 10.0  # requests this young that are decided already are watched too (none saw them pending)
_HIDDEN_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


# --- request context ----------------------------------------------------------------------------


class BuyerContextBuilder(ServerCallContextBuilder):
    """The SDK call context for an authenticated request: the buyer org as the user, the key in the state."""

    def build(self, request: Request) -> ServerCallContext:
        key = request.scope.get(KEY_STATE)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HIDDEN_HEADERS}
        version = request.query_params.get(VERSION_HEADER)
        if version and not headers.get(VERSION_HEADER.lower()):  # A2A 1.0 3.6.1: the version as a request parameter
            headers[VERSION_HEADER.lower()] = version
        return ServerCallContext(
            user=BuyerUser(key),
            state={KEY_STATE: key, "headers": headers},
            requested_extensions=get_requested_extensions(request.headers.getlist(HTTP_EXTENSION_HEADER)),
        )


TASK_ID_NAMESPACE = uuid.UUID("5d0c6f64-2f55-4c55-9a3e-0d2f7c1a9e11")


def new_task_id(owner: str, message_id: str) -> str:
    """The id of the task a new message starts: derived from (owner, messageId), so a retry whose
    first attempt died half-way finds the task it started instead of starting another."""
    return str(uuid.uuid5(TASK_ID_NAMESPACE, f"{owner}\n{message_id}"))


class DerivedTaskIds(SimpleRequestContextBuilder):
    """The SDK's request-context builder, with new task ids derived by `new_task_id`."""

    async def build(self, context: ServerCallContext, params: SendMessageRequest | None = None,
                    task_id: str | None = None, context_id: str | None = None,
                    task: Task | None = None) -> RequestContext:
        if task_id is None and params is not None and params.message.message_id and not params.message.task_id:
            task_id = new_task_id(owner_of(context), params.message.message_id)
        return await super().build(context, params=params, task_id=task_id, context_id=context_id, task=task)


# Raised before the executor ever runs: nothing happened, a retry may simply be processed.
_NOTHING_DONE = (InvalidParamsError, InvalidRequestError, TaskNotFoundError, UnsupportedOperationError,
                 ContentTypeNotSupportedError, VersionNotSupportedError, PushNotificationNotSupportedError)


class _TaskSends:
    """A lock per task id for the messages sent on it in this process (a new task's: its derived id), kept while
    anyone holds or waits."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def busy(self, task_id: str) -> bool:
        """Someone in this process is sending on the task, or waiting to."""
        return task_id in self._locks

    @asynccontextmanager
    async def one_at_a_time(self, task_id: str) -> AsyncGenerator[None, None]:
        lock, users = self._locks.get(task_id) or (asyncio.Lock(), 0)
        self._locks[task_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[task_id]
            if users == 1:
                del self._locks[task_id]
            else:
                self._locks[task_id] = (lock, users - 1)


_INPUT_MODES = (TEXT_MEDIA_TYPE, DATA_MEDIA_TYPE)  # the card's input modes
# A task in these states after a blocking send has no answer in it (its turn's events were dropped at shutdown).
_UNANSWERED_STATES = frozenset({TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING})


def _check_parts(msg: Message) -> None:
    """Refused before anything is done: a part with no content (InvalidParams), and (ContentTypeNotSupported) a file
    (`url` or `raw`) or a part whose stated media type is not one of the card's input modes (an `image/png` data
    part). A part that states no media type is taken as its kind says."""
    for i, part in enumerate(msg.parts):
        kind = part.WhichOneof("content")
        if kind is None:
            raise InvalidParamsError(message=f"message.parts[{i}] has no content: send text or data")
        if kind not in ("text", "data"):
            raise ContentTypeNotSupportedError(
                message=f"message.parts[{i}]: {kind} parts are not supported; send a text part "
                        f"({TEXT_MEDIA_TYPE}) or a data part ({DATA_MEDIA_TYPE})")
        stated = part.media_type.split(";", 1)[0].strip().lower()
        if stated and stated not in _INPUT_MODES:
            raise ContentTypeNotSupportedError(
                message=f"message.parts[{i}]: media type {part.media_type!r} is not supported; the input modes are "
                        f"{' and '.join(_INPUT_MODES)}")
        if kind == "data" and not _finite(part.data):
            # JSON's 1e999999 reads as an infinite double (NaN as not a number), which no task store can write
            # back (it failed the turn with an internal error, on every retry)
            raise InvalidParamsError(message=f"message.parts[{i}].data holds a number that is not finite (too "
                                             "large, or NaN): send money and quantities as decimal strings")
        if part.HasField("metadata") and not _finite(part.metadata):
            raise InvalidParamsError(message=f"message.parts[{i}].metadata holds a number that is not finite")
    if msg.HasField("metadata") and not _finite(msg.metadata):
        raise InvalidParamsError(message="message.metadata holds a number that is not finite")


def _check_push_config(cfg: TaskPushNotificationConfig, prefix: str = "") -> None:
    """The buyer's strings of a push config, bounded: a config id longer than the push config table holds failed on
    PostgreSQL as an internal error (and SQLite kept it), and a URL or token of any length was stored, listed back
    and sent with every notification. InvalidParams naming the field."""
    for name, value, limit in (("id", cfg.id, MAX_PUSH_CONFIG_ID_CHARS), ("url", cfg.url, MAX_PUSH_URL_CHARS),
                               ("token", cfg.token, MAX_PUSH_SECRET_CHARS),
                               ("authentication.scheme", cfg.authentication.scheme, MAX_PUSH_SECRET_CHARS),
                               ("authentication.credentials", cfg.authentication.credentials, MAX_PUSH_SECRET_CHARS)):
        if len(value) > limit:
            raise InvalidParamsError(message=f"{prefix}{name} is longer than {limit} characters")


def _check_page_token(token: str) -> None:
    """A ListTasks page token whose cursor names an instant no timestamp holds is refused (InvalidParams), as the task
    store refuses every other token it cannot read."""
    cursor = decode_list_tasks_cursor(token) if token else None
    if cursor is None or cursor.timestamp_ns is None:
        return
    try:
        stamp = Timestamp()
        stamp.FromNanoseconds(cursor.timestamp_ns)
        stamp.ToDatetime()
    except (ValueError, OverflowError):
        raise InvalidParamsError(message="Invalid page token: send the nextPageToken of an earlier ListTasks answer "
                                         "as it came") from None


def _finite(value: Any) -> bool:
    """Whether every number in a protobuf Struct, ListValue or Value is finite."""
    name = value.DESCRIPTOR.name
    if name == "Struct":
        return all(_finite(v) for v in value.fields.values())
    if name == "ListValue":
        return all(_finite(v) for v in value.values)
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        return math.isfinite(value.number_value)
    return _finite(getattr(value, kind)) if kind in ("struct_value", "list_value") else True


_OPEN_STATE_NAMES = tuple(TaskState.Name(s) for s in (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING,
                                                       TaskState.TASK_STATE_INPUT_REQUIRED))


def _timed_out(result: Task | Message) -> bool:
    """Whether `result` is the answer to a turn that outlived the turn timeout (its status message's error)."""
    if not isinstance(result, Task) or not result.status.HasField("message"):
        return False
    for part in result.status.message.parts:
        if part.WhichOneof("content") == "data":
            data = MessageToDict(part.data)
            return isinstance(data, dict) and data.get("type") == "error" and data.get("code") == TURN_TIMEOUT_CODE
    return False


def _turn_shown(task_id: str, status: dict[str, Any] | None) -> int | None:
    """The seller turn a task's status (JSON, as the task table keeps it) shows, as `turn_of` reads a Task."""
    message_id = ((status or {}).get("message") or {}).get("messageId") or ""
    prefix = f"{task_id}-t"
    return int(message_id[len(prefix):]) if message_id.startswith(prefix) and message_id[len(prefix):].isdigit() \
        else None


def _serialise(result: Task | Message) -> dict[str, Any]:
    if isinstance(result, Task):
        return {"kind": "task", "value": MessageToDict(result)}
    return {"kind": "message", "value": MessageToDict(result)}


def _deserialise(stored: dict[str, Any]) -> Task | Message:
    target: Task | Message = Task() if stored.get("kind") == "task" else Message()
    ParseDict(stored.get("value") or {}, target, ignore_unknown_fields=True)
    return target


def _task_id_of(event: Any) -> str | None:
    if isinstance(event, Task):
        return event.id or None
    return getattr(event, "task_id", None) or None


# --- the request handler ------------------------------------------------------------------------


class DealdeskRequestHandler(DefaultRequestHandlerV2):
    """The SDK's default handler, plus message-id retries, negotiation cancel and out-of-band turns."""

    def __init__(self, ctx: ServerContext, backend: TaskBackend, executor: SellerExecutor, card: AgentCard):
        super().__init__(agent_executor=executor, task_store=backend.task_store, agent_card=card,
                         push_config_store=backend.push_store, push_sender=backend.push_sender,
                         push_url_validator=backend.push_sender.url_ok, event_stream=backend.event_stream,
                         interrupted_task_timeout=PARKED_TASK_RELEASE_S, request_context_builder=DerivedTaskIds())
        self.ctx = ctx
        self.backend = backend
        self.executor = executor
        # Only this process writes a SQLite database: its pending claims are the only live ones.
        self._single_process = ctx.single_process
        self._serving_since = time.time()  # the message log's times are wall-clock UTC
        self._sends = _TaskSends()
        self._push_configs = _TaskSends()  # creates of push configs on one task, one at a time (the per-task cap)
        self._background: set[asyncio.Task] = set()

    # -- message ids --

    def _check_message(self, params: SendMessageRequest) -> None:
        validate_proto_required_fields(params)
        msg = params.message
        if len(msg.message_id) > MAX_MESSAGE_ID_CHARS:
            raise InvalidParamsError(message=f"messageId is longer than {MAX_MESSAGE_ID_CHARS} characters")
        if len(msg.task_id) > MAX_ID_CHARS:
            raise TaskNotFoundError(f"Task {msg.task_id[:40]}... not found")
        if len(msg.context_id) > MAX_ID_CHARS:
            raise InvalidParamsError(message=f"contextId is longer than {MAX_ID_CHARS} characters")
        if msg.role == Role.ROLE_AGENT:  # the seller's own words are not the buyer's to send
            raise InvalidParamsError(message="message.role: a buyer's message has the role ROLE_USER, not ROLE_AGENT")
        _check_parts(msg)
        if params.configuration.HasField("task_push_notification_config"):  # stored as CreateTask...Config stores it
            _check_push_config(params.configuration.task_push_notification_config,
                               "configuration.taskPushNotificationConfig.")

    def _task_of_message(self, params: SendMessageRequest, context: ServerCallContext) -> str:
        return params.message.task_id or new_task_id(owner_of(context), params.message.message_id)

    async def _answered(self, params: SendMessageRequest, context: ServerCallContext) -> Task | Message | None:
        """The earlier answer to this messageId, or None when this request must be processed.

        - new id: None (process it);
        - answered: the recorded answer, or the task as it stands when none was recorded;
        - in flight: wait for it (up to the turn timeout);
        - in flight far too long (its process died): the task as it stands if it exists, else process;
        - the same id for a different message: InvalidParams.
        """
        owner = owner_of(context)
        mid = params.message.message_id
        log_ = self.backend.message_log
        digest = message_digest(params.message)
        deadline = time.monotonic() + self.ctx.settings.turn_timeout_s + 5.0
        delay = 0.02
        while True:
            claim = await log_.claim(owner, mid, digest)
            if claim.state == "new":
                return None
            if claim.state == "conflict":
                raise InvalidParamsError(message=f"messageId {mid!r} was already used for a different message; "
                                                 "use a new messageId for a new message")
            if claim.state == "done" and claim.response is not None:
                return _deserialise(claim.response)
            stale = claim.state == "pending" and (
                claim.age_s > 2 * self.ctx.settings.turn_timeout_s + 5.0
                # One process on SQLite: a claim older than this process was left by one that died.
                or (self._single_process and claim.age_s > time.time() - self._serving_since + 0.05)
                # The process that claimed it is gone (its liveness lock went with it).
                or (claim.holder is not None and await self.ctx.run_turn(self.ctx.live().dead, claim.holder)))
            if claim.state == "pending" and not stale and claim.holder == log_.holder \
                    and not self._sends.busy(self._task_of_message(params, context)):
                # Claimed in this process by an attempt that is over (it holds the task's lock while it runs) and
                # left no answer: a stream whose client left. If its turn committed, that is the answer.
                task_id = self._task_of_message(params, context)
                stored = await self._versioned_store.get(task_id, context)
                answered = None if stored is None else await self._from_the_tables(task_id, stored, params, context)
                if answered is not None:
                    await log_.complete(owner, mid, task_id, None)
                    return answered
            if claim.state == "done" or stale:
                task_id = claim.task_id or self._task_of_message(params, context)
                stored = await self._versioned_store.get(task_id, context)
                terminal = stored is not None and stored.task.status.state in TERMINAL_TASK_STATES
                if stored is not None and (claim.state == "done" or terminal):
                    if stale:
                        await log_.complete(owner, mid, stored.task.id, None)
                    if stored.task.status.state in _UNANSWERED_STATES and await self.catch_up(task_id, stored.task):
                        return await self._current(task_id, stored, context)
                    return stored.task
                # Its process died: if its turn committed, never run it again.
                answered = await self._from_the_tables(task_id, stored, params, context) if stale else None
                if answered is not None:
                    await log_.complete(owner, mid, task_id, None)
                    return answered
                if await log_.take_over(owner, mid, claim):  # nothing came of the first attempt: process it now
                    return None
            if time.monotonic() > deadline:
                raise InvalidRequestError(message=f"messageId {mid!r} is still being processed; retry shortly")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)

    def last_word(self, task_id: str, state: str | None, artifacts: list[dict[str, Any]], *,
                  decisions_only: bool = False) -> tuple[Reply, int | None] | None:
        """In a worker thread: what the task should show, if it lags behind its negotiation.
        Read under the negotiation's turn lock, so no turn is half-way (in any process).
        `decisions_only`: only when the negotiation's last turn is an operator's decision whose message is kept
        (`store.seller_message`); any other lag is left to reconciliation, which leaves a turn in flight alone."""
        with self.ctx.seller.store.turn_lock(task_id):
            if decisions_only:
                store = self.ctx.seller.store
                neg, said = store.get_negotiation(task_id), store.seller_message(task_id)
                if neg is None or said is None or said[0] != neg.turn:
                    return None
            return self._last_word_locked(task_id, state, artifacts)

    def _last_word_locked(self, task_id: str, state: str | None,
                          artifacts: list[dict[str, Any]]) -> tuple[Reply, int | None] | None:
        store = self.ctx.seller.store
        neg = store.get_negotiation(task_id)
        if neg is None:
            return None
        if neg.status == "deal":
            deals = store.deals(negotiation_id=task_id)
            if deals:
                d = deals[-1]
                return Reply(task_id, 0, d.body, f"Deal {d.id}: proposal {d.proposal_id} version {d.version} "
                                                  f"accepted, total {d.total} {d.currency}."), None
        if neg.status == "canceled":
            return Reply(task_id, 0, {"type": "closed", "reason": "canceled by the buyer"},
                         "The negotiation was cancelled."), TaskState.TASK_STATE_CANCELED
        if neg.status in ("closed", "rejected"):
            return Reply(task_id, 0, {"type": "closed", "reason": f"the negotiation was {neg.status}"},
                         f"This negotiation is {neg.status}."), None
        said = store.seller_message(task_id)
        if said is not None and said[0] == neg.turn:  # the last turn was an operator's decision: its own words
            turn, message = said
            return Reply(task_id, turn, message.get("data"), message.get("text") or ""), None
        current = store.get_proposal(neg.current_proposal) if neg.current_proposal else None
        shown = next((a for a in artifacts if a.get("name") == "proposal"), None)
        shown_version = None
        if shown:
            data = next((p.get("data") for p in shown.get("parts", []) if "data" in p), None) or {}
            shown_version = data.get("version")
        if current is not None and current.status in ("offered", "pending_approval") and (
                shown_version is None or int(float(shown_version)) != current.version
                or state != TaskState.Name(TaskState.TASK_STATE_INPUT_REQUIRED)):
            return Reply(task_id, 0, current.body, f"Proposal {current.id} version {current.version} "
                                                   "is the current offer."), None
        if state in (TaskState.Name(TaskState.TASK_STATE_SUBMITTED), TaskState.Name(TaskState.TASK_STATE_WORKING)):
            return Reply(task_id, 0, None, "Your last message was interrupted by a restart; please send it again."), \
                TaskState.TASK_STATE_INPUT_REQUIRED
        return None

    async def _from_the_tables(self, task_id: str, stored: Any, params: SendMessageRequest,
                               context: ServerCallContext) -> Task | None:
        """The answer to a message whose turn committed though its attempt left no answer (its process died, its
        stream's client left): its task brought in line with the negotiation, made first if it was never saved.
        None when no turn of the message committed."""
        if not await self.ctx.run_turn(self.ctx.seller.store.message_committed, task_id, params.message.message_id):
            return None
        if stored is None:
            task = Task(id=task_id, context_id=params.message.context_id or str(uuid.uuid4()),
                        status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED), history=[params.message])
            task.history[0].task_id, task.history[0].context_id = task_id, task.context_id
            await self._versioned_store.save(task, prev_version=TaskVersion.MISSING, context=context)
        else:
            task = stored.task
        await self.catch_up(task_id, task)
        return await self._current(task_id, stored, context, task)

    async def _current(self, task_id: str, stored: Any, context: ServerCallContext, task: Task | None = None) -> Task:
        """The task as it stands now (after a publication), else as it was read."""
        now = await self._versioned_store.get(task_id, context)
        return now.task if now is not None else (task if task is not None else stored.task)

    async def catch_up(self, task_id: str, task: Task) -> bool:
        """Publish the negotiation's last word on `task` when the task lags behind it (`publish_last_word`)."""
        return await self.publish_last_word(task_id, MessageToDict(task.status).get("state"),
                                            [MessageToDict(a) for a in task.artifacts])

    async def publish_last_word(self, task_id: str, state: str | None, artifacts: list[dict[str, Any]], *,
                                decisions_only: bool = False) -> bool:
        """Publish the negotiation's last word (`last_word`) on a task in `state` showing `artifacts` (JSON, as the
        task table keeps them), if it lags behind; False when it does not or there is no live task."""
        async with self.executor.turns:
            plan = await self.ctx.run_turn(self.last_word, task_id, state, artifacts, decisions_only=decisions_only)
        return plan is not None and await self.deliver_seller_turn(task_id, plan[0], plan[1])

    async def _failed(self, params: SendMessageRequest, context: ServerCallContext, exc: BaseException) -> None:
        """Book-keeping when processing a message raised: forget it if nothing happened, else remember its task."""
        owner, mid = owner_of(context), params.message.message_id
        if isinstance(exc, _NOTHING_DONE):
            await self.backend.message_log.release(owner, mid)
        else:  # the turn may have run: a retry gets the task as it stands, never a second turn
            await self.backend.message_log.complete(owner, mid, self._task_of_message(params, context), None)

    async def _in_context_of(self, task_id: str, params: SendMessageRequest, context: ServerCallContext) -> None:
        """A message with no contextId goes on in the context of `task_id`'s task, when it exists: the SDK would make
        up a new context and refuse the mismatch. Two callers:
        - a message naming its task (A2A: the contextId is optional when the taskId is given), before the message
          is digested, so a retry with and without the contextId is the same message;
        - a first message processed again (its first attempt left the task it started, SUBMITTED, and no turn),
          after the message log took it: its first attempt was digested before that task existed."""
        if not params.message.context_id:
            stored = await self._versioned_store.get(task_id, context)
            if stored is not None:
                params.message.context_id = stored.task.context_id

    async def _check_open(self, params: SendMessageRequest, context: ServerCallContext) -> Task | None:
        """A message for a finished task is refused here, before the SDK builds (and leaks) an ActiveTask for it.
        Returns the task the message names as it stands (None for a new task)."""
        task_id = params.message.task_id
        if not task_id:
            return None
        stored = await self._versioned_store.get(task_id, context)
        if stored is None:
            raise TaskNotFoundError(f"Task {task_id} not found")
        if stored.task.status.state in TERMINAL_TASK_STATES:
            raise UnsupportedOperationError(message=f"Task {task_id} is in terminal state: "
                                                    f"{TaskState.Name(stored.task.status.state)}")
        if params.configuration.HasField("task_push_notification_config"):  # a config sent with the message: capped
            cfg = params.configuration.task_push_notification_config
            await self._check_push_config_room(task_id, cfg.id or task_id, context)
        return stored.task

    async def on_message_send(self, params: SendMessageRequest, context: ServerCallContext) -> Task | Message:
        self._check_message(params)
        if params.message.task_id:
            await self._in_context_of(params.message.task_id, params, context)
        earlier = await self._answered(params, context)
        if earlier is not None:
            return earlier
        if not params.message.task_id:
            await self._in_context_of(self._task_of_message(params, context), params, context)
        owner, mid = owner_of(context), params.message.message_id
        try:
            async with self._sends.one_at_a_time(self._task_of_message(params, context)):
                await self._check_open(params, context)
                result = await super().on_message_send(params, context)
        except BaseException as exc:
            await asyncio.shield(self._failed(params, context, exc))
            raise
        task_id = _task_id_of(result) if isinstance(result, Task) else (result.task_id or None)
        if isinstance(result, Task) and task_id and not params.configuration.return_immediately \
                and result.status.state in _UNANSWERED_STATES:
            # The turn's events never came back (the process is shutting down and the SDK dropped them): this is
            # no answer. If the turn committed, a retry is answered from the tables; else it is processed then.
            if await self.ctx.run_turn(self.ctx.seller.store.message_committed, task_id, mid):
                await self.backend.message_log.complete(owner, mid, task_id, None)
            else:
                await self.backend.message_log.release(owner, mid)
            return result
        # With returnImmediately the answer is still to come: a retry gets the task as it stands then. So for a
        # turn that timed out: it goes on and its reply reaches the task when it commits (`run_turn_then`), so a
        # retry of the message is answered with the task then, never the timeout again.
        answer = None if task_id and (params.configuration.return_immediately or _timed_out(result)) \
            else _serialise(result)
        await self.backend.message_log.complete(owner, mid, task_id, answer)
        return result

    async def on_message_send_stream(self, params: SendMessageRequest,
                                     context: ServerCallContext) -> AsyncGenerator[Any, None]:
        self._check_message(params)
        if params.message.task_id:
            await self._in_context_of(params.message.task_id, params, context)
        earlier = await self._answered(params, context)
        if earlier is not None:
            yield earlier
            return
        if not params.message.task_id:
            await self._in_context_of(self._task_of_message(params, context), params, context)
        owner, mid = owner_of(context), params.message.message_id
        started = finished = False
        context.state[STREAM_STATE] = True
        try:
            async with self._sends.one_at_a_time(self._task_of_message(params, context)):
                snapshot = await self._check_open(params, context)
                inner = super().on_message_send_stream(params, context)
                try:
                    async for event in inner:  # the SDK's first event comes once the request passed its checks
                        started = True
                        if snapshot is not None and not isinstance(event, Task):
                            yield apply_history_length(snapshot, params.configuration)  # A2A: the Task first
                        snapshot = None
                        yield event
                    finished = True
                finally:
                    await inner.aclose()
        except BaseException as exc:
            if not started:
                self._in_background(self._failed(params, context, exc))
            raise
        finally:
            if started:
                # The answer is the task when the stream ended; a stream cut short: the task as it stands later.
                task_id = self._task_of_message(params, context)
                if finished:
                    stored = None
                    try:
                        stored = await self._versioned_store.get(task_id, context)
                    except Exception:
                        log.exception("could not snapshot task %s for message %s", task_id, mid)
                    await self.backend.message_log.complete(owner, mid, task_id,
                                                            _serialise(stored.task) if stored is not None else None)
                else:  # cut short (the client left: this coroutine may be cancelled at every await now)
                    self._in_background(self.backend.message_log.complete(owner, mid, task_id, None))

    def _in_background(self, coro: Any) -> None:
        """Run `coro` to its end whatever happens to the caller: a stream's client that leaves cancels the stream
        at every await (an `asyncio.shield` there raised at once, and its task could be collected half-way: the
        messageId stayed "being processed"). The task is kept until it is done."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- push notification configs --

    async def on_create_task_push_notification_config(self, params: TaskPushNotificationConfig,
                                                      context: ServerCallContext) -> TaskPushNotificationConfig:
        """The SDK's, with the buyer's strings bounded first (`_check_push_config`), and no more than
        MAX_PUSH_CONFIGS_PER_TASK configs on one task."""
        _check_push_config(params)
        async with self._push_configs.one_at_a_time(params.task_id):  # two creates at once cannot both take the last
            await self._check_push_config_room(params.task_id, params.id or params.task_id, context)
            return await super().on_create_task_push_notification_config(params, context)

    async def _check_push_config_room(self, task_id: str, config_id: str, context: ServerCallContext) -> None:
        """A new config id on a task that has MAX_PUSH_CONFIGS_PER_TASK already is refused (InvalidParams): every
        config is posted to on every event of the task, so a buyer could multiply the server's outbound requests.
        Replacing a config (its id again) is always allowed. (The id defaults to the task id, as the SDK stores it.)"""
        if not task_id:
            return  # the SDK refuses it (the task is not found)
        # The caller's configs: a task has one owner, and only its owner may add configs to it (another
        # organisation finds none here, and the SDK then answers that the task is not found).
        configs = await self.backend.push_store.get_info(task_id, context)
        ids = {c.id for c in configs}
        if config_id not in ids and len(ids) >= MAX_PUSH_CONFIGS_PER_TASK:
            raise InvalidParamsError(message=f"task {task_id} has {len(ids)} push notification configs, the most one "
                                             f"task may have ({MAX_PUSH_CONFIGS_PER_TASK}); delete one, or replace one "
                                             "by sending its id")

    # -- list --

    async def on_list_tasks(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        """The SDK's, with the page token's instant checked first: a token whose `ts` lies outside what a timestamp
        holds (years 1 to 9999) failed in the task store with a ValueError, answered -32603 (the store catches only
        an OverflowError)."""
        _check_page_token(params.page_token)
        return await super().on_list_tasks(params, context)

    # -- cancel --

    def _cancel_negotiation(self, negotiation_id: str) -> bool:
        """In a worker thread, under the negotiation's turn lock: mark it canceled, release its holds.
        False when it already ended in a deal (it cannot be cancelled any more)."""
        store = self.ctx.seller.store
        with store.turn_lock(negotiation_id):
            return store.cancel_negotiation(negotiation_id)

    async def on_cancel_task(self, params: CancelTaskRequest, context: ServerCallContext) -> Task | None:
        """Cancel the negotiation, then the task: one at a time with the messages sent on the task in this process
        (`_TaskSends`). A message that passed its checks while a cancel closed the task's queue met the closed queue
        in the SDK (culsans.QueueShutDown): the buyer racing an accept against a cancel got -32603, and a REST
        accept's publication logged a failure. Now the message waits and finds the task canceled (-32004), or the
        cancel waits and finds the deal (-32002)."""
        validate_proto_required_fields(params)
        async with self._sends.one_at_a_time(params.id):
            stored = await self._versioned_store.get(params.id, context)
            if stored is None:
                raise TaskNotFoundError
            if stored.task.status.state in TERMINAL_TASK_STATES:
                raise TaskNotCancelableError
            async with self.executor.turns:
                canceled = await self.ctx.run_turn(self._cancel_negotiation, params.id)
            if not canceled:
                raise TaskNotCancelableError(message="the negotiation already ended in a deal")
            return await super().on_cancel_task(params, context)

    # -- seller turns that did not come in over A2A --

    async def deliver_seller_turn(self, negotiation_id: str, reply: Reply, final_state: int | None = None) -> bool:
        """Publish a seller turn made elsewhere on the buyer's task; False when there is no live task."""
        neg = await self.ctx.run_turn(self.ctx.seller.store.get_negotiation, negotiation_id)
        if neg is None:
            return False
        state: dict[str, Any] = {SELLER_TURN_STATE: reply, "method": "SellerTurn"}
        if final_state is not None:
            state[FINAL_STATE] = final_state
        call = ServerCallContext(user=BuyerUser(org=neg.buyer_org), state=state)
        try:
            async with self._sends.one_at_a_time(negotiation_id):  # not amid a buyer's send on the task
                stored = await self._versioned_store.get(negotiation_id, call)
                if stored is None or stored.task.status.state in TERMINAL_TASK_STATES:
                    return False
                shown = turn_of(stored.task)
                if reply.turn and shown is not None and shown >= reply.turn:
                    # on the task already: the deciding process published it while another found it decided
                    # (`A2AService.deliver_decisions`), or a later turn is there
                    return True
                active = await self._active_task_registry.get_or_create(negotiation_id, call_context=call,
                                                                         create_task_if_missing=False)
                request = RequestContext(call_context=call, task_id=negotiation_id,
                                         context_id=stored.task.context_id)
                async for _event in active.subscribe(request=request):
                    pass
        except Exception:
            log.exception("could not publish the seller turn on task %s", negotiation_id)
            return False
        return True


INTERNAL_MESSAGE = "internal error on the seller's side; retry with the same messageId"


def _opaque_errors(method: Any) -> Any:
    """A request handler method whose unexpected errors (the database's, a bug) reach the caller as a JSON-RPC
    internal error with a plain message, logged here in full: the SDK's dispatcher sent the exception's own text
    (a driver's "connection to server at ... failed: FATAL: sorry, too many clients already")."""
    def opaque(name: str, exc: Exception) -> InternalError:
        log.exception("A2A %s failed", name)
        return InternalError(message=INTERNAL_MESSAGE)

    if inspect.isasyncgenfunction(inspect.unwrap(method)):  # the SDK's decorators hide what they wrap
        @functools.wraps(method)
        async def stream(self: Any, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
            inner = method(self, *args, **kwargs)
            try:
                async for event in inner:
                    yield event
            except A2AError:
                raise
            except Exception as exc:
                raise opaque(method.__name__, exc) from exc
            finally:
                await inner.aclose()
        return stream

    @functools.wraps(method)
    async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, *args, **kwargs)
        except A2AError:
            raise
        except Exception as exc:
            raise opaque(method.__name__, exc) from exc
    return call


for _name in ("on_message_send", "on_message_send_stream", "on_get_task", "on_list_tasks", "on_cancel_task",
              "on_subscribe_to_task", "on_create_task_push_notification_config",
              "on_get_task_push_notification_config", "on_list_task_push_notification_configs",
              "on_delete_task_push_notification_config"):
    setattr(DealdeskRequestHandler, _name, _opaque_errors(getattr(DealdeskRequestHandler, _name)))


# --- HTTP: authentication in front of the SDK's endpoints ---------------------------------------


def _auth_error(exc: AuthError, *, jsonrpc: bool = False, request_id: Any = None) -> JSONResponse:
    if jsonrpc:  # the JSON-RPC binding: a JSON-RPC error object, with the envelope's code in its data
        err = exc.envelope()["error"]
        body = jsonrpc_error(exc.status, err["code"], err["message"], err.get("field"))
        body["id"] = request_id
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)
    return JSONResponse(exc.envelope(), status_code=exc.status, headers=exc.headers)


_NO_ID: Any = object()


class _Unreadable(str):
    """Why a JSON-RPC body could not be read as JSON (`_jsonrpc_id`'s method, for a body that is no JSON text)."""


async def _jsonrpc_id(request: Request) -> tuple[Any, str | None]:
    """The JSON-RPC request's id (None when it has none that can be read), `_NO_ID` for a notification: an object
    with a method and no `id` member (JSON-RPC 2.0 4.1); and its method, or `_Unreadable` (why) when the body is no
    JSON text Python reads. The body is bounded by the limits middleware before this."""
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        # json.JSONDecodeError, and the ValueError of a number of more digits than Python converts (4300): the SDK's
        # dispatcher answered that one -32603 with Python's advice to call sys.set_int_max_str_digits()
        why = str(exc) if isinstance(exc, json.JSONDecodeError) else str(exc).split(";")[0].splitlines()[0]
        return None, _Unreadable(why)
    if not isinstance(body, dict):
        return None, None
    method = body.get("method") if isinstance(body.get("method"), str) else None
    if "id" not in body:
        return (_NO_ID if method is not None and body.get("jsonrpc") == "2.0" else None), method
    rid = body["id"]
    return (rid if isinstance(rid, str | int) and not isinstance(rid, bool) else None), method


# A notification of these is answered at once and not run: a subscription is all response, and never ends.
_NOT_RUN_AS_NOTIFICATIONS = frozenset({"SubscribeToTask"})


def authenticated(ctx: ServerContext, endpoint: Callable[[Request], Awaitable[Response]], *, jsonrpc: bool = False
                  ) -> Callable[[Request], Awaitable[Response]]:
    """Wrap an SDK endpoint: a buyer key or 401/403 (`jsonrpc`: as JSON-RPC errors), then the key travels in the
    request scope."""

    async def guarded(request: Request) -> Response:
        rid, method = await _jsonrpc_id(request) if jsonrpc else (None, None)
        try:
            key = await ctx.run_turn(principal_from_header, ctx, request.headers.get("authorization"))
            require_scope(key, "buyer")
        except AuthError as exc:  # a refusal answers the request's own id (a notification's: none to give)
            return _auth_error(exc, jsonrpc=jsonrpc, request_id=None if rid is _NO_ID else rid)
        request.scope[KEY_STATE] = key
        if isinstance(method, _Unreadable):  # JSON-RPC 2.0: Parse error, the request's id unknown
            return JSONResponse({"jsonrpc": "2.0", "id": None,
                                 "error": {"code": -32700, "message": f"the body is not valid JSON: {method}"}})
        if rid is _NO_ID and method in _NOT_RUN_AS_NOTIFICATIONS:
            return Response(status_code=204)
        response = await endpoint(request)
        if rid is _NO_ID:  # JSON-RPC 2.0: a notification is processed and never answered
            body = getattr(response, "body_iterator", None)
            if body is not None:  # a stream runs to its end unread
                async for _chunk in body:
                    pass
            return Response(status_code=204)
        return response

    guarded.__name__ = getattr(endpoint, "__name__", "a2a_endpoint")
    guarded.__doc__ = getattr(endpoint, "__doc__", None)
    return guarded


class A2AService:
    """Everything mount_a2a builds, kept on `app.state.a2a` (tests and shutdown use it)."""

    def __init__(self, ctx: ServerContext):
        # Whole numbers in data parts read and leave as JSON integers, whichever way the SDK converts a message.
        protojson.install()
        self.ctx = ctx
        s = ctx.settings
        self.card = build_agent_card(s)
        store = ctx.seller.store
        self.backend = make_task_backend(s.db_url or getattr(store, "url", ""), push_allow_local=s.push_allow_local,
                                         pools=getattr(store, "pools", DEFAULT_POOLS), holder=ctx.live().token)
        self.executor = SellerExecutor(ctx)
        self.handler = DealdeskRequestHandler(ctx, self.backend, self.executor, self.card)
        self._started = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self._reconciling: asyncio.Task[None] | None = None
        self._checked: dict[str, Any] = {}  # task id -> the negotiation's updated_at found to need nothing
        self._deliveries: set[asyncio.Future[bool]] = set()  # seller turns being published
        self._watching: asyncio.Task[None] | None = None
        self._pending_approvals: dict[str, str] | None = None  # approval id -> negotiation id, at the last look
        self._watched: dict[str, float] = {}  # negotiation id -> until when (monotonic) its decision is looked for
        self._sighted: dict[str, int] = {}  # negotiation id -> the decision's turn, found ready at the last look

    async def start(self) -> None:
        if self._started:
            return
        for attempt in range(5):  # several worker processes may create the tables at the same moment
            try:
                await self._initialize()
                break
            except Exception:
                if attempt == 4:
                    raise
                log.warning("A2A store initialisation failed; retrying", exc_info=True)
                await asyncio.sleep(0.2 * (attempt + 1))
        self._started = True
        self.loop = asyncio.get_running_loop()
        if self.backend.engine is not None:  # in the background: start-up does not wait for it
            self._reconciling = asyncio.create_task(self._reconcile_forever(), name="a2a-reconcile")
            self._watching = asyncio.create_task(self._deliver_decisions_forever(), name="a2a-decisions")

    async def _deliver_decisions_forever(self) -> None:
        """Every DECISION_POLL_S: `deliver_decisions` (an operator's decision made in another process reaches the
        buyer's task in a second or two, not at the next reconciliation). A failure (the database is away) is logged
        when it begins and when it ends, not every second."""
        failing = False
        while True:
            try:
                await self.deliver_decisions()
                if failing:
                    log.info("A2A delivery of operators' decisions works again")
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception:
                if not failing:
                    log.exception("A2A delivery of operators' decisions failed (reconciliation still runs)")
                failing = True
            await asyncio.sleep(DECISION_POLL_S)

    async def deliver_decisions(self) -> int:
        """Publish on their tasks the operators' decisions made where no one publishes them (the CLI, another process
        with no A2A); returns how many were published.

        Cheap, for every second: the pending approvals are read through their status index (and, through the same
        index, the requests of the last DECISION_RECENT_S already decided), and only the negotiations of requests that
        left that queue since the last look (decided, or canceled) are looked at, by key, for DECISION_WATCH_S: those
        whose last turn is the decision with its message kept (`dd_seller_messages`, written
        once the decision's turn committed), on an open task that does not show that turn yet. One is published when
        found so at two looks in a row (the process that decided, if it serves A2A, has published it by then), under
        the turn lock and only while the decision is still the negotiation's last turn (`last_word(decisions_only)`);
        anything else that lags is left to `reconcile`. With several processes one of them publishes at a time."""
        from a2a.server.models import TaskModel

        from agent.store import schema as dd

        engine = self.backend.engine
        if engine is None:
            return 0
        ap = dd.approvals
        recent = utcnow() - dt.timedelta(seconds=DECISION_RECENT_S)
        async with engine.connect() as conn:
            pending = {aid: nid for aid, nid in (await conn.execute(
                select(ap.c.id, ap.c.negotiation_id).where(ap.c.status == "pending"))).all()}
            # decided before a look ever saw them pending (requested and decided within a second)
            quick = (await conn.execute(select(ap.c.negotiation_id).where(
                ap.c.status.in_(DECIDED), ap.c.requested_at > recent))).scalars().all()
        now = time.monotonic()
        if self._pending_approvals is not None:
            for aid, nid in self._pending_approvals.items():
                if aid not in pending:
                    self._watched[nid] = now + DECISION_WATCH_S
        for nid in quick:
            self._watched.setdefault(nid, now + DECISION_WATCH_S)
        self._pending_approvals = pending
        for nid, until in list(self._watched.items()):
            if until < now:
                self._forget_decision(nid)
        if not self._watched:
            return 0
        neg, said = dd.negotiations, dd.seller_messages
        stmt = (select(neg.c.id, said.c.turn, TaskModel.status, TaskModel.artifacts)
                .join(said, said.c.negotiation_id == neg.c.id).join(TaskModel, TaskModel.id == neg.c.id)
                .where(neg.c.turn == said.c.turn))
        watched = list(self._watched)
        rows = []
        async with engine.connect() as conn:
            for i in range(0, len(watched), 500):  # by key, a bounded number of bound parameters at a time
                rows += (await conn.execute(stmt.where(neg.c.id.in_(watched[i:i + 500])))).all()
        ready: list[tuple[str, str | None, list[dict[str, Any]]]] = []
        for nid, turn, status, artifacts in rows:
            state = (status or {}).get("state")
            shown = _turn_shown(nid, status)
            if state not in _OPEN_STATE_NAMES or (shown is not None and shown >= turn):
                self._forget_decision(nid)  # ended, or the decision is on the task (published where it was made)
            elif self._sighted.get(nid) == turn:
                ready.append((nid, state, artifacts or []))
            else:
                self._sighted[nid] = turn
        if not ready:
            return 0
        return await self._one_process_at_a_time(lambda: self._publish_decisions(ready))

    async def _publish_decisions(self, ready: list[tuple[str, str | None, list[dict[str, Any]]]]) -> int:
        published = await asyncio.gather(*(self.handler.publish_last_word(nid, state, artifacts, decisions_only=True)
                                           for nid, state, artifacts in ready), return_exceptions=True)
        done = 0
        for (nid, _, _), ok in zip(ready, published, strict=True):
            if isinstance(ok, BaseException):
                log.error("could not publish the operator's decision on task %s", nid, exc_info=ok)
                continue
            self._forget_decision(nid)
            done += bool(ok)
        if done:
            log.info("published %d operator decision(s) made elsewhere on their A2A tasks", done)
        return done

    def _forget_decision(self, negotiation_id: str) -> None:
        self._watched.pop(negotiation_id, None)
        self._sighted.pop(negotiation_id, None)

    async def _reconcile_forever(self) -> None:
        """Reconcile at start-up, then every RECONCILE_EVERY_S (decisions made from another process,
        e.g. the CLI, reach the buyer's task this way)."""
        grace = 0.0
        while True:
            try:
                await self.reconcile(grace_s=grace)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("A2A task reconciliation failed")
            grace = RECONCILE_GRACE_S
            await asyncio.sleep(RECONCILE_EVERY_S)

    async def reconcile(self, *, grace_s: float = 0.0, limit: int = 1000) -> int:
        """Bring open tasks in line with the negotiations they stand for (the source of truth).

        A task lags when its negotiation moved after the task's last update: a crash between a
        committed turn and the task's update, or an operator's decision made in a process that
        does not serve A2A. The lagging task gets the seller's last word published (deal,
        closing, cancel, or the current proposal); a turn cut short by a crash is reported so
        the buyer sends again. Negotiations that moved less than `grace_s` ago are left to the
        turn in flight. Returns how many tasks were updated. With several processes one of
        them does it at a time (an advisory lock).
        """
        if self.backend.engine is None:
            return 0
        return await self._one_process_at_a_time(lambda: self._reconcile(grace_s, limit))

    async def _one_process_at_a_time(self, work: Callable[[], Awaitable[int]]) -> int:
        """`work()` (reconciling, or publishing decisions made elsewhere), under the advisory lock that lets one
        process at a time do it on PostgreSQL; 0 when another process holds it (the next look does it)."""
        engine = self.backend.engine
        if engine is not None and engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                if not (await conn.execute(sql_text("SELECT pg_try_advisory_lock(7272004)"))).scalar():
                    return 0
                try:
                    return await work()
                finally:
                    await conn.execute(sql_text("SELECT pg_advisory_unlock(7272004)"))
                    await conn.commit()
        return await work()

    async def _reconcile(self, grace_s: float, limit: int) -> int:
        from a2a.server.models import TaskModel

        from agent.store import schema as dd

        neg = dd.negotiations
        settled = utcnow() - dt.timedelta(seconds=grace_s)
        stmt = (select(TaskModel.id, TaskModel.status, TaskModel.artifacts, neg.c.updated_at)
                .join(neg, neg.c.id == TaskModel.id)
                .where(TaskModel.status["state"].as_string().in_(_OPEN_STATE_NAMES),
                       neg.c.updated_at > TaskModel.last_updated, neg.c.updated_at <= settled)
                .order_by(neg.c.updated_at).limit(limit))
        async with self.backend.engine.connect() as conn:  # type: ignore[union-attr]
            rows = (await conn.execute(stmt)).all()
        updated = 0
        for task_id, status, artifacts, moved_at in rows:
            if self._checked.get(task_id) == moved_at:
                continue  # looked at already: nothing to publish for this state of the negotiation
            if await self.handler.publish_last_word(task_id, (status or {}).get("state"), artifacts or []):
                updated += 1
                self._checked.pop(task_id, None)
            else:
                if len(self._checked) > 100_000:
                    self._checked.clear()
                self._checked[task_id] = moved_at
        if updated:
            log.info("reconciled %d A2A task(s) with their negotiations", updated)
        return updated

    async def _initialize(self) -> None:
        engine = self.backend.engine
        if engine is not None and engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                await conn.execute(sql_text("SELECT pg_advisory_lock(7272002)"))
                try:
                    await self.backend.initialize()
                finally:
                    await conn.execute(sql_text("SELECT pg_advisory_unlock(7272002)"))
                    await conn.commit()
        else:
            await self.backend.initialize()

    async def aclose(self) -> None:
        """At shutdown: the SDK drains its active tasks, for at most SHUTDOWN_DRAIN_S (ops QA: under load a worker's
        drain never ended and the instance hung with its port); what is left is cancelled. A turn cut short commits
        whole or not at all, and a retry of its messageId is answered from the tables."""
        for loop_task in (self._reconciling, getattr(self, "_watching", None)):
            if loop_task is not None and not loop_task.done():
                loop_task.cancel()
        try:
            await asyncio.wait_for(self.handler.aclose(), timeout=SHUTDOWN_DRAIN_S)
        except TimeoutError:
            log.warning("A2A shutdown: active tasks still running after %.0f s; cancelled", SHUTDOWN_DRAIN_S)
        finally:
            try:
                await asyncio.wait_for(self.backend.aclose(), timeout=SHUTDOWN_DRAIN_S)
            except TimeoutError:
                log.warning("A2A shutdown: the task backend did not close within %.0f s", SHUTDOWN_DRAIN_S)

    async def on_seller_turn(self, negotiation_id: str, reply: Reply) -> None:
        """The ctx.on_seller_turn listener: publish the turn on the buyer's task. The caller (an operator's
        REST request) waits for it, but not longer than PUBLISH_WAIT_S: a busy task gets it in the background."""
        if reply.data is None and not reply.text:
            return
        await self.start()
        delivery = asyncio.ensure_future(self.handler.deliver_seller_turn(negotiation_id, reply))
        self._deliveries.add(delivery)
        delivery.add_done_callback(self._deliveries.discard)
        try:
            await asyncio.wait_for(asyncio.shield(delivery), PUBLISH_WAIT_S)
        except TimeoutError:
            log.warning("the seller turn on task %s is still being published", negotiation_id)

    def routes(self) -> tuple[list[BaseRoute], list[BaseRoute], list[BaseRoute]]:
        from a2a.server.routes import create_rest_routes

        card_routes = create_agent_card_routes(self.card, cache_control="public, max-age=300")
        dispatcher = JsonRpcDispatcher(request_handler=self.handler, context_builder=BuyerContextBuilder())
        rpc = authenticated(self.ctx, dispatcher.handle_requests, jsonrpc=True)
        rpc_routes: list[BaseRoute] = [Route(JSONRPC_PATH, endpoint=rpc, methods=["POST"]),
                                       Route(JSONRPC_ALIAS, endpoint=rpc, methods=["POST"])]
        rest_routes: list[BaseRoute] = []
        for route in create_rest_routes(self.handler, context_builder=BuyerContextBuilder(), path_prefix=REST_PREFIX):
            # The SDK also mounts a catch-all `/{tenant}` copy of its routes; dealdesk has no tenants.
            # (GetExtendedAgentCard stays: with no extended card it answers UnsupportedOperation, as over JSON-RPC)
            if isinstance(route, Route) and route.path.startswith(REST_PREFIX):
                rest_routes.append(Route(route.path, endpoint=authenticated(self.ctx, route.endpoint),
                                         methods=sorted(m for m in (route.methods or ()) if m != "HEAD")))
        return card_routes, rpc_routes, rest_routes


def mount_a2a(app: FastAPI, ctx: ServerContext) -> A2AService:
    """Add the Agent Card, the JSON-RPC and HTTP+JSON endpoints, and the seller-turn listener to `app`."""
    service = A2AService(ctx)
    card_routes, rpc_routes, rest_routes = service.routes()
    add_a2a_routes_to_fastapi(app, agent_card_routes=card_routes, jsonrpc_routes=rpc_routes,
                              rest_routes=rest_routes)
    ctx.on_seller_turn(service.on_seller_turn)
    app.state.a2a = service

    # Start with the app and close with it, whatever lifespan the app already has.
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any):
        async with inner(a) as state:
            await service.start()
            try:
                yield state
            finally:
                await service.aclose()

    app.router.lifespan_context = lifespan
    return service
