"""The circuit breaker: a model that keeps failing is skipped for a while, then tried again.

The QA finding it answers: a slow model cost every turn ~24 s (each turn waited for its requests to time
out before the offline model answered), for as long as the model stayed slow.
"""

from __future__ import annotations

import logging
import time

from agent.models.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from agent.models.resilient import metered

from .fake_openai import Reply, completion
from .test_graph import READABLE, start

PAYLOAD = [("system", "Say hi."), ("human", "hi")]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# --- the breaker alone ---------------------------------------------------------------------------------------


def test_it_opens_at_the_threshold_and_lets_one_trial_through_after_the_cooldown() -> None:
    clock = Clock()
    b = CircuitBreaker(clock)
    assert b.failed(3, 30.0) is None and b.failed(3, 30.0) is None and b.allow(30.0)
    change = b.failed(3, 30.0)
    assert change is not None and (change.state, change.failures, change.cooldown) == (OPEN, 3, 30.0)
    assert not b.allow(30.0) and b.state(30.0) == OPEN and b.retry_in(30.0) == 30.0
    clock.now += 29.9
    assert not b.allow(30.0)
    clock.now += 0.1
    assert b.state(30.0) == HALF_OPEN and b.allow(30.0)  # the trial
    assert not b.allow(30.0)  # one trial at a time
    assert b.succeeded().state == CLOSED and b.state(30.0) == CLOSED and b.in_a_row == 0
    assert b.allow(30.0) and b.succeeded() is None  # closed already: no change to log


def test_a_failed_trial_opens_it_for_another_cooldown() -> None:
    clock = Clock()
    b = CircuitBreaker(clock)
    for _ in range(3):
        b.failed(3, 10.0)
    clock.now += 10.0
    assert b.allow(10.0)
    change = b.failed(3, 10.0)
    assert change is not None and change.state == OPEN and change.failures == 4
    assert not b.allow(10.0) and b.retry_in(10.0) == 10.0


def test_a_trial_that_made_no_request_lets_the_next_call_try() -> None:
    clock = Clock()
    b = CircuitBreaker(clock)
    for _ in range(2):
        b.failed(2, 5.0)
    clock.now += 5.0
    assert b.allow(5.0) and not b.allow(5.0)
    b.released()
    assert b.allow(5.0)


def test_an_answer_between_failures_starts_the_count_again() -> None:
    b = CircuitBreaker(Clock())
    b.failed(3, 30.0)
    b.failed(3, 30.0)
    b.succeeded()
    b.failed(3, 30.0)
    b.failed(3, 30.0)
    assert b.state(30.0) == CLOSED and b.allow(30.0)


# --- in the model --------------------------------------------------------------------------------------------


def down(body, headers) -> Reply:
    return Reply(503, {"error": {"message": "overloaded", "type": "server_error"}})


def up(body, headers) -> Reply:
    return Reply(200, completion({"content": "Hello."}, body))


def test_a_model_that_keeps_failing_is_skipped_then_tried_again(server, model_for, caplog) -> None:
    server.reset(down)
    model = model_for(attempts=2, breaker_failures=3, breaker_cooldown=0.5)
    caplog.set_level(logging.WARNING, logger="dealdesk.model")
    for _ in range(3):
        with metered() as m:
            message = model.invoke(PAYLOAD)
        assert m.calls == 2 and message.response_metadata["reason"] == "server_error"
    assert server.count() == 6
    assert any("3 calls in a row gave up on an outage" in r.getMessage() for r in caplog.records)
    started = time.monotonic()
    with metered() as m:
        message = model.invoke(PAYLOAD)
    assert time.monotonic() - started < 0.4  # no request, no backoff
    assert m.calls == 0 and m.fallbacks == ["circuit_open"] and message.response_metadata["reason"] == "circuit_open"
    assert server.count() == 6
    time.sleep(0.55)
    server.reset(up)
    with metered() as m:
        message = model.invoke(PAYLOAD)
    assert m.calls == 1 and not m.fallbacks and message.content == "Hello."
    assert any("answers again" in r.getMessage() for r in caplog.records)
    with metered() as m:  # closed: every call asks
        model.invoke(PAYLOAD)
    assert m.calls == 1


def test_the_bound_copies_share_one_breaker(server, model_for) -> None:
    server.reset(down)
    model = model_for(attempts=1, breaker_failures=2, breaker_cooldown=60.0)
    bound = model.bind_tools([])
    model.invoke(PAYLOAD)
    bound.invoke(PAYLOAD)
    assert server.count() == 2
    with metered() as m:
        model.invoke(PAYLOAD)
        bound.invoke(PAYLOAD)
    assert m.calls == 0 and m.fallbacks == ["circuit_open", "circuit_open"]


def test_answers_that_cannot_be_used_are_not_outages(server, model_for) -> None:
    def bad_request(body, headers) -> Reply:
        return Reply(400, {"error": {"message": "bad", "type": "invalid_request_error"}})

    server.reset(bad_request)
    model = model_for(attempts=3, breaker_failures=2, breaker_cooldown=60.0)
    for _ in range(4):
        with metered() as m:
            model.invoke(PAYLOAD)
        assert m.calls == 1 and m.fallbacks == ["bad_request"]
    assert server.count() == 4


def test_zero_turns_the_breaker_off(server, model_for) -> None:
    server.reset(down)
    model = model_for(attempts=1, breaker_failures=0)
    for _ in range(5):
        model.invoke(PAYLOAD)
    assert server.count() == 5


def test_the_turn_says_the_model_was_skipped(server, model_for, seller_for) -> None:
    server.reset(down)
    model = model_for(attempts=1, breaker_failures=1, breaker_cooldown=60.0)
    model.invoke(PAYLOAD)  # one outage: open
    seller = seller_for(model)
    nid = start(seller)
    reply = seller.send(nid, text="Hello, what can you tell me about your bearings?")
    assert server.count() == 1 and reply.text
    fallbacks = [r.get("dealdesk.model.fallback_reason") for r in reply.records]
    assert "circuit_open" in fallbacks
    assert seller.send(nid, text=READABLE).type == "proposal"  # the offline model negotiates meanwhile
    assert server.count() == 1
