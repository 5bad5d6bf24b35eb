"""A local OpenAI-compatible server for tests and benchmarks: real HTTP, no network, no key.

`FakeOpenAI` serves `POST /v1/chat/completions` and `GET /v1/models` on
127.0.0.1 (a free port), in a uvicorn thread. What it answers comes from a
handler:

- `CassettePlayer`: replays a cassette, a JSON file of request -> response pairs
  in the OpenAI wire format (see tests/llm/cassettes/README.md), in order;
- a script (`bench/llm_calls.py`): a function that answers as a capable model would;
- `Recorder`: forwards each request to a real endpoint and writes the cassette
  (`python -m tests.llm.record`, with a key).

Every request is kept (`server.requests`), so tests count what reached the
server: retries, calls per turn, prompt and completion sizes.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

CASSETTES = Path(__file__).resolve().parent / "cassettes"

_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(value: Any) -> int:
    """A tokenizer-free token count, the same for every caller: words, numbers and punctuation marks."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    return len(_TOKEN.findall(text))


def prompt_tokens(body: dict[str, Any]) -> int:
    """What the model reads: messages, tools and the response format."""
    return count_tokens({k: body[k] for k in ("messages", "tools", "response_format") if k in body})


def completion_tokens(message: dict[str, Any]) -> int:
    parts: list[Any] = []
    if message.get("content"):
        parts.append(message["content"])
    for call in message.get("tool_calls") or []:
        parts.append(call["function"]["name"])
        parts.append(call["function"]["arguments"])
    return count_tokens(parts) if parts else 0


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    """One request as the server saw it."""

    body: dict[str, Any]
    headers: dict[str, str]
    at: float
    status: int = 0
    response: Any = None

    @property
    def kind(self) -> str:
        return request_kind(self.body)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages") or []


def request_kind(body: dict[str, Any]) -> str:
    """understand (the buyer-intent structured output), chat (tools bound) or plain."""
    fmt = body.get("response_format") or {}
    if isinstance(fmt, dict) and (fmt.get("json_schema") or {}).get("name") == "buyer_intent":
        return "understand"
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and (choice.get("function") or {}).get("name") == "record_buyer_intent":
        return "understand"
    if body.get("tools"):
        return "chat"
    return "plain"


