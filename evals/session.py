"""One negotiation driven against an in-process `Seller`, recorded turn by turn.

Both the case runner (fixed buyer turns) and the simulator (reactive buyer bots)
drive a `Session`: it sends buyer messages and operator decisions, times each
turn, reads the decision records (guardrail blocks, revisions, fallbacks,
escalations, model calls, tokens) and runs the independent policy check on
every outgoing message. The result is a `Transcript`, which scorers and
metrics read; it is plain JSON-able data.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.service import Buyer, Reply, Seller, make_checkpointer
from agent.store import Store
from evals.clock import EvalClock, patched
from evals.policy_check import Checker
from tools.catalog.models import Catalog
from tools.errors import DealdeskError
from tools.policy.models import Policy

NO_PENDING = "no pending approval"  # the note of an operator turn that found nothing to decide


@dataclass
class TurnRecord:
    index: int
    role: str                       # buyer | operator | clock
    sent: dict[str, Any]            # {"data": ...} / {"text": ...} / {"action": ...} / {"advance": ...}
    reply: dict[str, Any] | None    # {"type", "data", "text"} or None (no reply)
    now: str
    latency_ms: float = 0.0
    model_calls: int = 0
    tokens: int = 0
    guardrail_checks: int = 0
    guardrail_blocks: int = 0
    revisions: int = 0
    fallback: bool = False
    escalation: str | None = None   # the approval level requested this turn
    granted: str | None = None      # the level granted when the reply was sent
    violations: list[dict[str, Any]] = field(default_factory=list)
    leaks: list[dict[str, Any]] = field(default_factory=list)
    lines: dict[str, dict[str, str]] = field(default_factory=dict)  # sku -> list/floor/walk_away/cost
    asked: dict[str, str] = field(default_factory=dict)  # the buyer's price per SKU as the seller understood it
    exception: str | None = None
    refused: str | None = None      # an operator action the seller refused with a typed error ("code (field): ...")
    diverged: bool = False
    divergence: list[dict[str, Any]] = field(default_factory=list)  # {"turn", "field", "recorded", "live"}
    note: str | None = None


@dataclass
class Transcript:
    negotiation_id: str
    turns: list[TurnRecord] = field(default_factory=list)
    final_status: str | None = None
    approvals: list[dict[str, Any]] = field(default_factory=list)
    diverged_at: int | None = None
    stopped: bool = False

    def replies(self) -> list[dict[str, Any]]:
        return [t.reply for t in self.turns if t.reply is not None]

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def normalise(data: dict[str, Any] | None) -> dict[str, Any]:
    """A reply's comparable part: type, status, error code, lines (sku, quantity, unit price), pending."""
    data = data or {}
    out: dict[str, Any] = {"type": data.get("type")}
    if data.get("type") == "proposal":
        out["status"] = data.get("status")
        out["pending"] = bool(data.get("pending"))
    if data.get("type") in ("proposal", "deal"):
        out["items"] = [{"sku": i["sku"], "quantity": str(i["quantity"]), "unit_price": str(i["unit_price"])}
                        for i in data.get("items") or []]
    if data.get("type") == "error":
        out["code"] = data.get("code")
    return out


def scratch_dir() -> Path:
    """A per-process scratch directory for throwaway databases (tmpfs when there is one)."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="dd-eval-", dir=base))


class ThrowawayDb:
    """A SQLite file in a scratch directory: removed with its WAL, lock and lock directory on close."""

    def __init__(self, directory: Path, name: str):
        self.path = directory / f"{name}.db"
        self.url = f"sqlite:///{self.path}"

    def remove(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)
        shutil.rmtree(str(self.path) + ".locks", ignore_errors=True)


def make_model(name: str) -> Any:
    """None means the seller's default (the deterministic offline model)."""
    if name in ("offline", "", None):
        return None
    if name == "openai":
        from agent.models.factory import make_model as configured_model
        from agent.models.offline import OfflineModel

        if not os.environ.get("DEALDESK_MODEL"):  # --model openai with the default OpenAI model
            os.environ["DEALDESK_MODEL"] = "openai:gpt-4o-mini"
        model = configured_model()  # the resilient model: retries, budget, offline fallback (recorded)
        if isinstance(model, OfflineModel):
            raise RuntimeError("--model openai needs OPENAI_API_KEY (and OPENAI_BASE_URL for another server)")
        return model
    raise ValueError(f"unknown model {name!r} (offline | openai)")


