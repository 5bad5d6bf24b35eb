"""Operator commands: review deals, read the decision log, export decisions, verify the audit trail.

- `dealdesk deals list [--buyer ORG] [--outcome deal|no_deal|open] [--since WHEN] [--blocked] [--json]`
- `dealdesk deals show ID [--json] [--records]`: a timeline of each turn
- `dealdesk approvals show ID [--json]`: the request, why (with its figures), the version it was filed with,
  the decision (or `expired`: still pending past its offers' validity, which deciding refuses), and what the
  decision sent the buyer (list/approve/reject/edit are in agent/cli_agent.py; `approvals list` is newest first,
  as REST and the console, through `agent.review.approvals`)
- `dealdesk log tail [-n N] [--follow] [--conversation ID] [--node NODE] [--level LEVEL] [--json]`
- `dealdesk decisions export [--since WHEN] [--conversation ID] > decisions.jsonl`
- `dealdesk audit verify [--head POSITION:ROOT] [--json]`: exit 1 on the first tampered entry of a chain
- `dealdesk audit head [--json]`: the current root, to publish elsewhere
- `dealdesk audit prune --before DATE | --older-than 90d [--dry-run]` (retention; default
  DEALDESK_RETENTION_DAYS days)

WHEN is a date (2025-01-31), an ISO time, or a span back from now (90m, 24h, 7d).
Everything reads the store at --db / DEALDESK_DB, and the log at DEALDESK_LOG.

Output: instants in UTC with Z, to the second, as REST says them ("2026-11-27T20:43:59Z"), in JSON and in the
text; money as decimal strings; percentages to two decimals. An error is one line on stderr,
`error CODE (field FIELD): MESSAGE`, exit 2 (`fail`), as `approvals approve|reject|edit` and `autonomy` say theirs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from agent.config import db_url, log_path

if TYPE_CHECKING:
    from agent.review import Timeline, Turn
    from agent.store import Store

DbOpt = Annotated[str | None, typer.Option("--db", help="Database URL (env DEALDESK_DB)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="From: 2025-01-31, an ISO time, or 90m / 24h / 7d ago")]
RETENTION_ENV = "DEALDESK_RETENTION_DAYS"

deals_app = typer.Typer(help="Review negotiations: outcome, offers, guardrail blocks, approvals.", no_args_is_help=True)
log_app = typer.Typer(help="Read the JSON decision log.", no_args_is_help=True)
decisions_app = typer.Typer(help="Export the decision records.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit trail of the decision records.", no_args_is_help=True)


def _echo(line: str = "") -> None:
    typer.echo(line)


def _json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


@contextmanager
def _store(db: str | None) -> Iterator[Store]:
    """The store for one command, disposed when it is done."""
    from agent.store import Store

    store = Store(db_url(db))
    try:
        yield store
    finally:
        store.dispose()


def _since(value: str | None):
    from agent.review import parse_since

    try:
        return parse_since(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None


def _t(value: Any) -> str:
    """An instant as the JSON says it ("2026-11-27T20:43:59Z"), or "-"."""
    from agent.review import utc_text

    return utc_text(value) if value is not None else "-"


def fail(code: str, message: str, field: str | None = None) -> NoReturn:
    """A refusal in the operator commands' one format: `error CODE (field FIELD): MESSAGE` on stderr, exit 2."""
    where = f" (field {field})" if field else ""
    typer.echo(f"error {code}{where}: {message}", err=True)
    raise typer.Exit(2)


# --- deals ---------------------------------------------------------------------------------------


