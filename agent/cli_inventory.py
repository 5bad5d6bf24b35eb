"""CLI commands for the live stock count: list it, receive goods, remove units lost or counted short.

The catalog's `on_hand` seeds a SKU once; afterwards the store's count is the one deals and holds move
(agent/store/inventory.py says why), so this is how a vendor restocks without editing the database.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer
from rich.table import Table

from agent.cli_agent import DbOpt, err, out, refuse
from agent.config import db_url
from tools.datafile import DataFileError
from tools.errors import DealdeskError

inventory_app = typer.Typer(help="The live stock count: list it, receive goods, remove units lost or counted short.",
                            no_args_is_help=True)
CatalogOpt = Annotated[Optional[Path], typer.Option("--catalog", help="Catalog file the SKU must be in "
                                                                       "(env DEALDESK_CATALOG)")]
ByOpt = Annotated[str, typer.Option("--by", help="Who makes the change")]
# Read here, not by Typer: a quantity that is no whole number is refused as every other refusal is, one line naming
# the field (`error invalid_quantity (field quantity): ...`, exit 2), not a usage box. "500" and "500.0" are 500, as
# on the wire.
QtyArg = Annotated[str, typer.Argument(help="Units, a whole number more than 0", show_default=False)]


def _quantity(text: str) -> int:
    from agent.contract import _in_quantity

    try:
        return _in_quantity(text)
    except ValueError as exc:
        raise DealdeskError(f"the quantity is a whole number of units, more than 0: {exc}", code="invalid_quantity",
                            field="quantity") from None


def _fail(exc: DealdeskError) -> NoReturn:
    where = f" (field {exc.field})" if exc.field else ""
    err.print(f"error {exc.code}{where}: {exc.message}", highlight=False, markup=False)
    raise typer.Exit(2) from None


def _stores(db: str | None):
    from agent.store import Store
    from agent.store.inventory import InventoryStore

    store = Store(db_url(db))
    return store, InventoryStore(store.engine)


def _catalog(catalog: Path | None) -> Any:
    """The catalog the SKU must be in (a refused file: exit 1)."""
    from agent.config import catalog_path
    from tools.catalog import load_catalog

    try:
        return load_catalog(catalog_path(catalog))
    except DataFileError as exc:
        refuse(exc)


def _level_line(level: Any) -> str:
    return (f"on hand {level.on_hand}, sold {level.allocated}, held by standing offers {level.held}, "
            f"available {level.available}")


@inventory_app.command("list")
def inventory_list(sku: Annotated[Optional[list[str]], typer.Option("--sku", help="Only this SKU (repeatable)")] = None,
                   as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON")] = False,
                   db: DbOpt = None) -> None:
    """Each SKU's count in the store: on hand, sold (allocated to deals), held by standing offers, and
    available to offer; --json: a list of {sku, on_hand, allocated, held, available, updated_at}, counts
    as decimal strings."""
    store, inventory = _stores(db)
    try:
        levels = inventory.levels(sku or None)
    finally:
        store.dispose()
    if as_json:
        sys.stdout.write(json.dumps([{"sku": lv.sku, "on_hand": str(lv.on_hand), "allocated": str(lv.allocated),
                                      "held": str(lv.held), "available": str(lv.available),
                                      "updated_at": lv.updated_at} for lv in levels], indent=2) + "\n")
        return
    if not levels:
        out.print("no stock counted yet: the seller seeds each SKU from the catalog when it first starts "
                  "(`dealdesk serve`, `chat`, `negotiate`)" if not sku else "none of these SKUs is counted",
                  markup=False)
        return
    table = Table("SKU", "On hand", "Sold", "Held", "Available", "Updated (UTC)")
    for lv in levels:
        table.add_row(lv.sku, str(lv.on_hand), str(lv.allocated), str(lv.held), str(lv.available), lv.updated_at)
    out.print(table, markup=False)


def _change(kind: str, sku: str, qty: str, by: str, note: str | None, catalog: Path | None,
            db: str | None) -> None:
    try:
        quantity = _quantity(qty)
    except DealdeskError as exc:
        _fail(exc)
    cat = _catalog(catalog)
    store, inventory = _stores(db)
    try:
        # As the seller does when it starts: SKUs the store has not seen get the catalog's count first, so a
        # receipt adds to it rather than standing in for it.
        store.seed_inventory((s, p.inventory.on_hand) for s, p in cat.products.items())
        change = inventory.change(kind, sku, quantity, by=by, note=note,  # type: ignore[arg-type]
                                  skus=frozenset(cat.products), made_to_order={s for s, p in cat.products.items() if p.inventory.made_to_order})
    except DealdeskError as exc:
        _fail(exc)
    finally:
        store.dispose()
    done = "received" if kind == "receive" else "removed"
    out.print(f"{change.sku}: {done} {quantity} units; {_level_line(change.level)} (by {change.by} at {change.at})",
              markup=False)


@inventory_app.command("receive")
def inventory_receive(sku: Annotated[str, typer.Argument(help="SKU")], quantity: QtyArg,
                      by: ByOpt = "operator",
                      note: Annotated[Optional[str], typer.Option("--note", help="Why (delivery note, PO...)")] = None,
                      catalog: CatalogOpt = None, db: DbOpt = None) -> None:
    """Goods received: add QUANTITY units to SKU's count, at once available to offer (recorded in the
    audit trail, conversation ops:inventory)."""
    _change("receive", sku, quantity, by, note, catalog, db)


@inventory_app.command("remove")
def inventory_remove(sku: Annotated[str, typer.Argument(help="SKU")], quantity: QtyArg,
                     note: Annotated[Optional[str], typer.Option(
                         "--note", help="Why: the count it corrects, damage, loss... (required)")] = None,
                     by: ByOpt = "operator", catalog: CatalogOpt = None, db: DbOpt = None) -> None:
    """Units lost, damaged or counted short: take QUANTITY units off SKU's count. Units sold or held by a
    standing offer are never taken back: a removal larger than what is available is refused and changes
    nothing (exit 2)."""
    _change("remove", sku, quantity, by, note, catalog, db)


def register(app: typer.Typer) -> None:
    app.add_typer(inventory_app, name="inventory")