def completion(message: dict[str, Any], body: dict[str, Any] | None = None, *, finish: str | None = None,
               usage: dict[str, int] | None = None) -> dict[str, Any]:
    """A chat.completion envelope around an assistant message (usage counted with `count_tokens`)."""
    message = {"role": "assistant", "content": None, **message}
    if usage is None:
        usage = {"prompt_tokens": prompt_tokens(body or {}), "completion_tokens": completion_tokens(message)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return {"id": f"chatcmpl-fake{int(time.time() * 1000) % 10**9}", "object": "chat.completion",
            "created": int(time.time()), "model": (body or {}).get("model", "fake-model"),
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": finish or ("tool_calls" if message.get("tool_calls") else "stop")}],
            "usage": usage}


Handler = Callable[[dict[str, Any], dict[str, str]], Reply]


class FakeOpenAI:
    """The server. `with FakeOpenAI(handler) as server: ... server.base_url ...`."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self._app(), log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name="fake-openai")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def reset(self, handler: Handler | None = None) -> None:
        with self._lock:
            self.requests.clear()
            self.handler = handler

    def use(self, cassette: str | Path | dict[str, Any], **variables: Any) -> CassettePlayer:
        player = CassettePlayer(load_cassette(cassette), variables)
        self.reset(player)
        return player

    def count(self, kind: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if kind is None or r.kind == kind)

    # -- the app --------------------------------------------------------------------------------

    def _app(self) -> Any:
        app = FastAPI()

        @app.get("/v1/models")
        async def models() -> Any:
            return {"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "dealdesk-tests"}]}

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> Any:
            body = await request.json()
            seen = Seen(body=body, headers={k.lower(): v for k, v in request.headers.items()}, at=time.monotonic())
            with self._lock:
                self.requests.append(seen)
                handler = self.handler
            if handler is None:
                reply = Reply(500, {"error": {"message": "no handler", "type": "server_error"}})
            else:
                try:
                    reply = await asyncio.to_thread(handler, body, seen.headers)
                except Exception as exc:  # noqa: BLE001 - reported to the client and kept for the test
                    reply = Reply(500, {"error": {"message": f"handler failed: {exc!r}", "type": "server_error"}})
            if reply.delay:
                await asyncio.sleep(reply.delay)
            seen.status, seen.response = reply.status, reply.body
            return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)

        return app


# --- cassettes -----------------------------------------------------------------------------------


def load_cassette(cassette: str | Path | dict[str, Any]) -> dict[str, Any]:
    if isinstance(cassette, dict):
        return cassette
    path = Path(cassette)
    if not path.suffix:
        path = CASSETTES / f"{cassette}.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    if not doc.get("source"):
        raise ValueError(f"{path}: a cassette says where its responses come from (`source`)")
    return doc


_PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z0-9_.:\-]+)\s*\}\}")


def brief_from_body(body: dict[str, Any]) -> dict[str, Any] | None:
    from agent.playbook import BRIEF_MARKER

    for m in body.get("messages") or []:
        content = m.get("content")
        if m.get("role") == "system" and isinstance(content, str) and BRIEF_MARKER in content:
            return json.loads(content.split(BRIEF_MARKER, 1)[1])
    return None


def resolve(name: str, body: dict[str, Any], variables: dict[str, Any]) -> str | None:
    """A cassette placeholder from the request's turn brief or the test's variables.

    `{{recommended}}`, `{{recommended.price}}`, `{{recommended.total}}`: the first line's recommended move;
    `{{move.KIND}}` (`.price`, `.total`): its first non-alternative move of that kind; `{{var.NAME}}`.
    """
    if name.startswith("var."):
        value = variables.get(name[4:])
        return None if value is None else str(value)
    brief = brief_from_body(body) or {}
    lines = brief.get("lines") or []
    if not lines:
        return None
    line = lines[0]
    moves = line.get("moves") or (line.get("plan") or {}).get("moves") or []
    recommended = line.get("recommended") or (line.get("plan") or {}).get("recommended")
    head, _, attr = name.partition(".") if not name.startswith("move.") else ("move", "", name[5:])
    move = None
    if head == "recommended":
        move = next((m for m in moves if m.get("id") == recommended), None)
    elif head == "move":
        kind, _, attr = attr.partition(".")
        move = next((m for m in moves if m.get("kind") == kind and not m.get("alternative")), None)
    if move is None:
        return None
    return str({"": move.get("id"), "price": move.get("unit_price"), "total": move.get("line_total"),
                "quantity": move.get("quantity"), "sku": move.get("sku")}.get(attr))


def substitute(value: Any, body: dict[str, Any], variables: dict[str, Any], missing: list[str]) -> Any:
    text = json.dumps(value)

    def one(m: re.Match[str]) -> str:
        got = resolve(m.group(1), body, variables)
        if got is None:
            missing.append(m.group(1))
            return m.group(0)
        return json.dumps(got)[1:-1]

    return json.loads(_PLACEHOLDER.sub(one, text))


def matches(match: dict[str, Any], body: dict[str, Any]) -> str | None:
    """Why a request does not match an interaction's `match`, or None."""
    kind = match.get("kind")
    if kind and kind != "any" and request_kind(body) != kind:
        return f"expected a {kind} request, got {request_kind(body)}"
    text = json.dumps(body.get("messages") or [], ensure_ascii=False).casefold()
    for needle in ([match["contains"]] if isinstance(match.get("contains"), str) else match.get("contains") or []):
        if needle.casefold() not in text:
            return f"the request does not contain {needle!r}"
    if match.get("last_role"):
        last = (body.get("messages") or [{}])[-1].get("role")
        if last != match["last_role"]:
            return f"the last message is {last}, not {match['last_role']}"
    if match.get("response_format") and ((body.get("response_format") or {}).get("type") != match["response_format"]):
        return f"response_format is not {match['response_format']}"
    return None


class CassettePlayer:
    """Answers requests with a cassette's interactions in order (`times` repeats one)."""

    def __init__(self, cassette: dict[str, Any], variables: dict[str, Any] | None = None) -> None:
        self.cassette = cassette
        self.variables = variables or {}
        self.queue: list[dict[str, Any]] = []
        for it in cassette["interactions"]:
            self.queue += [it] * int(it.get("times", 1))
        self.used = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()

    @property
    def remaining(self) -> int:
        return len(self.queue) - self.used

    def __call__(self, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        with self._lock:
            if self.used >= len(self.queue):
                self.errors.append(f"request {self.used + 1}: the cassette {self.cassette.get('name')} is exhausted "
                                   f"({request_kind(body)} request)")
                return Reply(500, {"error": {"message": "cassette exhausted", "type": "server_error"}})
            it = self.queue[self.used]
            self.used += 1
            number = self.used
        why = matches(it.get("match") or {}, body)
        if why:
            self.errors.append(f"request {number}: {why}")
        response = it["response"]
        missing: list[str] = []
        payload = substitute(response.get("body"), body, self.variables, missing)
        if missing:
            self.errors.append(f"request {number}: unresolved placeholders {missing}")
        if isinstance(payload, dict) and payload.get("object") == "chat.completion" and payload.get("usage") == "count":
            msg = payload["choices"][0]["message"]
            payload["usage"] = {"prompt_tokens": prompt_tokens(body), "completion_tokens": completion_tokens(msg)}
            payload["usage"]["total_tokens"] = sum(payload["usage"].values())
        return Reply(int(response.get("status", 200)), payload, dict(response.get("headers") or {}),
                     float(response.get("delay", 0)))


class Recorder:
    """Forwards requests to a real OpenAI-compatible endpoint and keeps each pair for a cassette."""

    def __init__(self, upstream: str, api_key: str, name: str, model: str | None = None) -> None:
        import httpx

        self.upstream = upstream.rstrip("/")
        self.client = httpx.Client(timeout=120, headers={"Authorization": f"Bearer {api_key}"})
        self.name = name
        self.model = model
        self.interactions: list[dict[str, Any]] = []

    def __call__(self, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        resp = self.client.post(f"{self.upstream}/chat/completions", json=body)
        payload = resp.json()
        self.interactions.append({"match": {"kind": request_kind(body)}, "request": body,
                                  "response": {"status": resp.status_code, "body": payload}})
        return Reply(resp.status_code, payload)

    def cassette(self) -> dict[str, Any]:
        """The recorded pairs; move ids of the turn brief become placeholders, so the cassette replays later."""
        out = []
        for it in self.interactions:
            brief = brief_from_body(it["request"]) or {}
            body_text = json.dumps(it["response"]["body"])
            for line in brief.get("lines") or []:
                recommended = line.get("recommended")
                seen_kinds: set[str] = set()
                for m in line.get("moves") or []:
                    if m.get("id") == recommended:
                        body_text = body_text.replace(m["id"], "{{recommended}}")
                    elif not m.get("alternative") and m.get("kind") not in seen_kinds:
                        body_text = body_text.replace(m["id"], "{{move.%s}}" % m["kind"])
                    seen_kinds.add(m.get("kind"))
            out.append({"match": it["match"], "response": {**it["response"], "body": json.loads(body_text)}})
        return {"name": self.name, "source": f"recorded from {self.upstream} ({self.model or 'model'}) on "
                                               f"{time.strftime('%Y-%m-%d')}", "interactions": out}
