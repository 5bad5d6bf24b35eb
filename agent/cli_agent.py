"""CLI commands that run the seller agent: chat, negotiate, approvals and schemas."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent.buyers import STRATEGIES as BUYER_STRATEGIES
from agent.config import db_url, load_data, log_path
from tools.datafile import DataFileError
from tools.errors import DealdeskError

if TYPE_CHECKING:
    from agent.service import Reply, Seller

DbOpt = Annotated[Optional[str], typer.Option("--db", help="Database URL (env DEALDESK_DB)")]
# As `dealdesk price` and `policy explain` declare them (agent/cli.py), resolved by agent.config.load_data.
DataCatalogOpt = Annotated[Optional[Path], typer.Option("--catalog", help="Catalog file (env DEALDESK_CATALOG)")]
PolicyOpt = Annotated[Optional[Path], typer.Option("--policy", help="Policy file (env DEALDESK_POLICY)")]
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

approvals_app = typer.Typer(help="Review and decide the offers the bot may not make alone.", no_args_is_help=True)


def refuse(exc: DataFileError) -> NoReturn:
    """A refused catalog or policy file, as `dealdesk price` reports it: each issue on its line, exit 1."""
    err.print(f"[red]refused[/red] ({len(exc.issues)} issue{'s' if len(exc.issues) != 1 else ''}):", highlight=False)
    for issue in exc.issues:
        err.print(f"  {issue}", highlight=False, markup=False)
    raise typer.Exit(1)


def refuse_model_config(exc: Exception) -> NoReturn:
    """A model configuration that cannot be used (`ModelConfigError`: the setting, where it came from, the file's
    line and column): one line, exit 1, as a refused data file."""
    err.print(f"[red]refused[/red] model configuration: {escape(str(exc))}", highlight=False)
    raise typer.Exit(1)


def configured_model() -> Any:
    """The configured chat model (`make_model()`); a configuration that cannot be used is refused (exit 1)."""
    from agent.models.factory import make_model
    from agent.models.openai import ModelConfigError

    try:
        return make_model()
    except ModelConfigError as exc:
        refuse_model_config(exc)


def open_seller(db: str | None, catalog: Path | None = None, policy: Path | None = None) -> Seller:
    """The seller on the configured data and database (imported lazily: the graph is heavy to load).

    The catalog and policy are --catalog / --policy, else DEALDESK_CATALOG / DEALDESK_POLICY, else the demo
    files; a refused file is reported with each of its issues (exit 1), and a model configuration that cannot
    be used in one line (exit 1), before anything else is opened.
    """
    try:
        cat, pol = load_data(catalog, policy)
    except DataFileError as exc:
        refuse(exc)
    model = configured_model()
    from agent.records import configure_logging
    from agent.service import Seller

    log = log_path()
    log.parent.mkdir(parents=True, exist_ok=True)
    configure_logging(log.open("a", encoding="utf-8"))
    return Seller.open(cat, pol, db_url(db), model=model)


def show_reply(reply: Reply, *, explain: bool = False) -> None:
    data = reply.data or {}
    kind = data.get("type")
    # Everything printed here is data (buyer text, SKUs, rule ids such as policy.categories[motors].autonomous):
    # escaped, or printed with markup=False, so rich never reads a bracket of it as a style.
    out.print(f"[bold cyan]seller[/bold cyan] ({escape(str(kind or 'text'))}): {escape(reply.text)}", highlight=False)
    if kind == "proposal":
        table = Table("SKU", "Qty", "Unit price", "List", "Discount %", "Line total", "Lead time")
        for i in data["items"]:
            table.add_row(i["sku"], i["quantity"], i["unit_price"], i["list_price"],
                          f"{float(i['discount_percent']):.2f}", i["line_total"], f"{i['lead_time_days']} d")
        out.print(table, markup=False)
        if data.get("pending"):
            out.print(f"  pending approval since {data['pending']['since']}: "
                      + ", ".join(f"{p['sku']} at {p['unit_price']}" for p in data["pending"]["items"]),
                      markup=False)
    elif kind == "error":
        out.print(f"  [red]{escape(str(data['code']))}[/red] {escape(str(data.get('field') or ''))}: "
                  f"{escape(str(data['message']))}", highlight=False)
    if explain:
        for rec in reply.records:
            bits = [f"{rec['node']}/{rec['gen_ai.operation.name']}"]
            if rec.get("dealdesk.intent"):
                notes = rec.get("dealdesk.intent.notes")
                bits.append(f"read as {rec['dealdesk.intent']}" + (": " + "; ".join(notes) if notes else ""))
            if rec.get("dealdesk.rule_ids"):
                bits.append("rules " + ", ".join(rec["dealdesk.rule_ids"][:8]))
            if rec.get("dealdesk.figures"):
                bits.append(json.dumps(rec["dealdesk.figures"], default=str))
            if "gen_ai.guardrail.tripwire" in rec:
                bits.append(f"guardrail tripwire={rec['gen_ai.guardrail.tripwire']}")
                for v in rec.get("gen_ai.guardrail.violations") or []:
                    bits.append(f"blocked {v['rule_id']}: {v['message']}")
            if rec.get("dealdesk.approval.routing"):
                bits.append(f"approval {rec['dealdesk.approval.routing']} {rec.get('dealdesk.approval.level', '')}")
            out.print("    [dim]" + escape(" | ".join(bits)) + "[/dim]", highlight=False, markup=True)


def chat(db: DbOpt = None, org: Annotated[str, typer.Option("--org", help="Buyer organisation")] = "demo-buyer-eu",
         region: Annotated[str, typer.Option(help="Buyer region")] = "EU",
         segment: Annotated[str, typer.Option(help="Buyer segment")] = "standard",
         explain: Annotated[bool, typer.Option("--explain", help="Show each turn's decision trail")] = False,
         catalog: DataCatalogOpt = None, policy: PolicyOpt = None) -> None:
    """Play the buyer in the terminal against the bot (offline by default).

    Type plain text ("need 500 x BRG-6204, can you do 3.10 EUR?") or a JSON data part
    ({"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "500"}]}). Ctrl-D quits.
    """
    from agent.service import Buyer

    seller = open_seller(db, catalog, policy)
    nid = seller.start(Buyer(org=org, region=region, segment=segment))
    out.print(f"negotiation {nid} as {org} ({region}, {segment}); type your message, Ctrl-D to quit.",
              markup=False)
    try:
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            if line.startswith("{"):
                try:
                    reply = seller.send(nid, data=json.loads(line))
                except json.JSONDecodeError as exc:
                    out.print(f"[red]not JSON[/red]: {escape(str(exc))}")
                    continue
            else:
                reply = seller.send(nid, text=line)
            show_reply(reply, explain=explain)
    finally:
        seller.close()


def negotiate(buyer: Annotated[str, typer.Option("--buyer", help=" | ".join(BUYER_STRATEGIES))] = "boulware",
              sku: Annotated[str, typer.Option(help="SKU")] = "BRG-6204",
              qty: Annotated[int, typer.Option("--qty", help="Quantity")] = 500,
              region: Annotated[str, typer.Option(help="Buyer region")] = "EU",
              segment: Annotated[str, typer.Option(help="Buyer segment")] = "standard",
              operator: Annotated[str, typer.Option(help="What the operator does with escalations: approve | reject | none")] = "approve",
              explain: Annotated[bool, typer.Option("--explain")] = False, db: DbOpt = None,
              catalog: DataCatalogOpt = None, policy: PolicyOpt = None) -> None:
    """Run one simulated negotiation with a built-in buyer and print the transcript."""
    from agent.buyers import SimpleBuyer
    from agent.service import Buyer

    if buyer not in BUYER_STRATEGIES:
        raise typer.BadParameter(f"choose one of {', '.join(BUYER_STRATEGIES)}", param_hint="--buyer")
    seller = open_seller(db, catalog, policy)
    try:
        bot = SimpleBuyer(buyer, sku, qty)
        nid = seller.start(Buyer(org=f"sim-{buyer}", region=region, segment=segment))
        message: dict[str, Any] | None = bot.first()
        while message is not None:
            out.print(f"[bold magenta]buyer[/bold magenta]: {escape(json.dumps(message))}", highlight=False)
            reply = seller.send(nid, data=message)
            show_reply(reply, explain=explain)
            pending = seller.store.pending_approval(nid)
            if pending is not None and operator in ("approve", "reject"):
                out.print("[bold yellow]operator[/bold yellow]: "
                          + escape(f"{operator} {pending.id} (level {pending.level})"))
                decided = seller.decide(pending.id, operator, by="cli-operator", note="from dealdesk negotiate")
                if decided is not None:
                    reply = decided
                    show_reply(reply, explain=explain)
            if reply.type in ("deal", "closed", "error"):
                break
            message = bot.respond(reply.data)
        neg = seller.store.get_negotiation(nid)
        out.print(f"outcome: {neg.status if neg else '?'}", markup=False)
    finally:
        seller.close()


# expired: pending in the store past its offers' validity (deciding it is refused and cancels it)
APPROVAL_STATUSES = ("pending", "expired", "approved", "rejected", "edited", "canceled")


@approvals_app.command("list")
def approvals_list(status: Annotated[str, typer.Option(help=" | ".join((*APPROVAL_STATUSES, "all")))] = "pending",
                   as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON")] = False,
                   db: DbOpt = None, catalog: DataCatalogOpt = None, policy: PolicyOpt = None) -> None:
    """List approval requests: one line each, ids in full (as `deals list`), or JSON with --json (as
    `approvals show --json` gives one: money as decimal strings, instants UTC with Z)."""
    from agent import review
    from agent.cli_ops import _json, _print_table, _t, reason_text, requested_text

    if status not in (*APPROVAL_STATUSES, "all"):
        raise typer.BadParameter(f"unknown status {status!r}; choose one of {', '.join((*APPROVAL_STATUSES, 'all'))}",
                                 param_hint="--status")
    seller = open_seller(db, catalog, policy)
    try:  # expiry by the catalog and policy given (as deciding reads them), not only the configured files
        validity = review.validity_days(seller.catalog, seller.policy)
        stored = None if status == "all" else "pending" if status == "expired" else status
        # pending: every request not decided yet, an expired one saying so; expired: only those
        rows = [a for a in review.approvals(seller.store, status=stored, validity=validity)
                if status != "expired" or a.status == "expired"]
    finally:
        seller.close()
    if as_json:
        _json([a.model_dump(mode="json") for a in rows])
        return
    table = [["APPROVAL", "NEGOTIATION", "BUYER", "LEVEL", "STATUS", "REQUESTED", "SINCE", "WHY"]]
    for a in rows:  # plain text, never cut: a long line wraps in the terminal, ids stay whole
        table.append([a.id, a.negotiation_id or "-", a.buyer_org or "-", a.level, a.status,
                      ", ".join(requested_text(m) for m in a.requested) or "-", _t(a.requested_at),
                      "; ".join(reason_text(r) for r in a.reasons) or "-"])
    _print_table(table)
    typer.echo(f"{len(rows)} approval(s)")


def _decide(approval_id: str, decision: str, by: str, note: str | None, db: str | None,
            prices: dict[str, str] | None = None, catalog: Path | None = None, policy: Path | None = None) -> None:
    """An operator's decision runs a seller turn: priced and guarded on the catalog and policy given (as `serve`).

    Refused first, as REST refuses them: an approval that does not exist (`not_found`), one decided already
    (`approval_not_pending`), an edit naming a SKU the request has no line for (field `prices.<SKU>`)."""
    seller = open_seller(db, catalog, policy)
    try:
        found = seller.store.get_approval(approval_id)
        if found is None:
            raise DealdeskError(f"no approval {approval_id}", code="not_found", field="approval_id")
        if found.status != "pending":
            raise DealdeskError(f"approval {approval_id} is already {found.status}", code="approval_not_pending",
                                field="approval_id")
        unknown = sorted(set(prices or {}) - {m["sku"] for m in found.requested["moves"]})
        if unknown:
            raise DealdeskError(f"the approval has no line for {', '.join(unknown)}", code="malformed_message",
                                field=f"prices.{unknown[0]}")
        reply = seller.decide(approval_id, decision, by=by, note=note, prices=prices)
        out.print(f"{approval_id}: {decision} by {by}", markup=False)
        if reply is not None:
            show_reply(reply)
    except DealdeskError as exc:  # a typed domain error: say it plainly
        where = f" (field {exc.field})" if exc.field else ""
        err.print(f"error {exc.code}{where}: {exc.message}", highlight=False, markup=False)
        raise typer.Exit(2) from None
    except Exception as exc:  # not a domain error (the database, a bug): one line, not a traceback
        err.print(f"error internal_error: {type(exc).__name__}: {exc}", highlight=False, markup=False)
        raise typer.Exit(2) from None
    finally:
        seller.close()


ByOpt = Annotated[str, typer.Option("--by", help="Who decides")]
NoteOpt = Annotated[Optional[str], typer.Option("--note", help="Why")]


@approvals_app.command("approve")
def approvals_approve(approval_id: str, by: ByOpt = "operator", note: NoteOpt = None, db: DbOpt = None,
                      catalog: DataCatalogOpt = None, policy: PolicyOpt = None) -> None:
    """Approve a request: the better offer goes to the buyer."""
    _decide(approval_id, "approve", by, note, db, catalog=catalog, policy=policy)


@approvals_app.command("reject")
def approvals_reject(approval_id: str, by: ByOpt = "operator", note: NoteOpt = None, db: DbOpt = None,
                     catalog: DataCatalogOpt = None, policy: PolicyOpt = None) -> None:
    """Reject a request: the standing offer stays (where there is none, the buyer hears the offer was not
    approved)."""
    _decide(approval_id, "reject", by, note, db, catalog=catalog, policy=policy)


@approvals_app.command("edit")
def approvals_edit(approval_id: str, price: Annotated[list[str], typer.Option("--price", help="SKU=PRICE")],
                   by: ByOpt = "operator", note: NoteOpt = None, db: DbOpt = None, catalog: DataCatalogOpt = None,
                   policy: PolicyOpt = None) -> None:
    """Approve with edited unit prices, within the level's limit (e.g. --price BRG-6204=2.95, repeatable)."""
    _decide(approval_id, "edit", by, note, db, parse_prices(price), catalog=catalog, policy=policy)


def parse_prices(values: list[str]) -> dict[str, str]:
    """`--price SKU=PRICE` options -> {SKU: PRICE}; a malformed one is refused in one line naming the option and
    its SKU (`error malformed_message (field --price SKU): ...`, exit 2).

    Only the form is checked here, as the wire checks a decimal string (`agent.contract._DECIMAL_TEXT`): ASCII
    digits with at most one decimal point, no sign ("1e1", "1_0", "+10", "-10", "10.", ".5" are refused, as REST
    refuses them). Whether the price is in the currency's minor unit, within list and within the approval's level
    is the seller's to say.
    """
    from agent.contract import _DECIMAL_TEXT

    prices: dict[str, str] = {}
    for value in values:
        sku, sep, amount = value.partition("=")
        sku, amount = sku.strip(), amount.strip()
        field, problem = f"--price {sku}" if sku else "--price", None
        if not sep or not sku or not amount:
            problem = f"{value!r}: expected SKU=PRICE, e.g. BRG-6204=2.95"
        elif amount.startswith("-") or not _DECIMAL_TEXT.fullmatch(amount):
            problem = (f"{value!r}: {amount!r} is not a plain decimal number (digits 0-9 with at most one decimal "
                       "point, such as 2.95)")
        elif sku in prices:
            problem = f"{value!r}: {sku} is given more than once"
        if problem is not None:
            err.print(f"error malformed_message (field {field}): {problem}", highlight=False, markup=False)
            raise typer.Exit(2)
        prices[sku] = amount
    return prices


def schemas(out_dir: Annotated[Optional[Path], typer.Option("--out", help="Directory")] = None) -> None:
    """Write the wire contract's JSON Schemas (schemas/ by default)."""
    from agent.schemas import SCHEMA_DIR, write

    for path in write(out_dir or SCHEMA_DIR):
        out.print(f"wrote {path}", markup=False)


autonomy_app = typer.Typer(help="Pause or resume the bot's autonomy, for everything or one product line.",
                           no_args_is_help=True)
CategoryOpt = Annotated[Optional[str], typer.Option("--category", help="Only this catalog category")]
SkuOpt = Annotated[Optional[str], typer.Option("--sku", help="Only this SKU")]
CatalogOpt = Annotated[Optional[Path], typer.Option("--catalog", help="Catalog file the category or SKU must be in "
                                                                       "(env DEALDESK_CATALOG)")]


def _autonomy(db: str | None):
    from agent.store import Store
    from agent.store.autonomy import AutonomyStore

    store = Store(db_url(db))
    return store, AutonomyStore(store.engine)


def _catalog_names(catalog: Path | None) -> dict[str, Any]:
    """The catalog's categories and SKUs, which a switch's scope must name (a refused file: exit 1)."""
    from agent.config import catalog_path
    from tools.catalog import load_catalog

    try:
        cat = load_catalog(catalog_path(catalog))
    except DataFileError as exc:
        refuse(exc)
    return {"categories": frozenset(cat.categories), "skus": frozenset(cat.products)}


def _switch_error(exc: DealdeskError) -> NoReturn:
    where = f" (field {exc.field})" if exc.field else ""
    err.print(f"error {exc.code}{where}: {exc.message}", highlight=False, markup=False)
    raise typer.Exit(2) from None


# What `autonomy pause --mode` takes (the help's spelling, and the store's): pausing is approval-only or shadow.
PAUSE_MODES = {"approval-only": "approval_only", "approval_only": "approval_only", "shadow": "shadow"}


def pause_mode(mode: str, *, category: str | None = None, sku: str | None = None) -> str:
    """The stored mode for `--mode`; auto is refused, pointing to `autonomy resume` for the same scope."""
    given = mode.strip().lower()
    if given in PAUSE_MODES:
        return PAUSE_MODES[given]
    if given == "auto":
        scope = f" --category {category}" if category else f" --sku {sku}" if sku else ""
        _switch_error(DealdeskError(f"pausing with mode auto would pause nothing: to go back to auto, use "
                                    f"`dealdesk autonomy resume{scope}`", code="malformed_message", field="--mode"))
    _switch_error(DealdeskError(f"{mode!r} is not a mode to pause with: approval-only | shadow",
                                code="malformed_message", field="--mode"))


def _at(set_at: str) -> str:
    """A switch's time (naive UTC text, to the second) as the CLI says instants: with Z."""
    return set_at if set_at.endswith("Z") or "+" in set_at else f"{set_at}Z"


@autonomy_app.command("show")
def autonomy_show(as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON")] = False,
                  db: DbOpt = None) -> None:
    """The switches in force (scopes not listed run on the policy alone: auto); --json: a list of
    {scope, mode, set_by, set_at (UTC with Z), note}, [] when every scope is auto."""
    store, switches = _autonomy(db)
    try:
        rows = switches.list()
        if as_json:
            sys.stdout.write(json.dumps([{"scope": s.scope, "mode": s.mode, "set_by": s.set_by, "set_at": _at(s.set_at),
                                          "note": s.note} for s in rows], indent=2, ensure_ascii=False) + "\n")
            return
        table = Table("Scope", "Mode", "Set by", "At", "Note")
        for s in rows:
            table.add_row(s.scope, s.mode.replace("_", "-"), s.set_by, _at(s.set_at), s.note or "")
        out.print(table if rows else "auto everywhere: the policy decides what the bot may close alone",
                  markup=False)  # the cells are data: a note's "[ticket 42]" is text
    finally:
        store.dispose()


@autonomy_app.command("pause")
def autonomy_pause(mode: Annotated[str, typer.Option("--mode", help="approval-only | shadow")] = "approval-only",
                   category: CategoryOpt = None, sku: SkuOpt = None, by: ByOpt = "operator", note: NoteOpt = None,
                   catalog: CatalogOpt = None, db: DbOpt = None) -> None:
    """approval-only: every new offer goes to an operator; shadow: the bot drafts, an operator sends.

    The category or SKU must be in the catalog (--catalog): a name it does not have is refused. --mode takes
    approval-only (or approval_only) or shadow; auto is refused: `dealdesk autonomy resume` goes back to auto.
    """
    from agent.store.autonomy import scope_of

    stored = pause_mode(mode, category=category, sku=sku)
    try:
        scope = scope_of(category=category, sku=sku)
    except DealdeskError as exc:
        _switch_error(exc)
    known = _catalog_names(catalog) if scope != "global" else {}
    store, switches = _autonomy(db)
    try:
        s = switches.set(scope, stored, by=by, note=note, **known)
        out.print(f"{s.scope}: {s.mode.replace('_', '-')} (set by {s.set_by} at {_at(s.set_at)})", markup=False)
    except DealdeskError as exc:
        _switch_error(exc)
    finally:
        store.dispose()


@autonomy_app.command("resume")
def autonomy_resume(category: CategoryOpt = None, sku: SkuOpt = None, by: ByOpt = "operator", note: NoteOpt = None,
                    catalog: CatalogOpt = None, db: DbOpt = None) -> None:
    """Back to auto for that scope: the policy decides again.

    A switch that is set can always be cleared (even for a product since removed from the catalog); a
    category or SKU with no switch and not in the catalog is refused (a typo).
    """
    from agent.store.autonomy import scope_of

    try:
        scope = scope_of(category=category, sku=sku)
    except DealdeskError as exc:
        _switch_error(exc)
    store, switches = _autonomy(db)
    try:
        known = _catalog_names(catalog) if scope != "global" and scope not in switches.switches() else {}
        s = switches.set(scope, "auto", by=by, note=note, **known)
        out.print(f"{s.scope}: auto (set by {s.set_by} at {_at(s.set_at)})", markup=False)
    except DealdeskError as exc:
        _switch_error(exc)
    finally:
        store.dispose()


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)
    app.command("negotiate")(negotiate)
    app.command("schemas")(schemas)
    app.add_typer(approvals_app, name="approvals")
    app.add_typer(autonomy_app, name="autonomy")
