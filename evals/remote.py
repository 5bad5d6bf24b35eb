"""`dealdesk eval run --target URL`: the same cases against a live server, over A2A (JSON-RPC) and REST.

Buyer turns go out as A2A `SendMessage` (one task per negotiation: the task id is the
negotiation id); operator decisions through the REST operator API
(`/v1/approvals?status=pending`, then `/v1/approvals/{id}/approve|reject|edit`); the final
status from `/v1/negotiations/{id}`. The server decides who the buyer is from its API key,
so each case needs a buyer key for its fixture's region and segment (`--buyer-key
REGION:SEGMENT=KEY`; the demo keys of `dealdesk serve --demo` by default).

The server keeps its state: stock that deals allocate, and each buyer organisation's
negotiation memory (the strategy continues an organisation's curve across
negotiations). A case still open at its end is canceled (A2A CancelTask) so its holds
are released; for replays that match the in-process ones, use a fresh server, or
buyer keys of organisations without history.

What a live server cannot do for a case, the case is skipped for (status `skip`, not a
failure): catalog or policy files or overrides (the server has its own), a clock, a
seller configuration. The independent policy check uses the demo data (or the case's
default files): point the server at the same data. Decision records are not read over
the wire, so guardrail blocks, revisions and model calls are not measured here.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from evals.case import Case, ClockTurn, OperatorTurn
from evals.fixtures import load_fixture
from evals.policy_check import Checker
from evals.session import NO_PENDING, Transcript, TurnRecord

DEMO_BUYER_KEYS = {("EU", "standard"): "dd_buyer_demo_eu_acme_0000000000000000",
                   ("US", "strategic"): "dd_buyer_demo_us_globex_00000000000000"}
DEMO_OPERATOR_KEY = "dd_operator_demo_0000000000000000000000"
TERMINAL = {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_CANCELED", "TASK_STATE_REJECTED"}


@dataclass(frozen=True)
class Target:
    url: str
    buyer_keys: dict[tuple[str, str], str]
    operator_key: str | None
    timeout: float = 60.0


def parse_keys(values: list[str] | None) -> dict[tuple[str, str], str]:
    """REGION:SEGMENT=KEY items -> {(region, segment): key}."""
    out: dict[tuple[str, str], str] = {}
    for v in values or []:
        who, _, key = v.partition("=")
        region, _, segment = who.partition(":")
        if not key or not region:
            raise ValueError(f"--buyer-key wants REGION:SEGMENT=KEY, got {v!r}")
        out[(region, segment or "standard")] = key
    return out


def skip_reason(case: Case, target: Target) -> str | None:
    f = case.fixture
    if f.catalog or f.policy or f.catalog_overrides or f.policy_overrides:
        return "the server has its own catalog and policy"
    if f.clock is not None or any(isinstance(t, ClockTurn) for t in case.turns):
        return "the server's clock cannot be moved"
    if f.max_revisions is not None:
        return "the server's seller configuration is its own"
    if (f.buyer.region, f.buyer.segment) not in target.buyer_keys:
        return f"no buyer key for {f.buyer.region}:{f.buyer.segment} (--buyer-key)"
    if any(isinstance(t, OperatorTurn) for t in case.turns) and not target.operator_key:
        return "operator turns need --operator-key"
    return None


def _ints(node: Any) -> Any:
    """A2A data parts travel as protobuf Structs: whole numbers come back as floats (version 1.0)."""
    if isinstance(node, dict):
        return {k: _ints(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_ints(v) for v in node]
    if isinstance(node, float) and node.is_integer():
        return int(node)
    return node


class RemoteSession:
    """The `Session` interface (send, operator, restart, finish) over the wire."""

    def __init__(self, target: Target, case: Case, checker: Checker):
        self.target = target
        b = case.fixture.buyer
        self.key = target.buyer_keys[(b.region, b.segment)]
        self.http = httpx.Client(base_url=target.url.rstrip("/"), timeout=target.timeout)
        self.checker = checker
        self.task_id: str | None = None
        self.context_id: str | None = None
        self.state: str | None = None
        self.transcript = Transcript(negotiation_id="")
        self.current: dict[str, Any] | None = None
        self.sent: dict[tuple[Any, Any], dict[str, Any]] = {}
        self.granted: str | None = None

    def close(self) -> None:
        self.http.close()

    def _buyer_headers(self) -> dict[str, str]:
        return {"A2A-Version": "1.0", "Authorization": f"Bearer {self.key}"}

    def _operator_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.target.operator_key}"}

    def restart(self) -> TurnRecord:
        self.cancel_open()
        self.task_id, self.context_id, self.state, self.current, self.granted = None, None, None, None, None
        rec = TurnRecord(index=len(self.transcript.turns), role="restart", sent={}, reply=None,
                         now=_now())
        self.transcript.turns.append(rec)
        return rec

    def send(self, data: Any = None, text: str | None = None) -> TurnRecord:
        parts: list[dict[str, Any]] = []
        if data is not None:
            parts.append({"data": data})
        if text is not None:
            parts.append({"text": text})
        msg: dict[str, Any] = {"messageId": uuid.uuid4().hex, "role": "ROLE_USER", "parts": parts}
        if self.task_id and self.state not in TERMINAL:
            msg["taskId"] = self.task_id
            if self.context_id:
                msg["contextId"] = self.context_id
        elif self.task_id:
            # the task ended (failed on an error, completed on a deal): an A2A buyer opens a new task
            self.task_id, self.context_id = None, None
        sent = {"data": data} if data is not None else {"text": text or ""}

        def call() -> tuple[dict[str, Any] | None, str]:
            r = self.http.post("/", json={"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
                                          "params": {"message": msg}}, headers=self._buyer_headers())
            body = r.json()
            if "error" in body:
                err = body["error"]
                # a transport-level refusal of a malformed data part is the server's typed error, not a crash
                return {"type": "error", "code": "malformed_message", "message": str(err.get("message")),
                        "field": None}, str(err.get("message"))
            task = body["result"].get("task") or {}
            self.task_id = task.get("id") or self.task_id
            self.context_id = task.get("contextId") or self.context_id
            self.state = (task.get("status") or {}).get("state")
            if not self.transcript.negotiation_id:
                self.transcript.negotiation_id = self.task_id or ""
            return _reply_of((task.get("status") or {}).get("message") or body["result"].get("message") or {})

        return self._turn("buyer", sent, call)

    def operator(self, action: str, *, by: str = "eval-operator", note: str | None = None,
                 prices: dict[str, str] | None = None) -> TurnRecord:
        pending = None
        if self.task_id:
            r = self.http.get("/v1/approvals", params={"status": "pending"}, headers=self._operator_headers())
            r.raise_for_status()
            pending = next((a for a in r.json()["data"] if a["negotiation_id"] == self.task_id), None)
        sent: dict[str, Any] = {"action": action, "prices": prices}
        if pending is None:
            rec = TurnRecord(index=len(self.transcript.turns), role="operator", sent=sent, reply=None, now=_now(),
                             note=NO_PENDING)
            self.transcript.turns.append(rec)
            return rec
        sent.update(approval_id=pending["approval_id"], level=pending.get("level"))
        if action in ("approve", "edit"):
            from evals.session import Session

            self.granted = Session._higher(self.granted, pending.get("level"))
        self.transcript.approvals.append({"id": pending["approval_id"], "level": pending.get("level"),
                                          "decision": action})
        body: dict[str, Any] = {"note": note}
        if action == "edit":
            body["prices"] = prices or {}

        def call() -> tuple[dict[str, Any] | None, str] | None:
            r = self.http.post(f"/v1/approvals/{pending['approval_id']}/{action}", json=body,
                               headers=self._operator_headers())
            r.raise_for_status()
            reply = r.json().get("reply")
            if reply is None:
                return None
            return _ints(reply.get("data")), reply.get("text") or ""

        return self._turn("operator", sent, call)

    def _turn(self, role: str, sent: dict[str, Any], call) -> TurnRecord:
        rec = TurnRecord(index=len(self.transcript.turns), role=role, sent=sent, reply=None, now=_now(),
                         granted=self.granted)
        started = time.perf_counter()
        got = None
        try:
            got = call()
        except Exception as exc:  # the server failed or went away: a finding for this case
            rec.exception = f"{type(exc).__name__}: {exc}"[:2000]
        rec.latency_ms = round((time.perf_counter() - started) * 1000, 3)
        if got is not None:
            data, text = got
            rec.reply = {"type": (data or {}).get("type"), "data": data, "text": text}
            import datetime as dt

            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            accepted = self.sent.get(((data or {}).get("proposal_id"), (data or {}).get("version"))) \
                if (data or {}).get("type") == "deal" else None
            violations, leaks, surfaces = self.checker.check(data, text, now=now, granted=self.granted,
                                                             accepted=accepted)
            rec.violations = [v.as_dict() for v in violations]
            rec.leaks = [v.as_dict() for v in leaks]
            rec.lines = {s.sku: {"list": str(s.list_price), "floor": str(s.floor_price),
                                 "walk_away": str(s.walk_away_price), "cost": str(s.cost),
                                 "auto_limit": str(s.auto_limit_price), "quantity": str(s.quantity)}
                         for s in surfaces}
            if (data or {}).get("type") == "proposal" and data.get("pending") and role == "buyer":
                rec.escalation = self._pending_level() or "operator"
            if (data or {}).get("type") == "proposal":
                self.current = data
                self.sent[(data.get("proposal_id"), data.get("version"))] = data
        self.transcript.turns.append(rec)
        return rec

    def _pending_level(self) -> str | None:
        if not self.target.operator_key or not self.task_id:
            return None
        try:
            r = self.http.get("/v1/approvals", params={"status": "pending"}, headers=self._operator_headers())
            return next((a.get("level") for a in r.json()["data"] if a["negotiation_id"] == self.task_id), None)
        except (httpx.HTTPError, ValueError, KeyError):
            return None

    def cancel_open(self) -> None:
        """Leave the server as found as far as possible: cancel a task still open (its holds are released)."""
        if self.task_id and self.state not in TERMINAL:
            try:
                r = self.http.post("/", json={"jsonrpc": "2.0", "id": 1, "method": "CancelTask",
                                              "params": {"id": self.task_id}}, headers=self._buyer_headers())
                self.cancel_answer = r.json()
            except (httpx.HTTPError, ValueError):
                pass

    def finish(self) -> Transcript:
        if self.task_id:
            r = self.http.get(f"/v1/negotiations/{self.task_id}", headers={"Authorization": f"Bearer {self.key}"})
            if r.status_code == 200:
                self.transcript.final_status = r.json().get("status")
        return self.transcript


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat()


def _reply_of(message: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    data, texts = None, []
    for part in message.get("parts") or []:
        if "data" in part and data is None:
            data = _ints(part["data"])
        elif "text" in part:
            texts.append(part["text"])
    return data, " ".join(texts)


def run_remote_case(case: Case, target: Target, *, trial: int = 0) -> dict[str, Any]:
    from evals.runner import play, result_of, skipped

    reason = skip_reason(case, target)
    if reason:
        return skipped(case, trial, reason)
    started = time.perf_counter()
    catalog, policy = load_fixture(case.fixture)
    b = case.fixture.buyer
    checker = Checker(catalog, policy, region=b.region, segment=b.segment, currency=b.currency)
    session = RemoteSession(target, case, checker)
    try:
        try:
            play(case, session)  # a ClockTurn never reaches here: skip_reason refuses cases that need a clock
        except BaseException:  # a harness error (e.g. no pending approval to decide): still release the holds
            session.cancel_open()
            raise
        transcript = session.finish()
        session.cancel_open()
    finally:
        session.close()
    return result_of(case, transcript, trial, time.perf_counter() - started)