@deals_app.command("list")
def deals_list(buyer: Annotated[str | None, typer.Option("--buyer", help="Buyer organisation")] = None,
               outcome: Annotated[str | None, typer.Option("--outcome", help="deal | no_deal | open")] = None,
               since: SinceOpt = None,
               blocked: Annotated[bool, typer.Option("--blocked", help="Only negotiations where the guardrail "
                                                                        "blocked a draft")] = False,
               limit: Annotated[int, typer.Option("--limit", help="At most this many")] = 100,
               as_json: JsonOpt = False, db: DbOpt = None) -> None:
    """Negotiations, most recently active first."""
    from agent import review

    if outcome is not None and outcome not in ("deal", "no_deal", "open"):
        raise typer.BadParameter("choose deal, no_deal or open", param_hint="--outcome")
    with _store(db) as store:
        rows = review.list_deals(store, buyer=buyer, outcome=outcome, since=_since(since),  # type: ignore[arg-type]
                                 blocked=True if blocked else None, limit=limit)
    if as_json:
        _json([r.model_dump(mode="json") for r in rows])
        return
    header = ["NEGOTIATION", "BUYER", "OUTCOME", "STATUS", "TURNS", "SKUS", "FIRST", "LAST", "DEAL", "APPROVALS",
              "BLOCKS", "ACTIVE"]
    table = [header]
    for r in rows:
        cur = f" {r.currency}" if r.currency else ""
        table.append([r.negotiation_id, r.buyer_org, r.outcome, r.status, str(r.turns), ",".join(r.skus) or "-",
                      f"{r.first_total}{cur}" if r.first_total is not None else "-",
                      f"{r.last_total}{cur}" if r.last_total is not None else "-",
                      f"{r.deal_id} {r.deal_total}{cur}" if r.deal_id else "-",
                      _approvals_text(r),
                      str(r.blocks), _t(r.updated_at)])
    _print_table(table)
    _echo(f"{len(rows)} negotiation(s)")


def _approvals_text(r: Any) -> str:
    """A negotiation's approval requests, and how many still wait for an operator or have expired waiting."""
    waiting = [f"{n} {word}" for n, word in ((r.pending_approvals, "pending"), (r.expired_approvals, "expired")) if n]
    return f"{r.approvals} ({', '.join(waiting)})" if waiting else str(r.approvals)


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        _echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


@deals_app.command("show")
def deals_show(negotiation_id: str, as_json: JsonOpt = False,
               records: Annotated[bool, typer.Option("--records", help="Also print each turn's decision "
                                                                         "records")] = False,
               db: DbOpt = None) -> None:
    """A negotiation's timeline: per turn the buyer's message, the offer (rule ids, figures), the
    guardrail verdict (what was blocked and why) and the approvals (who, when, the decision)."""
    from agent import review

    with _store(db) as store:
        tl = review.timeline(store, negotiation_id, with_records=records or as_json)
    if tl is None:
        fail("not_found", f"no negotiation {negotiation_id}", "negotiation_id")
    if as_json:
        _json(tl.model_dump(mode="json"))
        return
    for line in timeline_lines(tl, records=records):
        _echo(line)


def timeline_lines(tl: Timeline, *, records: bool = False) -> Iterator[str]:
    s = tl.summary
    yield (f"negotiation {s.negotiation_id}  buyer {s.buyer_org} ({s.region}, {s.segment})  "
           f"{s.outcome} ({s.status})  {s.turns} turn(s)")
    yield f"  started {_t(s.created_at)}, last active {_t(s.updated_at)}"
    if tl.deal:
        yield (f"  deal {tl.deal.get('deal_id')}: {tl.deal.get('total')} {tl.deal.get('currency')}, "
               f"payment {tl.deal.get('payment_terms')}, accepted {tl.deal.get('accepted_at')}")
    versions = None
    for turn in tl.turns:
        yield ""
        yield from turn_lines(turn, records=records)
        said = (turn.policy_version, turn.catalog_version)
        if any(said) and said != versions:  # the first turn's, then each change (a policy or catalog reload)
            yield f"  versions:    {versions_text(*said)}" + (" (changed)" if versions is not None else "")
            versions = said


def versions_text(policy: str | None, catalog: str | None) -> str:
    """The policy and catalog versions a turn was decided under, as `policy explain --json` names them."""
    return f"policy {policy or '-'}, catalog {catalog or '-'}"


def _pct(v: Any) -> str:
    """A percentage to two places (the requests carry full precision)."""
    from agent.review import percent_text

    return str(percent_text(v))


