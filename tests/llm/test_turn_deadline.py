"""A slow model inside a server turn: its requests end before the turn timeout and the offline model answers.

The QA finding: with a model that takes 40 s (a 30 s timeout per request, 4 attempts, a 90 s deadline per
call) and a 30 s server turn, the buyer was told "That took too long" while the offline fallback committed a
proposal in the background a minute later. `ServerContext.run_turn` now sets a turn deadline
(`agent.models.resilient.turn_deadline`): every model request of the turn ends `model_margin` before the turn
timeout, so the offline model answers within the turn.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

from agent.models.resilient import metered
from agent.server.context import ServerContext, ServerSettings
from agent.service import Buyer

from .fake_openai import Reply, completion, request_kind
from .test_unusable_replies import ASK, RFQ

SLOW_S = 8.0


def slow(done: threading.Event):
    def answer(body, headers) -> Reply:
        done.wait(SLOW_S)  # (the test sets `done` when it ends: no request left hanging in the server)
        if request_kind(body) == "understand":
            return Reply(200, completion({"content": json.dumps(RFQ)}, body))
        return Reply(200, completion({"content": "Thank you."}, body))

    return answer


def test_a_slow_model_is_answered_offline_within_the_server_turn(server, model_for, seller_for) -> None:
    done = threading.Event()
    server.reset(slow(done))
    try:
        _slow_turn(server, model_for, seller_for)
    finally:
        done.set()


def _slow_turn(server, model_for, seller_for) -> None:
    # each request may take 5 s, twice, within 20 s per call: far beyond the 4 s turn without the turn deadline
    model = model_for(timeout=5.0, attempts=2, deadline=20.0)
    seller = seller_for(model)
    ctx = ServerContext(settings=ServerSettings(turn_timeout_s=4.0), seller=seller, keys=None)  # type: ignore[arg-type]
    nid = seller.start(Buyer(org="qa-slow", region="EU"))
    started = time.monotonic()
    reply = asyncio.run(ctx.run_turn(seller.send, nid, text=ASK))
    took = time.monotonic() - started
    assert took < 3.9, took  # the model gave up at its deadline, 1 s before the turn's (model_margin(4.0) == 1)
    assert reply.type == "proposal" and reply.data["items"][0]["sku"] == "BRG-6204"
    understand = next(r for r in reply.records if r["node"] == "understand")
    assert understand["dealdesk.intent.source"] == "offline"
    assert understand["dealdesk.model.fallback_reason"] == "timeout"
    agent = next(r for r in reply.records if r.get("gen_ai.operation.name") == "chat")
    assert agent["dealdesk.model_calls"] == 0 and agent["dealdesk.model.local"] == "playbook"  # understood offline
    assert server.count("understand") == 1  # no second attempt: no time left for it


def test_no_request_starts_without_time_left_and_each_is_cut_to_what_is_left(server, model_for) -> None:
    from agent.models.resilient import model_margin, time_left, turn_deadline

    assert model_margin(3.0) == 1.0 and model_margin(30.0) == 6.0 and model_margin(300.0) == 10.0
    done = threading.Event()
    server.reset(slow(done))
    model = model_for(timeout=30.0, attempts=3, deadline=60.0)
    payload = [("system", "Say hi."), ("human", "hi")]
    try:
        with turn_deadline(3.0), metered() as m:  # the model has 3 - 1 = 2 s
            left = time_left()
            assert left is not None and 1.5 < left <= 2.0
            started = time.monotonic()
            message = model.invoke(payload)
            took = time.monotonic() - started
    finally:
        done.set()
    assert took < 2.5, took  # the request was cut at what the turn had left, not at the 30 s configured
    assert m.calls == 1 and m.fallbacks == ["timeout"]  # and not tried again: no time left
    assert message.response_metadata["reason"] == "timeout"
    with turn_deadline(10.0, started=time.monotonic() - 9.0), metered() as m:  # 1 s into the margin
        message = model.invoke(payload)
    assert m.calls == 0 and m.fallbacks == ["turn_deadline"]
    assert message.response_metadata["reason"] == "turn_deadline"
    assert time_left() is None  # outside a turn: only the per-call deadline