def open_seller(catalog: Catalog, policy: Policy, url: str, *, model: Any = None, config: Any = None,
                durable_checkpoints: bool = False) -> Seller:
    """A seller on `url` with in-memory checkpoints (evals need no durability) unless asked otherwise."""
    store = Store(url)
    cp = make_checkpointer(url) if durable_checkpoints else make_checkpointer(None)
    return Seller(catalog, policy, store, model=model, checkpointer=cp, config=config)


class Session:
    """Drives one negotiation and records it."""

    def __init__(self, seller: Seller, catalog: Catalog, policy: Policy, buyer: Buyer, negotiation_id: str,
                 clock: EvalClock | None = None):
        self.seller = seller
        self.buyer = buyer
        self.clock = clock
        self.checker = Checker(catalog, policy, region=buyer.region, segment=buyer.segment, currency=buyer.currency)
        with patched(clock):
            self.nid = seller.start(buyer, negotiation_id)
        self.transcript = Transcript(negotiation_id=self.nid)
        self.granted: str | None = None
        self.current: dict[str, Any] | None = None  # the latest proposal sent
        self.sent: dict[tuple[Any, Any], dict[str, Any]] = {}
        self.last_reply: dict[str, Any] | None = None
        self._asked: list[tuple[str, int]] = []

    def restart(self) -> TurnRecord:
        """A new negotiation for the same buyer (the store, and so the organisation's memory, carry over)."""
        with patched(self.clock):
            self.nid = self.seller.start(self.buyer, f"{self.transcript.negotiation_id}-r{len(self.transcript.turns)}")
        self.current = None
        self.granted = None
        rec = TurnRecord(index=len(self.transcript.turns), role="restart", sent={"negotiation_id": self.nid},
                         reply=None, now=self.now().isoformat())
        self.transcript.turns.append(rec)
        return rec

    # --- time ------------------------------------------------------------------------

    def now(self) -> dt.datetime:
        return self.clock.now() if self.clock else dt.datetime.now(dt.UTC).replace(tzinfo=None)

    def advance(self, delta: dt.timedelta) -> TurnRecord:
        if self.clock is None:
            raise RuntimeError("advance needs a session clock")
        self.clock.advance(delta)
        rec = TurnRecord(index=len(self.transcript.turns), role="clock",
                         sent={"advance_seconds": delta.total_seconds()}, reply=None, now=self.now().isoformat())
        self.transcript.turns.append(rec)
        return rec

    # --- turns -----------------------------------------------------------------------

    def send(self, data: Any = None, text: str | None = None) -> TurnRecord:
        sent = {"data": data} if data is not None else {"text": text or ""}
        if text is not None and data is not None:
            sent["text"] = text
        if isinstance(data, dict) and isinstance(data.get("items"), list):
            for i in data["items"]:
                if isinstance(i, dict) and isinstance(i.get("sku"), str):
                    try:
                        self._asked.append((i["sku"], int(str(i.get("quantity")))))
                    except ValueError:
                        pass
        return self._turn("buyer", sent, lambda: self.seller.send(self.nid, data=data, text=text))

    def operator(self, action: str, *, by: str = "eval-operator", note: str | None = None,
                 prices: dict[str, str] | None = None) -> TurnRecord:
        with patched(self.clock):
            pending = self.seller.store.pending_approval(self.nid)
        sent = {"action": action, "prices": prices}
        if pending is None:
            rec = TurnRecord(index=len(self.transcript.turns), role="operator", sent=sent, reply=None,
                             now=self.now().isoformat(), note=NO_PENDING)
            self.transcript.turns.append(rec)
            return rec
        sent["approval_id"] = pending.id
        sent["level"] = pending.level
        if action in ("approve", "edit"):
            self.granted = self._higher(self.granted, pending.level)
        self.transcript.approvals.append({"id": pending.id, "level": pending.level, "decision": action})
        return self._turn("operator", sent, lambda: self.seller.decide(pending.id, action, by=by, note=note,
                                                                        prices=prices))

    @staticmethod
    def _higher(a: str | None, b: str | None) -> str | None:
        order = ["auto", "manager", "director", "operator"]
        if a is None:
            return b
        if b is None:
            return a
        return a if (order.index(a) if a in order else 0) >= (order.index(b) if b in order else 0) else b

    def _turn(self, role: str, sent: dict[str, Any], call) -> TurnRecord:
        now = self.now()
        rec = TurnRecord(index=len(self.transcript.turns), role=role, sent=sent, reply=None, now=now.isoformat(),
                         granted=self.granted)
        started = time.perf_counter()
        reply: Reply | None = None
        try:
            with patched(self.clock):
                reply = call()
        except Exception as exc:  # the seller crashed: that is a finding, not a harness error
            rec.exception = f"{type(exc).__name__}: {exc}"[:2000]
            rec.note = traceback.format_exc(limit=6)[-4000:]
            if role == "operator" and isinstance(exc, DealdeskError) and exc.code != "internal_error":
                # the operator's action was refused (as REST answers it with an error): the case's operator turn
                # cannot be played as written, which the runner reports as the case's harness error
                rec.refused = f"{exc.code}{f' (field {exc.field})' if exc.field else ''}: {exc.message}"[:2000]
        rec.latency_ms = round((time.perf_counter() - started) * 1000, 3)
        if reply is not None:
            self._read(rec, reply, now)
        self.transcript.turns.append(rec)
        return rec

    def _read(self, rec: TurnRecord, reply: Reply, now: dt.datetime) -> None:
        data = reply.data
        rec.reply = {"type": reply.type, "data": data, "text": reply.text}
        rec.model_calls = reply.model_calls
        for r in reply.records:
            if r.get("node") == "guardrail":
                if r.get("gen_ai.operation.name") == "guardrail":
                    rec.guardrail_checks += 1
                    if r.get("gen_ai.guardrail.tripwire"):
                        rec.guardrail_blocks += 1
                if r.get("dealdesk.fallback"):
                    rec.fallback = True
            if r.get("node") == "approval" and r.get("dealdesk.approval.routing") == "operator":
                rec.escalation = r.get("dealdesk.approval.level") or "operator"
            if r.get("node") == "prepare" and r.get("gen_ai.operation.name") == "plan":
                for ln in (r.get("dealdesk.figures") or {}).get("lines") or []:
                    if ln.get("asked") is not None:
                        rec.asked[ln["sku"]] = str(ln["asked"])
            if r.get("node") == "agent":
                rec.tokens += int(r.get("gen_ai.usage.input_tokens") or 0) + int(r.get("gen_ai.usage.output_tokens") or 0)
        rec.revisions = max(rec.guardrail_checks - 1, 0)  # each revision is checked again
        accepted = None
        if reply.type == "deal" and data is not None:
            accepted = self.sent.get((data.get("proposal_id"), data.get("version")))
        violations, leaks, surfaces = self.checker.check(data, reply.text, now=now, granted=self.granted,
                                                         accepted=accepted, asked=self._asked[-20:])
        rec.violations = [v.as_dict() for v in violations]
        rec.leaks = [v.as_dict() for v in leaks]
        # The figures of the lines this reply offers or deals, each at its own quantity. The surfaces of what the
        # buyer asked for (checked for leaks) are not lines: a refused rfq at another quantity must not replace the
        # list price the final offer's discount and advantage are measured from.
        body = data or {}
        offered = {(str(i.get("sku")), str(i.get("quantity")))
                   for i in [*(body.get("items") or []), *((body.get("pending") or {}).get("items") or [])]
                   if isinstance(i, dict)}
        rec.lines = {s.sku: {"list": str(s.list_price), "floor": str(s.floor_price),
                             "walk_away": str(s.walk_away_price), "cost": str(s.cost),
                             "auto_limit": str(s.auto_limit_price), "quantity": str(s.quantity)} for s in surfaces
                     if (s.sku, str(s.quantity)) in offered}
        if reply.type == "proposal" and data is not None:
            self.current = data
            self.sent[(data.get("proposal_id"), data.get("version"))] = data
        self.last_reply = rec.reply

    def finish(self) -> Transcript:
        neg = self.seller.store.get_negotiation(self.nid)
        self.transcript.final_status = neg.status if neg else None
        return self.transcript


def substitute(value: Any, current: dict[str, Any] | None) -> Any:
    """Replace $proposal_id / $version / $price[:SKU] with the current proposal's figures."""
    if current is None:
        return value
    items = current.get("items") or []

    def price(sku: str | None) -> str | None:
        for i in items:
            if sku is None or i["sku"] == sku:
                return str(i["unit_price"])
        return None

    if isinstance(value, dict):
        return {k: substitute(v, current) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, current) for v in value]
    if isinstance(value, str):
        if value == "$proposal_id":
            return current.get("proposal_id")
        if value == "$version":
            return current.get("version")
        if value.startswith("$price"):
            sku = value.split(":", 1)[1] if ":" in value else None
            p = price(sku)
            if p is not None and (value == "$price" or value.startswith("$price:")):
                return p
        if "$" in value:
            out = value.replace("$proposal_id", str(current.get("proposal_id")))
            out = out.replace("$version", str(current.get("version")))
            for i in items:
                out = out.replace(f"$price:{i['sku']}", str(i["unit_price"]))
            first = price(None)
            if first is not None:
                out = out.replace("$price", first)
            return out
    return value