def reason_text(reason: dict[str, Any]) -> str:
    """A reason for an approval as operators read it: its message, then the recorded figures behind it
    (`agent.review.reason_figures`)."""
    message = str(reason.get("message") or reason.get("code") or "?")
    figures = reason.get("figures") or {}
    if figures.get("lines"):
        return f"{message}: " + "; ".join(
            f"{ln.get('sku')} x{ln.get('quantity')} at {ln.get('unit_price')} is {_pct(ln.get('discount_percent'))}% "
            f"off list {ln.get('list_price')}" + (f" (line level {ln['approval_level']})" if ln.get("approval_level")
                                                  else "")
            + (f", the bot alone: up to {_pct(ln['auto_max_discount_percent'])}% off, to "
               f"{ln.get('auto_min_unit_price')}" if ln.get("auto_max_discount_percent") is not None else "")
            for ln in figures["lines"])
    if figures.get("deal_value") is not None:
        cur = figures.get("currency") or ""
        limit = (f", above the {figures['autonomy_max_deal_value']} {cur} the bot may close alone"
                 if figures.get("autonomy_max_deal_value") else
                 "; the limit itself is not recorded with this request (see the rule)")
        return f"{message}: deal value {figures['deal_value']} {cur}".rstrip() + ", the requested lines' total" + limit
    return message


def requested_text(m: dict[str, Any]) -> str:
    """One requested line, short: SKU xQTY @ PRICE (PCT% off)."""
    return f"{m.get('sku')} x{m.get('quantity')} @ {m.get('unit_price')} ({_pct(m.get('discount_percent'))}% off)"


def turn_lines(turn: Turn, *, records: bool = False) -> Iterator[str]:
    who = turn.actor
    what = ""
    if turn.buyer is not None:
        what = f"{turn.buyer.intent or '?'}" + (f" ({turn.buyer.source})" if turn.buyer.source else "")
    elif turn.operator is not None:
        what = f"{turn.operator.decision or '?'} {turn.operator.approval_id or ''}".rstrip()
    yield f"turn {turn.turn}  {_t(turn.at)}  {who}: {what}".rstrip()
    if turn.buyer is not None:
        b = turn.buyer
        if b.text:
            yield f"  buyer said:  {b.text!r}"
        for note in b.notes:
            yield f"  read as:     {note}"
        for ln in b.lines:
            asked = f" at {ln.unit_price}" if ln.unit_price is not None else ""
            yield f"  buyer:       {ln.kind} {ln.sku} x{ln.quantity}{asked}"
        if b.data and not b.lines:
            yield f"  buyer data:  {json.dumps(b.data, default=str)[:200]}"
        if not b.lines and not b.text and not b.data:
            yield f"  buyer:       message {b.digest or '?'} (only its digest is kept)"
    if turn.operator is not None:
        o = turn.operator
        yield f"  operator:    {o.by or '?'} {o.decision} approval {o.approval_id} (level {o.level})"
    if turn.offer is not None:
        o = turn.offer
        state = o.status if o.sent_as in (None, o.status) else f"{o.sent_as}, now {o.status}"
        yield (f"  offer:       {o.proposal_id} v{o.version} [{state}] total {o.total} {o.currency}, "
               f"{o.payment_terms}, valid until {_t(o.valid_until)}")
        for ln in o.lines:
            bits = [f"{ln.sku} x{ln.quantity} at {ln.unit_price}"]
            if ln.list_price is not None:
                bits.append(f"list {ln.list_price}")
            if ln.discount_percent is not None:
                bits.append(f"{_pct(ln.discount_percent)}% off")
            figs = [f"{k} {v}" for k, v in (("target", ln.target), ("floor", ln.floor), ("walk-away", ln.walk_away),
                                             ("aspiration", ln.aspiration), ("buyer asked", ln.asked),
                                             ("round", ln.round)) if v is not None]
            yield "               " + ", ".join(bits) + (f"; {', '.join(figs)}" if figs else "")
        if o.rule_ids:
            yield f"  rules:       {', '.join(o.rule_ids)}"
        if o.moves:
            yield f"  moves:       {', '.join(o.moves)}"
        if o.pending:
            items = ", ".join(f"{i.get('sku')} at {i.get('unit_price')}" for i in o.pending.get("items") or [])
            yield f"  pending:     {items} awaits approval since {o.pending.get('since')}"
    g = turn.guardrail
    if g.tripwire:
        yield (f"  guardrail:   BLOCKED {len(g.drafts)} draft(s)"
               + (", sent the safe fallback reply" if g.fallback else ", revised"))
        for v in g.blocked:
            yield f"               {v.rule_id} ({v.code}): {v.message}"
        for d in g.drafts:
            yield f"               blocked text: {d[:300]!r}"
    elif g.checked:
        yield "  guardrail:   passed" + (" (fallback reply)" if g.fallback else "")
    if turn.answered:
        figures = f": {json.dumps(turn.answer_figures, default=str)[:300]}" if turn.answer_figures else ""
        yield f"  answered:    {turn.answered}{figures}"
    if turn.routing:
        yield f"  routing:     {turn.routing}"
    for a in turn.approvals_requested:
        req = ", ".join(f"{m.get('sku')} x{m.get('quantity')} at {m.get('unit_price')}" for m in a.requested)
        why = "; ".join(f"{r.get('rule_id')}: {reason_text(r)}" for r in a.reasons)
        yield f"  approval:    {a.id} requested {_t(a.requested_at)} level {a.level}: {req} ({why})"
        yield f"               {_decision(a)}"
    for a in turn.approvals_decided:
        yield f"  decided:     {a.id} {_decision(a)}"
    if turn.close:
        yield f"  closed:      {turn.close}"
    if turn.error:
        yield f"  error:       {turn.error}"
    if turn.outgoing or turn.deal_id:
        yield f"  reply:       {turn.outgoing or '-'}" + (f" (deal {turn.deal_id})" if turn.deal_id else "")
    if records:
        for rec in turn.records:
            yield f"    record {rec.get('node')}/{rec.get('gen_ai.operation.name')}: {json.dumps(rec, default=str)}"


