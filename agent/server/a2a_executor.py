"""The bridge between an A2A task and the seller: one task is one negotiation.

The task id is the negotiation id. Each buyer message becomes one seller turn: its data part
goes to `Seller.send(data=...)`, its text to `text=` (a message with both: the data part
wins; the seller also reads the text beside it). The turn runs in a worker thread through
`ServerContext.run_turn` (the seller is synchronous). The reply goes back as the task's
status message, with a data part (the wire dict: money and quantities as strings) and a
text part; proposals, deals and closings also become artifacts (`proposal`, replaced by each
new version; `deal`; `closed`).

Task states:

| seller reply | task state |
|---|---|
| proposal (offered or pending_approval), catalog results, a fixable error | INPUT_REQUIRED |
| deal | COMPLETED, `deal` artifact |
| closed (buyer rejected) | COMPLETED, `closed` artifact |
| closed on maximum rounds, its last offer standing (`standing`) | INPUT_REQUIRED, `closed` artifact: accept it here |
| error not_authorized_for_region / unknown_segment, or a region the catalog does not serve | REJECTED |
| error negotiation_closed (ended elsewhere, e.g. over REST) | COMPLETED |
| an exception | FAILED |
| the turn timed out (error `turn_timeout`, as REST's 504; the turn may still commit) | INPUT_REQUIRED |

A turn the buyer did not start over A2A (an operator's decision, a REST accept) reaches the
executor as a request with no message and the reply in the call state (`SELLER_TURN_STATE`):
it is published the same way, so the task, streams and push notifications all see it.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from typing import TYPE_CHECKING, Any

import anyio
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.struct_pb2 import Value

from a2a.auth.user import User
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events.event_queue_v2 import EventQueue
from a2a.types.a2a_pb2 import (
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

from agent.server.a2a_card import DATA_MEDIA_TYPE, NEGOTIATION_EXTENSION_URI
from agent.server.context import TurnTimeout
from agent.service import Buyer, Reply
from agent.store.keys import ApiKey

if TYPE_CHECKING:
    from agent.server.context import ServerContext

log = logging.getLogger("dealdesk.a2a")

KEY_STATE = "dealdesk.key"  # the caller's ApiKey, set by the context builder
SELLER_TURN_STATE = "dealdesk.seller_turn"  # a Reply published out of band (operator decision, REST accept)
FINAL_STATE = "dealdesk.final_state"  # with SELLER_TURN_STATE: the task state to publish it with (reconciliation)
STREAM_STATE = "dealdesk.stream"  # set by the request handler on SendStreamingMessage, in either binding

REJECT_CODES = frozenset({"not_authorized_for_region", "unknown_segment"})
ENDED_CODES = frozenset({"negotiation_closed"})
FAIL_CODES = frozenset({"internal_error"})
TURN_TIMEOUT_CODE = "turn_timeout"  # REST answers the same event 504 `turn_timeout`; the task stays INPUT_REQUIRED
ARTIFACT_TYPES = {"proposal": "proposal", "deal": "deal", "closed": "closed"}


class BuyerUser(User):
    """The A2A user for a buyer key: its organisation owns the tasks it creates."""

    def __init__(self, key: ApiKey | None = None, *, org: str | None = None):
        self.key = key
        self.org = org if org is not None else (key.org if key else "") or ""

    @property
    def is_authenticated(self) -> bool:
        return bool(self.org)

    @property
    def user_name(self) -> str:
        return self.org


# --- wire helpers ----------------------------------------------------------------------------


class InboundError(Exception):
    """A message the executor can answer without a seller turn (no usable part)."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.data = {"type": "error", "code": code, "message": message, "field": field}


def inbound_of(message: Message | None, max_text_chars: int) -> tuple[dict[str, Any] | None, str | None]:
    """(data, text) of a buyer message: the data part as a plain dict, the text parts joined."""
    if message is None:
        raise InboundError("malformed_message", "the request carries no message", "message")
    data_parts = [p for p in message.parts if p.WhichOneof("content") == "data"]
    texts = [p.text for p in message.parts if p.WhichOneof("content") == "text"]
    if len(data_parts) > 1:
        raise InboundError("malformed_message", "send one data part per message", "parts")
    data = None
    if data_parts:
        data = MessageToDict(data_parts[0].data)  # whole numbers as ints (`protojson`, installed by A2AService)
        if not isinstance(data, dict):
            raise InboundError("malformed_message", "the data part must be a JSON object with a `type`", "parts")
    text = "\n".join(t for t in texts if t) or None
    if text is not None and len(text) > max_text_chars:
        raise InboundError("malformed_message", f"the text is longer than {max_text_chars} characters", "text")
    if data is None and text is None:
        raise InboundError("malformed_message", "send a data part (see the extension's schema) or a text part",
                           "parts")
    return data, text


