"""The `dealdesk` command line: catalog, pricing and policy tools for vendors and operators.

Thin by design: each command parses options, calls the pure domain
functions in `tools/`, and prints a table (or JSON with --json).
Exit codes: 0 ok, 1 a refused data file, 2 a domain error (unknown SKU, ...).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent.config import catalog_path, load_data
from tools.catalog import load_catalog
from tools.catalog.jsonld import catalog_jsonld
from tools.catalog.search import check_category, search, spec_text
from tools.datafile import DataFileError
from tools.errors import DealdeskError, TermsNotAllowed
from tools.policy.desk import Desk
from tools.policy.loader import load_policy, policy_warnings
from tools.money import fmt_percent
from tools.policy.surface import DecisionSurface, explain_quote
from tools.pricing.engine import today
from tools.pricing.models import BuyerContext

app = typer.Typer(help="dealdesk: the autonomous deal desk (seller agent) for B2B procurement bots.",
                  no_args_is_help=True, add_completion=False)
catalog_app = typer.Typer(help="Validate, search and export the catalog.", no_args_is_help=True)
policy_app = typer.Typer(help="Validate the policy and explain its decisions.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(policy_app, name="policy")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

CatalogOpt = Annotated[Optional[Path], typer.Option("--catalog", help="Catalog file (env DEALDESK_CATALOG)")]
PolicyOpt = Annotated[Optional[Path], typer.Option("--policy", help="Policy file (env DEALDESK_POLICY)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON")]
QtyOpt = Annotated[int, typer.Option("--qty", "-q", help="Quantity")]
RegionOpt = Annotated[str, typer.Option(help="Buyer region")]
CurrencyOpt = Annotated[Optional[str], typer.Option(help="Currency (default: the region's)")]
SegmentOpt = Annotated[str, typer.Option(help="Customer segment")]
TermsOpt = Annotated[Optional[str], typer.Option("--terms", help="Payment terms (default: the policy's)")]
DateOpt = Annotated[Optional[str], typer.Option("--date", help="Pricing date YYYY-MM-DD (default: today)")]


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _fail(exc: Exception, *, after: str | None = None) -> None:
    """Report a refused data file (exit 1: each issue on its line, then `after`) or a domain error (exit 2)."""
    if isinstance(exc, DataFileError):
        err.print(f"[red]refused[/red] ({len(exc.issues)} issue{'s' if len(exc.issues) != 1 else ''}):", highlight=False)
        for issue in exc.issues:
            err.print(f"  {issue}", highlight=False, markup=False)
        if after:
            err.print(f"  {after}", highlight=False, markup=False)
        raise typer.Exit(1)
    if isinstance(exc, DealdeskError):
        where = f" (field {exc.field})" if exc.field else ""
        err.print(f"error {exc.code}{where}: {exc.message}", highlight=False, markup=False)
        raise typer.Exit(2)
    raise exc


def _catalog_source(explicit: Path | None) -> str:
    """Where the catalog path came from, as `catalog_path` resolves it."""
    if explicit:
        return "--catalog"
    if os.environ.get("DEALDESK_CATALOG"):
        return "env DEALDESK_CATALOG"
    return "the default; choose another with --catalog or DEALDESK_CATALOG"


def _buyer(region: str, currency: str | None, segment: str, terms: str | None, date: str | None,
           default_terms: str) -> BuyerContext:
    try:
        on = dt.date.fromisoformat(date) if date else today()
    except ValueError as exc:  # a usage error (exit 2), not a traceback
        raise DealdeskError(f"{date!r} is not a date YYYY-MM-DD ({exc})", field="--date", code="invalid_date") from None
    return BuyerContext(region=region, currency=currency, segment=segment, payment_terms=terms or default_terms, on=on)


def _allowed_terms(s: DecisionSurface) -> None:
    """Refuse terms the policy does not allow for this product, as the REST and A2A servers do."""
    if s.payment_terms not in s.allowed_terms:
        raise TermsNotAllowed(f"payment terms {s.payment_terms} are not allowed for {s.sku} (allowed: "
                              f"{', '.join(s.allowed_terms)}; {s.rule_ids['payment_terms']})", field="payment_terms")


def _percent_text(value: str) -> str:
    """A percentage figure rounded for display; any other text (a rule id under `rule_ids`) as it is."""
    try:
        return fmt_percent(Decimal(value))
    except ArithmeticError:
        return value


def _shown_percentages(data: Any) -> Any:
    """JSON for people: every `*_percent` figure rounded half-up to 2 decimals (the arithmetic keeps exact ones)."""
    if isinstance(data, dict):
        return {k: _percent_text(v) if k.endswith("_percent") and isinstance(v, str) else _shown_percentages(v)
                for k, v in data.items()}
    if isinstance(data, list):
        return [_shown_percentages(v) for v in data]
    return data


# --- catalog -----------------------------------------------------------------------


@catalog_app.command("validate")
def catalog_validate(file: Path, as_json: JsonOpt = False) -> None:
    """Validate a catalog file; every problem is named by file, row and field."""
    try:
        catalog = load_catalog(file)
    except DataFileError as exc:
        if as_json:
            _print_json({"valid": False, "issues": [issue.__dict__ for issue in exc.issues]})
            raise typer.Exit(1) from None
        _fail(exc)
        return
    summary = {"valid": True, "file": str(file), "products": len(catalog), "categories": list(catalog.categories),
               "price_books": list(catalog.price_books), "segments": list(catalog.segments),
               "rules": len(catalog.rules), "version": catalog.version}
    if as_json:
        _print_json(summary)
    else:
        out.print(f"[green]valid[/green]: {escape(str(file))}: {len(catalog)} products in {len(catalog.categories)} "
                  f"categories, price books {escape(', '.join(catalog.price_books))}, {len(catalog.rules)} pricing "
                  f"rules, version {escape(catalog.version[:19])}", highlight=False)


@catalog_app.command("search")
def catalog_search(
    text: Annotated[Optional[str], typer.Argument(help="Words to look for")] = None,
    category: Annotated[Optional[str], typer.Option(help="Category id")] = None,
    spec: Annotated[Optional[list[str]], typer.Option(help="Spec filter, e.g. bore_mm=20 (repeatable)")] = None,
    limit: Annotated[int, typer.Option(help="Most results")] = 20,
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search products by text, category and spec filters."""
    try:
        cat = load_catalog(catalog_path(catalog))
        if category is not None:
            check_category(cat, category)
        found = search(cat, text=text, category=category, specs=spec or [], limit=limit)
    except (DataFileError, DealdeskError) as exc:
        _fail(exc)
        return
    except ValueError as exc:
        err.print(f"error invalid_filter: {exc}", markup=False)
        raise typer.Exit(2) from None
    if as_json:
        _print_json([p.model_dump(mode="json") for p in found])
        return
    table = Table("SKU", "Name", "Category", "Specs", "On hand", title=f"{len(found)} product(s)")
    for p in found:
        specs = ", ".join(f"{k}={spec_text(v)}" for k, v in p.specs.items())
        table.add_row(p.sku, p.name, p.category, specs,
                      "made to order" if p.inventory.made_to_order else str(p.inventory.on_hand))
    out.print(table, markup=False)  # the cells are data: "[sealed]" in a name is text, not a style