def _decision(a: Any) -> str:
    if a.status == "pending":
        return "pending: awaiting an operator" + (f" until {_t(a.expires_at)}" if a.expires_at else "")
    if a.status == "expired":  # still pending in the store; `Seller.decide` refuses and cancels it
        return (f"expired at {_t(a.expires_at)} (the validity of its offers): deciding it is refused "
                "(approval_expired) and cancels it; nothing is sent, the buyer's next message gets a fresh offer")
    out = f"{a.status} by {a.decided_by or '?'} at {_t(a.decided_at)}"
    if a.note:
        out += f", note: {a.note!r}"
    if a.decision and a.decision.get("prices"):
        out += ", prices " + ", ".join(f"{k}={v}" for k, v in a.decision["prices"].items())
    return out


# --- approvals show (added to the `approvals` group of agent/cli_agent.py) --------------------------


def approvals_show(approval_id: str, as_json: JsonOpt = False, db: DbOpt = None) -> None:
    """One approval request: what was asked and why (with the figures), the version it was filed with, the decision
    (who, when), and what the decision sent the buyer."""
    from agent import review

    with _store(db) as store:
        detail = review.approval_detail(store, approval_id)
    if detail is None:
        fail("not_found", f"no approval {approval_id}", "approval_id")
    if as_json:
        _json(detail.model_dump(mode="json"))
        return
    for line in approval_lines(detail):
        _echo(line)


def _offer_text(o: Any) -> str:
    lines = ", ".join(f"{ln.sku} x{ln.quantity} at {ln.unit_price}" for ln in o.lines)
    return f"{lines}, total {o.total} {o.currency}"