def reply_parts(data: dict[str, Any] | None, text: str) -> list[Part]:
    parts = []
    if data is not None:
        value = Value()
        ParseDict(data, value)
        parts.append(Part(data=value, media_type=DATA_MEDIA_TYPE))
    if text or not parts:
        parts.append(Part(text=text or ""))
    return parts


def outcome(data: dict[str, Any] | None) -> tuple[int, str | None]:
    """(task state, artifact name or None) for a seller reply's data part."""
    kind = (data or {}).get("type")
    if kind == "closed" and data.get("standing"):  # no more rounds, but its offer may still be accepted here
        return TaskState.TASK_STATE_INPUT_REQUIRED, ARTIFACT_TYPES[kind]
    if kind in ("deal", "closed"):
        return TaskState.TASK_STATE_COMPLETED, ARTIFACT_TYPES[kind]
    if kind == "proposal":
        return TaskState.TASK_STATE_INPUT_REQUIRED, "proposal"
    if kind == "error":
        code = data.get("code")
        if code in REJECT_CODES:
            return TaskState.TASK_STATE_REJECTED, None
        if code in ENDED_CODES:
            return TaskState.TASK_STATE_COMPLETED, None
        if code in FAIL_CODES:
            return TaskState.TASK_STATE_FAILED, None
    return TaskState.TASK_STATE_INPUT_REQUIRED, None


_TURN_SUFFIX = re.compile(r"-t(\d+)$")


def turn_of(task: Task | None) -> int | None:
    """The seller turn a task shows (its status message is `<task id>-t<turn>`), if known."""
    if task is None or not task.status.HasField("message"):
        return None
    m = _TURN_SUFFIX.search(task.status.message.message_id)
    return int(m.group(1)) if m else None


def _now_status(state: int, message: Message | None = None) -> TaskStatus:
    status = TaskStatus(state=state)
    status.timestamp.FromDatetime(dt.datetime.now(dt.UTC))
    if message is not None:
        status.message.CopyFrom(message)
    return status


def agent_message(task_id: str, context_id: str, data: dict[str, Any] | None, text: str,
                  message_id: str | None = None) -> Message:
    return Message(message_id=message_id or f"{task_id}-{uuid.uuid4().hex[:12]}", role=Role.ROLE_AGENT,
                   task_id=task_id, context_id=context_id, parts=reply_parts(data, text),
                   extensions=[NEGOTIATION_EXTENSION_URI] if data is not None else [])


def reply_events(task_id: str, context_id: str, data: dict[str, Any] | None, text: str,
                 message_id: str | None = None) -> list[TaskArtifactUpdateEvent | TaskStatusUpdateEvent]:
    """The events that publish one seller reply on a task: [artifact,] status (with the message)."""
    state, artifact = outcome(data)
    events: list[TaskArtifactUpdateEvent | TaskStatusUpdateEvent] = []
    if artifact is not None:
        events.append(TaskArtifactUpdateEvent(
            task_id=task_id, context_id=context_id, append=False, last_chunk=True,
            artifact=Artifact(artifact_id=artifact, name=artifact, parts=reply_parts(data, text),
                              extensions=[NEGOTIATION_EXTENSION_URI])))
    msg = agent_message(task_id, context_id, data, text, message_id)
    events.append(TaskStatusUpdateEvent(task_id=task_id, context_id=context_id, status=_now_status(state, msg)))
    return events


# --- the executor ------------------------------------------------------------------------------