@catalog_app.command("export-jsonld")
def catalog_export_jsonld(
    output: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write to this file instead of stdout")] = None,
    catalog: CatalogOpt = None,
) -> None:
    """Export the catalog as Schema.org JSON-LD (Product, Offer, UnitPriceSpecification)."""
    try:
        doc = catalog_jsonld(load_catalog(catalog_path(catalog)))
    except DataFileError as exc:
        _fail(exc)
        return
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}", markup=False)
    else:
        sys.stdout.write(text)


# --- pricing -----------------------------------------------------------------------


@app.command("price")
def price_cmd(sku: str, qty: QtyOpt, region: RegionOpt = "US", currency: CurrencyOpt = None,
              segment: SegmentOpt = "standard", terms: TermsOpt = None, date: DateOpt = None,
              catalog: CatalogOpt = None, policy: PolicyOpt = None, as_json: JsonOpt = False) -> None:
    """Price a line and explain every rule behind the figure (and the lift to the floor, where the seller quotes it)."""
    try:
        cat, pol = load_data(catalog, policy)
        ctx = _buyer(region, currency, segment, terms, date, pol.doc.global_.payment_terms.default)
        s = Desk(cat, pol, ctx).surface(sku, qty)
        _allowed_terms(s)
    except (DataFileError, DealdeskError) as exc:
        _fail(exc)
        return
    line = s.pricing
    explanation = explain_quote(s)
    quoted_total = s.list_price * qty
    if as_json:
        _print_json(_shown_percentages({**line.model_dump(mode="json"), "quoted_unit_price": str(s.list_price),
                                        "quoted_line_total": str(quoted_total), "lifted_to_floor": s.lifted_to_floor,
                                        "explanation": explanation}))
        return
    product = cat.products[sku]
    cur = escape(line.currency)
    out.print(f"[bold]{escape(sku)}[/bold] {escape(product.name)}: {qty} x {s.list_price} {cur} = "
              f"[bold]{quoted_total} {cur}[/bold] "
              f"({escape(', '.join((line.region, line.segment, line.payment_terms)))}, {line.on})", highlight=False)
    for step in explanation:
        out.print(f"  - {step}", highlight=False, markup=False)


