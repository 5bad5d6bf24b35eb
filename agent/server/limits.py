"""Request limits, as one pure-ASGI middleware in front of everything (REST and A2A alike).

- **Body cap.** The body is read from the stream chunk by chunk and counted; past
  `max_body_bytes` the request is refused with 413 at once, whatever `Content-Length`
  claimed (a lying or missing one changes nothing). An honest `Content-Length` over
  the cap is refused before anything is read.
- **JSON depth.** A JSON body nested deeper than `max_json_depth` is refused with 400
  before any parser sees it (Python's parser would recurse; a scanner does not); so is a
  JSON body that is not UTF-8.
- **Rate limit.** A token bucket per API key (per client address without one): it holds
  `rate_burst` tokens and refills at `rate_per_second`; an empty bucket answers 429 with
  `Retry-After` (whole seconds, at least 1). Refused keys (answers 401) are counted in a
  bucket per client address as well: once it is empty, that address's requests with a key
  get 429 until it refills, so keys cannot be guessed at full speed with a new made-up key
  each time; a key the server has taken before (an answer other than 401) is never held back
  by the others' refusals at its address (buyers behind one NAT). The buckets live in the
  process: with several workers each has its own.

The body, once read, is replayed to the application, so handlers read it as usual.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from agent.server.a2a_card import JSONRPC_ALIAS, JSONRPC_PATH
from agent.server.auth import AuthError, bearer_token
from agent.server.errors import envelope_bytes

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

EXEMPT_PATHS = ("/healthz", "/readyz")
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """True when the JSON text nests arrays/objects deeper than `limit` (strings are skipped)."""
    if b"[" not in body and b"{" not in body:
        return False
    depth = 0
    for m in _TOKENS.finditer(body):
        tok = m.group()
        if tok in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif tok in (b"]", b"}"):
            depth -= 1
    return False


class TokenBucket:
    """Buckets by name; `take(name)` returns 0.0 when allowed, else the seconds to wait."""

    def __init__(self, rate: float, burst: int, *, max_buckets: int = 100_000,
                 clock: Callable[[], float] = time.monotonic):
        self.rate = max(rate, 1e-9)
        self.burst = max(int(burst), 1)
        self.max_buckets = max_buckets
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, name: str, cost: float = 1.0) -> float:
        """The seconds until `take(name, cost)` would be allowed (0.0: now), taking nothing."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(name, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        return 0.0 if tokens >= cost else (cost - tokens) / self.rate

    def take(self, name: str, cost: float = 1.0) -> float:
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(name, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= cost:
                self._buckets[name] = (tokens - cost, now)
                wait = 0.0
            else:
                self._buckets[name] = (tokens, now)
                wait = (cost - tokens) / self.rate
            while len(self._buckets) > self.max_buckets:  # forget the least recently seen
                self._buckets.popitem(last=False)
        return wait


def _header(scope: Scope, name: bytes) -> bytes | None:
    for k, v in scope.get("headers") or ():
        if k.lower() == name:
            return v
    return None


def _address(scope: Scope) -> str:
    client = scope.get("client") or ("?", 0)
    return f"ip:{client[0]}"


def bucket_name(scope: Scope) -> str:
    """The key's bucket for a well-formed `Bearer <key>` header, read by authentication's own parser (any case of
    the scheme, any spaces around the key: one bucket for all spellings of one key); else the client's address."""
    auth = _header(scope, b"authorization")
    if auth:
        try:
            return "key:" + hashlib.sha256(bearer_token(auth.decode("latin-1")).encode("latin-1")).hexdigest()[:32]
        except AuthError:
            pass
    return _address(scope)


async def _answer(send: Send, status: int, code: str, message: str, *, field: str | None = None,
                  headers: list[tuple[bytes, bytes]] | None = None, jsonrpc: bool = False) -> None:
    body = envelope_bytes(status, code, message, field, jsonrpc=jsonrpc)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close") if status == 413 else (b"cache-control", b"no-store"),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


JSONRPC_PATHS = frozenset({JSONRPC_PATH, JSONRPC_ALIAS})


class LimitsMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_json_depth: int, rate_per_second: float,
                 rate_burst: int):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth
        self.bucket = TokenBucket(rate_per_second, rate_burst) if rate_per_second > 0 else None
        # refused keys (401), per client address: a new made-up key every request would get a fresh bucket
        self.refused = TokenBucket(rate_per_second, rate_burst) if rate_per_second > 0 else None
        # keys the server took (an answer other than 401): never held back by others' refused keys at the address
        self.taken: OrderedDict[str, None] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        rpc = path in JSONRPC_PATHS and scope.get("method") == "POST"  # refusals answered as JSON-RPC errors
        if self.bucket is not None and path not in EXEMPT_PATHS:
            name = bucket_name(scope)
            held = _header(scope, b"authorization") is not None and name not in self.taken
            wait, why = self.refused.wait(_address(scope)) if held else 0.0, \
                "too many requests with keys that were refused"
            if wait <= 0:
                wait, why = self.bucket.take(name), "too many requests for this key"
            if wait > 0:
                retry = max(1, math.ceil(wait))
                await _answer(send, 429, "rate_limited", f"{why}; retry after {retry} s",
                              headers=[(b"retry-after", str(retry).encode())], jsonrpc=rpc)
                return
            send = self._counting_refusals(scope, send, name)
        if scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE") and _header(scope, b"content-length") in (
                None, b"0") and _header(scope, b"transfer-encoding") is None:
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                if int(declared) > self.max_body_bytes:
                    await _answer(send, 413, "request_too_large",
                                  f"the body is larger than {self.max_body_bytes} bytes", jsonrpc=rpc)
                    return
            except ValueError:
                await _answer(send, 400, "bad_request", "Content-Length is not a number", jsonrpc=rpc)
                return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _answer(send, 413, "request_too_large", f"the body is larger than {self.max_body_bytes} bytes",
                              jsonrpc=rpc)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body.lstrip()[:1] in (b"{", b"[") or b"json" in (_header(scope, b"content-type") or b""):
            try:  # JSON on the wire is UTF-8 (RFC 8259); refused here, no handler meets undecodable bytes
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                await _answer(send, 400, "malformed_json", f"the body is not UTF-8 (byte {exc.start})", jsonrpc=rpc)
                return
            if json_depth_exceeds(body, self.max_json_depth):
                await _answer(send, 400, "json_too_deep",
                              f"the JSON document is nested deeper than {self.max_json_depth} levels", jsonrpc=rpc)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _counting_refusals(self, scope: Scope, send: Send, name: str) -> Send:
        """`send`, charging the client address's refused-keys bucket when the answer is 401, and remembering a key
        the server took (`taken`, the most recent 100,000)."""
        refused, address, taken = self.refused, _address(scope), self.taken
        assert refused is not None  # only with a rate limit

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                if message.get("status") == 401:
                    refused.take(address)
                elif name.startswith("key:"):
                    taken[name] = None
                    taken.move_to_end(name)
                    if len(taken) > 100_000:
                        taken.popitem(last=False)
            await send(message)

        return counted