def _version_label(o: Any, *, waiting: bool) -> tuple[str, str]:
    """(label, what it is) of the version a request was filed with: offered to the buyer, or held for the approval."""
    if o.sent_as == "pending_approval":
        return "held", "awaiting this approval, never offered" + ("" if o.status == "pending_approval"
                                                                   else f"; now {o.status}")
    if o.sent_as == "offered":
        now = "still standing" if o.status == "offered" else f"now {o.status}"
        return "offered", f"offered while the request {'waits' if waiting else 'waited'}, {now}"
    return "version", o.status


def approval_lines(detail: Any) -> Iterator[str]:
    a, n = detail.approval, detail.negotiation
    yield f"approval {a.id}  level {a.level}  {a.status}"
    if n is not None:
        yield (f"  negotiation {n.negotiation_id}  buyer {n.buyer_org} ({n.region}, {n.segment})  {n.outcome} "
               f"({n.status})")
    yield f"  requested   {_t(a.requested_at)} on proposal {a.proposal_id}"
    for m in a.requested:
        yield (f"    {m.get('sku')} x{m.get('quantity')} at {m.get('unit_price')} (list {m.get('list_price')}, "
               f"{_pct(m.get('discount_percent'))}% off, {m.get('payment_terms')})"
               + (f"; rules {', '.join(m.get('rule_ids') or [])}" if m.get("rule_ids") else ""))
    for r in a.reasons:
        yield f"  why         {r.get('rule_id')} ({r.get('code')}): {reason_text(r)}"
    if detail.policy_version or detail.catalog_version:
        yield f"  filed under {versions_text(detail.policy_version, detail.catalog_version)}"
    o = detail.offer
    if o is not None:
        label, what = _version_label(o, waiting=a.status == "pending")
        yield f"  {label:<11} {o.proposal_id} v{o.version} ({what}): {_offer_text(o)}"
        for ln in o.lines:
            figs = ", ".join(f"{k} {v}" for k, v in (("list", ln.list_price), ("target", ln.target),
                                                    ("floor", ln.floor)) if v is not None)
            if figs:
                yield f"              {ln.sku}: {figs}"
    yield f"  decision    {_decision(a)}"
    yield from _sent_lines(detail)


def _sent_lines(detail: Any) -> Iterator[str]:
    """What the decision sent the buyer: the version its turn wrote, and each line sent at another price than
    the one decided (the buyer keeps the lower of the decided price and the standing offer's)."""
    a, r = detail.approval, detail.result
    if a.status not in ("approved", "edited", "rejected"):
        return
    if r is None:
        if detail.result_turn is None:
            yield "  sent        nothing recorded: no turn of the negotiation carries the decision"
        elif detail.result_reply == "error":
            yield "  sent        no new offer; the reply was an error (see `dealdesk deals show`)"
        else:
            yield f"  sent        no new offer; the reply: {detail.result_reply or 'none (nothing was sent)'}"
        return
    state = r.status if r.sent_as in (None, r.status) else f"{r.sent_as}, now {r.status}"
    again = " (the standing offer, again)" if a.status == "rejected" else ""
    yield f"  sent        {r.proposal_id} v{r.version} [{state}]: {_offer_text(r)}{again}"
    word = "edited" if a.status == "edited" else "approved"
    for ln in detail.lines:
        if ln.decided is None or ln.sent == ln.decided:
            continue
        if ln.sent is None:
            yield f"              {ln.sku}: not on the version sent (the {word} price was {ln.decided})"
            continue
        why = ""
        if ln.standing is not None and ln.standing == ln.sent and ln.sent < ln.decided and detail.offer is not None:
            why = f": the offer standing (v{detail.offer.version}) already gave the line at {ln.standing}"
        yield f"              {ln.sku}: sent at {ln.sent}, not the {word} {ln.decided}{why}"


# --- the decision log ----------------------------------------------------------------------------

LEVELS = {"debug": 10, "info": 20, "warning": 30, "warn": 30, "error": 40, "critical": 50}


def _log_filter(conversation: str | None, node: str | None, level: str | None):
    floor = LEVELS.get((level or "").lower(), 0)

    def keep(entry: dict[str, Any] | None) -> bool:
        if entry is None:  # not JSON: shown only when nothing filters
            return not (conversation or node or level)
        if conversation and not str(entry.get("gen_ai.conversation.id") or "").startswith(conversation):
            return False
        if node and entry.get("node", entry.get("dealdesk.node")) != node:
            return False
        return LEVELS.get(str(entry.get("level", "info")).lower(), 20) >= floor

    return keep