# --- policy ------------------------------------------------------------------------


@policy_app.command("validate")
def policy_validate(file: Path, catalog: CatalogOpt = None) -> None:
    """Validate a policy file against the catalog."""
    used = catalog_path(catalog)
    try:
        cat = load_catalog(used)
    except DataFileError as exc:  # each issue names the catalog file
        _fail(exc)
        return
    try:
        pol = load_policy(file, cat)
    except DataFileError as exc:  # an unknown SKU or a floor above list is the catalog's word: say which catalog
        _fail(exc, after=f"catalog used: {used.resolve()} ({_catalog_source(catalog)})")
        return
    out.print(f"[green]valid[/green]: {escape(str(file))}: {len(pol.doc.categories)} category and "
              f"{len(pol.doc.products)} product overrides, version {escape(pol.version[:19])}", highlight=False)
    for issue in policy_warnings(pol, cat, str(file)):  # allowed, but worth a second look
        out.print(f"[yellow]warning[/yellow]: {escape(str(issue))}", highlight=False)


def surface_table(s: DecisionSurface) -> Table:
    """The decision surface as a table. Its cells are plain text (rule ids such as
    `policy.categories[motors].autonomous` are data, not rich markup): print it with `markup=False`.
    The title, which rich reads as markup whatever the print says, is escaped here."""
    cur = s.currency
    title = f"Decision surface: {s.sku} x {s.quantity} ({s.region}, {cur}, {s.segment}, {s.payment_terms})"
    table = Table(title=escape(title))
    table.add_column("Figure")
    table.add_column("Value")
    table.add_column("Rule", overflow="fold")
    r = s.rule_ids
    table.add_row("list price (this buyer, this quantity)", f"{s.list_price} {cur}", r["list_price"])
    table.add_row("target price", f"{s.target_price} {cur}", r["target_price"])
    table.add_row("floor price", f"{s.floor_price} {cur}", r["floor_price"])
    # A price limit the floor raised is the floor's rule's doing, not the discount's (2.65, not 30% off 3.25).
    table.add_row("walk-away price", f"{s.walk_away_price} {cur}",
                  r["floor_price"] if s.walk_away_price == s.floor_price else r["max_discount_percent"])
    table.add_row("max discount", f"{s.max_discount_percent}%", r["max_discount_percent"])
    if s.allowance_percent:
        table.add_row("extra allowance", f"+{s.allowance_percent}%", r.get("allowance", ""))
    for i, level in enumerate(s.levels):
        label = "auto-approve limit" if i == 0 else f"approval: {level.name}"
        floored = level.min_unit_price == s.floor_price and level.max_discount_percent > 0
        table.add_row(label, f"{level.min_unit_price} {cur} (up to {level.max_discount_percent}% off"
                      + (", held at the floor)" if floored else ")"),
                      f"{level.rule_id}, {r['floor_price']}" if floored else level.rule_id)
    table.add_row("payment terms", f"{', '.join(s.allowed_terms)} (default {s.default_terms})", r["payment_terms"])
    table.add_row("non-negotiable terms", ", ".join(s.non_negotiable_terms) or "-", r["non_negotiable_terms"])
    table.add_row("order quantity", f"MOQ {s.moq}, max {s.max_order_quantity or 'none'}",
                  f"{r['moq']}, {r['max_order_quantity']}")
    table.add_row("proposal validity", f"{s.proposal_validity_days} days", r["proposal_validity_days"])
    table.add_row("max negotiation rounds", str(s.max_rounds), r["max_rounds"])
    if s.made_to_order:  # no stock: an offer holds nothing, so no cap applies
        table.add_row("max units held per buyer", "none held (made to order)", "catalog.inventory.made_to_order")
    else:
        table.add_row("max units held per buyer", str(s.max_hold_units or "no cap"), r["max_hold"])
    autonomy = "bot may close alone" if s.autonomous else "operator must approve"
    if s.autonomy_max_deal_value is not None:
        autonomy += f", up to {s.autonomy_max_deal_value} {cur} per deal"
    table.add_row("autonomy", autonomy, f"{r['autonomy']}, {r['autonomy_max_deal_value']}")
    table.add_row("lead time", f"{s.lead_time_days} days", "catalog.capacity")
    table.add_row("cost (internal)", f"{s.cost} {cur}", "catalog.cost")
    return table