def turn_slots(ctx: ServerContext) -> int:
    """How many seller turns may run at once in this process without starving the database pool.

    A turn holds at most one store connection at a time (its read view until the commit, then
    the commit's). On PostgreSQL it also holds a connection of the turn-lock pool for its whole
    length, and the operators' and REST turns share both pools: half the store pool leaves them
    room. SQLite's turn lock is a file lock (no connection).
    """
    engine = getattr(ctx.seller.store, "engine", None)
    pool = getattr(engine, "pool", None)
    size = getattr(pool, "size", None)
    if pool is None or not callable(size):
        return 64
    capacity = size() + max(getattr(pool, "_max_overflow", 0), 0)
    if engine.dialect.name == "postgresql":
        return max(1, capacity // 2)
    return max(1, capacity)


class SellerExecutor(AgentExecutor):
    """Runs one seller turn per A2A request."""

    def __init__(self, ctx: ServerContext):
        self.ctx = ctx
        self._regions: frozenset[str] | None = None
        self.turns = anyio.Semaphore(turn_slots(ctx))

    def served_regions(self) -> frozenset[str]:
        if self._regions is None:
            regions = getattr(self.ctx.seller.catalog, "regions", None)
            self._regions = frozenset(regions()) if callable(regions) else frozenset()
        return self._regions

    def _turn(self, key: ApiKey, negotiation_id: str, new: bool, data: dict[str, Any] | None, text: str | None,
              message_id: str | None) -> Reply:
        """In a worker thread: open the negotiation for a new task, then one buyer turn."""
        seller = self.ctx.seller
        buyer = Buyer(org=key.org or "", region=key.region or "", segment=key.segment or "standard",
                      currency=key.currency)
        if new:
            seller.start(buyer, negotiation_id=negotiation_id)
        try:
            return seller.send(negotiation_id, data=data, text=text, message_id=message_id)
        except KeyError:  # the task outlived its negotiation row (restored database): open it again
            seller.start(buyer, negotiation_id=negotiation_id)
            return seller.send(negotiation_id, data=data, text=text, message_id=message_id)

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id = context.task_id or ""
        context_id = context.context_id or ""
        call = context.call_context
        new = context.current_task is None
        if new:
            await event_queue.enqueue_event(Task(
                id=task_id, context_id=context_id, status=_now_status(TaskState.TASK_STATE_SUBMITTED),
                history=[context.message] if context.message is not None else []))

        published: Reply | None = call.state.get(SELLER_TURN_STATE)
        if published is not None:  # a turn that happened elsewhere (operator, REST, before a crash): publish it
            shown = turn_of(context.current_task)
            if published.turn and shown is not None and shown > published.turn:
                return  # a later turn is on the task already (published before this one arrived)
            events = reply_events(task_id, context_id, published.data, published.text,
                                  f"{task_id}-t{published.turn}" if published.turn else None)
            final = call.state.get(FINAL_STATE)
            if final is not None:
                events[-1].status.state = final
            for event in events:
                await event_queue.enqueue_event(event)
            return

        key: ApiKey | None = call.state.get(KEY_STATE)
        try:
            if key is None or key.scope != "buyer" or not key.org:
                raise InboundError("not_authorized_for_region", "only buyer keys negotiate", "key")
            regions = self.served_regions()
            if regions and key.region not in regions:
                raise InboundError("not_authorized_for_region",
                                   f"region {key.region!r} is not served (served: {', '.join(sorted(regions))})",
                                   "region")
            data, text = inbound_of(context.message, self.ctx.settings.max_text_chars)
        except InboundError as exc:
            for event in reply_events(task_id, context_id, exc.data, str(exc)):
                await event_queue.enqueue_event(event)
            return

        if call.state.get(STREAM_STATE):  # a stream shows the work starting (JSON-RPC and HTTP+JSON alike)
            await event_queue.enqueue_event(TaskStatusUpdateEvent(
                task_id=task_id, context_id=context_id, status=_now_status(TaskState.TASK_STATE_WORKING)))
        message_id = context.message.message_id if context.message is not None else None
        try:
            async with self.turns:
                # A turn that outlives the timeout still reaches the task when it commits (`run_turn_then`).
                reply = await self.ctx.run_turn_then(lambda late: self.ctx.publish_seller_turn(task_id, late),
                                                     self._turn, key, task_id, new, data, text, message_id)
        except TurnTimeout as exc:
            # The turn goes on in its thread and commits whole; the buyer may ask again (GetTask shows the state).
            # The code is REST's for the same event (504 `turn_timeout`), not internal_error: nothing failed.
            err = {"type": "error", "code": TURN_TIMEOUT_CODE,
                   "message": f"{exc}; the turn may still complete: read the task again (GetTask) before sending "
                              "the message again", "field": None}
            status = _now_status(TaskState.TASK_STATE_INPUT_REQUIRED,
                                 agent_message(task_id, context_id, err, "That took too long; please try again."))
            await event_queue.enqueue_event(TaskStatusUpdateEvent(task_id=task_id, context_id=context_id,
                                                                  status=status))
            return
        except Exception:
            log.exception("seller turn failed for task %s", task_id)
            err = {"type": "error", "code": "internal_error", "message": "the seller failed on this message",
                   "field": None}
            for event in reply_events(task_id, context_id, err, "Something went wrong on our side."):
                await event_queue.enqueue_event(event)
            return
        for event in reply_events(task_id, context_id, reply.data, reply.text, f"{task_id}-t{reply.turn}"):
            await event_queue.enqueue_event(event)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """CancelTask: the request handler has marked the negotiation canceled; close the task."""
        task_id = context.task_id or ""
        context_id = context.context_id or ""
        data = {"type": "closed", "reason": "canceled by the buyer"}
        msg = agent_message(task_id, context_id, data, "The negotiation was cancelled; its stock holds are released.")
        await event_queue.enqueue_event(TaskStatusUpdateEvent(
            task_id=task_id, context_id=context_id, status=_now_status(TaskState.TASK_STATE_CANCELED, msg)))