def _parse(line: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def _log_time(value: Any) -> str:
    """A log entry's timestamp as every operator command says an instant: UTC to the second, with Z
    ("2026-11-27T20:43:59Z"); a timestamp without a zone is UTC, as the log writes it; "-" when there is none."""
    if not value:
        return "-"
    from agent.review import parse_since

    try:
        return _t(parse_since(str(value)))
    except ValueError:  # not a time: shown as it is
        return str(value)


def log_line(entry: dict[str, Any] | None, raw: str) -> str:
    """One decision log entry, readable for a person."""
    if entry is None:
        return raw
    ts = _log_time(entry.get("timestamp"))
    parts = [ts, str(entry.get("level", "info")).upper().ljust(5), str(entry.get("gen_ai.conversation.id") or "-"),
             f"t{entry.get('turn', '-')}",
             f"{entry.get('node', entry.get('dealdesk.node', '?'))}/{entry.get('gen_ai.operation.name', entry.get('event', '?'))}"]
    bits = []
    for key, label in (("dealdesk.intent", "intent"), ("dealdesk.outgoing.type", "reply"),
                       ("dealdesk.approval.routing", "approval"), ("dealdesk.approval.level", "level"),
                       ("dealdesk.approval.outcome", "decision"), ("dealdesk.approval.by", "by"),
                       ("dealdesk.close", "close"), ("dealdesk.error", "error"), ("dealdesk.fallback", "fallback"),
                       ("dealdesk.model.fallback", "model fallback")):
        if entry.get(key) not in (None, False, [], ""):
            bits.append(f"{label}={entry[key]}")
    if entry.get("gen_ai.guardrail.tripwire"):
        bits.append("BLOCKED " + "; ".join(f"{v.get('rule_id')}: {v.get('message')}"
                                           for v in entry.get("gen_ai.guardrail.violations") or []))
    elif "gen_ai.guardrail.tripwire" in entry:
        bits.append("guardrail passed")
    if entry.get("dealdesk.rule_ids"):
        bits.append("rules " + ",".join(entry["dealdesk.rule_ids"]))
    figures = entry.get("dealdesk.figures") or {}
    for ln in figures.get("lines") or []:
        bits.append(f"{ln.get('sku')} x{ln.get('quantity')} asked {ln.get('asked')} list {ln.get('list')} "
                    f"target {ln.get('target')} floor {ln.get('floor')} round {ln.get('round')}")
    for m in figures.get("requested") or []:
        bits.append(f"requested {m.get('sku')} at {m.get('unit_price')}")
    if "total" in figures:
        bits.append(f"total {figures['total']} {figures.get('currency', '')}".rstrip())
    if entry.get("dealdesk.latency_ms") is not None:
        bits.append(f"{entry['dealdesk.latency_ms']}ms")
    return "  ".join(parts) + ("  " + " | ".join(bits) if bits else "")


def _follow(fh, keep, show, stop_after: float | None, path: Path, poll: float = 0.25) -> None:
    """Print lines appended to the log; reopen it when rotated or truncated."""
    started = time.monotonic()
    inode = os.fstat(fh.fileno()).st_ino
    buffer = ""
    while stop_after is None or time.monotonic() - started < stop_after:
        chunk = fh.readline()
        if chunk:
            buffer += chunk
            if buffer.endswith("\n"):
                line, buffer = buffer.rstrip("\n"), ""
                entry = _parse(line)
                if keep(entry):
                    show(entry, line)
            continue
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        if st is not None and (st.st_ino != inode or st.st_size < fh.tell()):
            fh.close()
            fh = path.open("r", encoding="utf-8", errors="replace")
            inode = os.fstat(fh.fileno()).st_ino
            continue
        time.sleep(poll)
    fh.close()


@log_app.command("tail")
def log_tail(lines: Annotated[int, typer.Option("--lines", "-n", help="How many of the last entries")] = 20,
             follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new entries")] = False,
             conversation: Annotated[str | None, typer.Option("--conversation", help="Negotiation id (or a "
                                                                                         "prefix)")] = None,
             node: Annotated[str | None, typer.Option("--node", help="begin | understand | prepare | agent | "
                                                                         "guardrail | approval | commit")] = None,
             level: Annotated[str | None, typer.Option("--level", help="Lowest level: debug | info | warning | "
                                                                           "error")] = None,
             as_json: Annotated[bool, typer.Option("--json", help="Pass the raw JSON lines through")] = False,
             file: Annotated[Path | None, typer.Option("--file", help="Log file (env DEALDESK_LOG)")] = None,
             follow_for: Annotated[float | None, typer.Option("--follow-for", hidden=True,
                                                                 help="Stop following after seconds")] = None) -> None:
    """The last entries of the JSON decision log, readable (or raw with --json), optionally following it."""
    if level and level.lower() not in LEVELS:
        raise typer.BadParameter(f"choose one of {', '.join(LEVELS)}", param_hint="--level")
    path = log_path(file)
    keep = _log_filter(conversation, node, level)

    def show(entry: dict[str, Any] | None, raw: str) -> None:
        typer.echo(raw if as_json else log_line(entry, raw))

    if not path.exists():
        if not follow:
            typer.echo(f"no decision log at {path}", err=True)
            raise typer.Exit(1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    fh = path.open("r", encoding="utf-8", errors="replace")
    last: deque[tuple[dict[str, Any] | None, str]] = deque(maxlen=max(lines, 0))
    for raw in fh:
        raw = raw.rstrip("\n")
        if not raw:
            continue
        entry = _parse(raw)
        if keep(entry):
            last.append((entry, raw))
    for entry, raw in last:
        show(entry, raw)
    if follow:
        try:
            _follow(fh, keep, show, follow_for if follow_for is not None else None, path)
        except KeyboardInterrupt:
            pass
    else:
        fh.close()


# --- decisions export ------------------------------------------------------------------------------


@decisions_app.command("export")
def decisions_export(since: SinceOpt = None,
                     conversation: Annotated[str | None, typer.Option("--conversation", help="One "
                                                                                                 "negotiation")] = None,
                     out: Annotated[Path | None, typer.Option("--out", help="File (default: stdout)")] = None,
                     db: DbOpt = None) -> None:
    """Every decision record as JSON lines, in write order: the record plus `dealdesk.record.id` and `dealdesk.ts`."""
    from agent import review

    fh = out.open("w", encoding="utf-8") if out else sys.stdout
    n = 0
    try:
        with _store(db) as store:
            for row in review.decision_rows(store, since=_since(since), negotiation_id=conversation):
                rec = dict(row["record"] or {})
                rec["dealdesk.record.id"] = row["id"]
                # the row's time, as the CLI says instants (UTC, Z); not part of the record, nor of its hash
                rec["dealdesk.ts"] = _t(row["ts"]) if row["ts"] is not None else None
                fh.write(json.dumps(rec, sort_keys=True, ensure_ascii=False, default=str) + "\n")
                n += 1
    finally:
        if out:
            fh.close()
    if out:
        typer.echo(f"wrote {n} decision record(s) to {out}", err=True)


# --- the audit trail -------------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify(head: Annotated[str | None, typer.Option("--head", help="A head printed earlier by `audit "
                                                                             "head` (POSITION:ROOT): prove the "
                                                                             "chains extend it")] = None,
                 conversation: Annotated[str | None, typer.Option("--conversation", help="Only this "
                                                                                           "negotiation's chain")] = None,
                 as_json: JsonOpt = False, db: DbOpt = None) -> None:
    """Walk every chain against the decision records; report the first entry of a chain that was edited,
    deleted, inserted or reordered. Exit 1 when anything fails, 2 for a malformed --head."""
    from agent.store import audit

    if head is not None:
        try:
            audit.parse_head(head)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--head") from None
    with _store(db) as store:
        with store.engine.connect() as conn:
            report = audit.verify(conn, head=head, negotiation_id=conversation)
    if as_json:
        _json(report.as_json())
    else:
        _echo(f"{report.chains} chain(s), {report.entries} entries, {report.records} decision records"
              + (f", {report.pruned} pruned entries" if report.pruned else ""))
        for p in report.problems:
            _echo(f"TAMPERED {p}")
        if report.head_ok:
            _echo(f"head {head}: extended by the current chains")
        _echo(f"current head {report.head}")
        _echo("OK" if report.ok else f"FAILED: {len(report.problems)} problem(s)")
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("head")
def audit_head(as_json: JsonOpt = False, db: DbOpt = None,
               record: Annotated[bool, typer.Option("--record/--no-record", help="Remember the printed head, so "
                                                                                  "retention keeps it provable")] = True) -> None:
    """Print the current root (POSITION:ROOT), to publish or store elsewhere; `audit verify --head` proves it later."""
    from agent.store import audit
    from agent.store.db import transaction

    with _store(db) as store:
        if record:
            with transaction(store.engine) as conn:
                head = audit.publish(conn)
        else:
            with store.engine.connect() as conn:
                head = audit.root_at(conn)
    if as_json:
        _json({"head": str(head), "position": head.position, "root": head.root, "day": head.day,
               "days": [{"day": d, "root": r, "chains": n} for d, r, n in head.days]})
        return
    _echo(str(head))