@policy_app.command("explain")
def policy_explain(sku: str, qty: QtyOpt, region: RegionOpt = "US", currency: CurrencyOpt = None,
                   segment: SegmentOpt = "standard", terms: TermsOpt = None, date: DateOpt = None,
                   catalog: CatalogOpt = None, policy: PolicyOpt = None, as_json: JsonOpt = False) -> None:
    """Print the decision surface: list, target, floor, approval limits and every other limit, with rule ids."""
    try:
        cat, pol = load_data(catalog, policy)
        ctx = _buyer(region, currency, segment, terms, date, pol.doc.global_.payment_terms.default)
        s = Desk(cat, pol, ctx).surface(sku, qty)
    except (DataFileError, DealdeskError) as exc:
        _fail(exc)
        return
    if as_json:
        _print_json(_shown_percentages(s.model_dump(mode="json")))
        return
    out.print(surface_table(s), markup=False)  # rule ids like policy.categories[motors].autonomous are text
    for step in explain_quote(s):
        out.print(f"  - {step}", highlight=False, markup=False)
    if s.payment_terms not in s.allowed_terms:
        err.print(f"warning: payment terms {s.payment_terms} are not allowed for {sku} (allowed: "
                  f"{', '.join(s.allowed_terms)}): every offer on them is refused", highlight=False, markup=False)


# --- demo --------------------------------------------------------------------------


@app.command("demo")
def demo(catalog: CatalogOpt = None, policy: PolicyOpt = None,
         sku: Annotated[str, typer.Option(help="SKU to haggle over")] = "BRG-6204",
         qty: QtyOpt = 450, region: RegionOpt = "EU") -> None:
    """Offline demo on the demo data: a quote, then a scripted buyer haggling with the concession strategy."""
    from agent.demo import run_demo

    try:
        cat, pol = load_data(catalog, policy)
        run_demo(out, cat, pol, sku=sku, quantity=qty, region=region)
    except (DataFileError, DealdeskError) as exc:
        _fail(exc)


def main() -> None:
    app()


from agent.cli_agent import register  # noqa: E402  (after the domain commands, so help lists them first)

register(app)

from agent.cli_serve import register as register_serve  # noqa: E402

register_serve(app)

from agent.cli_eval import register as register_eval  # noqa: E402

register_eval(app)

from agent.cli_doctor import register as register_doctor  # noqa: E402

register_doctor(app)

from agent.cli_ops import register as register_ops  # noqa: E402  (deals, log, decisions, audit, approvals show)

register_ops(app)

from agent.cli_inventory import register as register_inventory  # noqa: E402

register_inventory(app)


if __name__ == "__main__":
    main()
