"""`Idempotency-Key` for REST writes, in Stripe's manner.

- same key, same request (method, path, body): the stored response, replayed, with
  `Idempotent-Replayed: true`;
- same key, another request: 422 `idempotency_key_reused`;
- same key while the first request still runs: 409 `idempotency_key_in_flight`.

Keys are scoped per owner (the buyer organisation), so two organisations may use the
same key text without ever seeing each other's answers. A response is stored once the
request has run to an answer (success or a 4xx the retry would get again); a 5xx or a
turn timeout releases the key, so the retry runs again (the seller's own acceptance is
idempotent per proposal version).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import JSONResponse

from agent.server.context import ServerContext, TurnTimeout
from agent.server.errors import ApiError
from agent.store.db import utcnow
from agent.store.idempotency import IdempotencyStore

MAX_KEY_CHARS = 255
Handler = Callable[[], Awaitable[tuple[int, dict[str, Any]]]]


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method.upper()} {path}\n{canonical}".encode()).hexdigest()


def store_for(ctx: ServerContext) -> IdempotencyStore:
    found = getattr(ctx, "_idempotency", None)
    if found is None:
        found = IdempotencyStore(ctx.seller.store.engine, stale_after=max(60.0, ctx.settings.turn_timeout_s * 4),
                                 live_since=utcnow() if ctx.single_process else None, liveness=ctx.live())
        object.__setattr__(ctx, "_idempotency", found)
    return found


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_CHARS or not key.isprintable():
        raise ApiError(400, "invalid_idempotency_key",
                       f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} printable characters", "Idempotency-Key")
    return key


async def run_idempotent(ctx: ServerContext, *, owner: str, key: str | None, method: str, path: str,
                         body: Any, handler: Handler) -> JSONResponse:
    """Run `handler` at most once per (owner, key) and request; without a key, just run it."""
    if key is None:
        try:
            status, out = await handler()
        except ApiError as exc:
            return exc.response()
        return JSONResponse(out, status_code=status)
    key = check_key(key)
    store = store_for(ctx)
    fp = fingerprint(method, path, body)
    claim = await ctx.run_turn(store.claim, owner, key, fp)
    if claim.state == "replay":
        return JSONResponse(claim.body, status_code=claim.status or 200, headers={"Idempotent-Replayed": "true"})
    if claim.state == "mismatch":
        raise ApiError(422, "idempotency_key_reused",
                       "this Idempotency-Key was used with a different request; use a new key",
                       "Idempotency-Key", type_="idempotency_error")
    if claim.state == "in_flight":
        raise ApiError(409, "idempotency_key_in_flight",
                       "a request with this Idempotency-Key is still being processed; retry later",
                       "Idempotency-Key", type_="idempotency_error", headers={"Retry-After": "1"})
    try:
        status, out = await handler()
    except ApiError as exc:
        if exc.status >= 500:
            await ctx.run_turn(store.release, owner, key)
            raise
        response = exc.response()
        await ctx.run_turn(store.complete, owner, key, exc.status, json.loads(response.body))
        return response
    except (TurnTimeout, Exception):
        await ctx.run_turn(store.release, owner, key)
        raise
    await ctx.run_turn(store.complete, owner, key, status, out)
    return JSONResponse(out, status_code=status)