@audit_app.command("prune")
def audit_prune(before: Annotated[str | None, typer.Option("--before", help="Prune negotiations that ended "
                                                                               "before this date")] = None,
                older_than: Annotated[str | None, typer.Option("--older-than", help="Or: ended more than this "
                                                                                       "long ago (e.g. 90d)")] = None,
                dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would go")] = False,
                as_json: JsonOpt = False, db: DbOpt = None) -> None:
    """Retention: delete the decision records, events and decided approvals of negotiations that ended
    before a date. Their chains keep the entries every daily root and published head needs."""
    from agent.review import parse_since
    from agent.store import audit
    from agent.store.db import transaction

    if before and older_than:
        raise typer.BadParameter("give --before or --older-than, not both", param_hint="--before")
    hint = "--before" if before else "--older-than"
    if not before and not older_than and os.environ.get(RETENTION_ENV):
        older_than = f"{os.environ[RETENTION_ENV].strip()}d"
        hint = RETENTION_ENV
    if not before and not older_than:
        raise typer.BadParameter(f"give --before DATE or --older-than SPAN (or set {RETENTION_ENV})",
                                 param_hint="--before")
    try:
        cut = parse_since(before or older_than)
    except ValueError as exc:  # named as given: the option (or the environment variable) it came from
        raise typer.BadParameter(str(exc), param_hint=hint) from None
    assert cut is not None
    with _store(db) as store:
        with transaction(store.engine) as conn:
            report = audit.prune(conn, cut, dry_run=dry_run)
    data = {"before": _t(cut), "dry_run": dry_run, "negotiations": len(report.negotiations),
            "decision_records": report.records, "events": report.events, "approvals": report.approvals,
            "entries_deleted": report.entries_deleted, "entries_kept": report.entries_kept}
    if as_json:
        _json({**data, "negotiation_ids": report.negotiations})
        return
    verb = "would prune" if dry_run else "pruned"
    _echo(f"{verb} {len(report.negotiations)} negotiation(s) that ended before {_t(cut)}: {report.records} decision "
          f"records, {report.events} events, {report.approvals} approvals; chain entries: {report.entries_deleted} "
          f"deleted, {report.entries_kept} kept as heads")


def register(app: typer.Typer) -> None:
    from agent.cli_agent import approvals_app

    app.add_typer(deals_app, name="deals")
    app.add_typer(log_app, name="log")
    app.add_typer(decisions_app, name="decisions")
    app.add_typer(audit_app, name="audit")
    approvals_app.command("show")(approvals_show)
