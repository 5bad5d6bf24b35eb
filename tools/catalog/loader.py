"""Load a catalog from YAML, JSON or CSV, all or nothing.

Every problem becomes a `CatalogIssue` naming the file, the row and the
field; a file with any issue is refused whole, and `CatalogHolder` keeps the
previous catalog in force. Numbers in files are read as Decimals (never
floats), so "3.10" stays exactly 3.10.
"""

from __future__ import annotations

import csv
import io
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tools.catalog.models import Catalog, CatalogFile
from tools.datafile import (DataFileError, FileIssue, field_path, gc_paused, is_item_echo, read_or_issue_items,
                            unknown_field)
from tools.money import MINOR_UNITS, quantum
from tools.pricing.rules import static_conflicts, stock_conflicts


class CatalogError(DataFileError):
    """A refused catalog file, with every issue found in it."""


CatalogIssue = FileIssue


_SURPLUS = "\x00surplus"  # DictReader key for cells beyond the header (cannot clash with a column)
CSV_FIXED = {"sku", "name", "description", "category", "unit", "tier_mode", "compatible", "related",
             "on_hand", "made_to_order", "lead_time_days", "restock_lead_time_days", "weekly_capacity"}


def parse_tiers(text: str) -> list[dict[str, str | int]]:
    """`100-499:3.20|500+:2.90` -> tier dicts. Raises ValueError naming the bad part."""
    tiers: list[dict[str, str | int]] = []
    for part in filter(None, (p.strip() for p in text.split("|"))):
        span, sep, price = part.partition(":")
        if not sep:
            raise ValueError(f"tier {part!r} needs the form MIN-MAX:PRICE or MIN+:PRICE")
        try:
            if span.endswith("+"):
                tiers.append({"min": int(span[:-1]), "price": price.strip()})
            else:
                lo, _, hi = span.partition("-")
                tiers.append({"min": int(lo), "max": int(hi), "price": price.strip()})
        except ValueError:
            raise ValueError(f"tier {part!r}: quantities must be whole numbers") from None
    return tiers


def read_csv(path: Path) -> tuple[dict[str, Any], dict[int, int], list[CatalogIssue]]:
    """A CSV catalog: one product a row. Price books are the `price.REGION-CURRENCY.*` columns.

    Columns: sku, name, description, category, unit, tier_mode, compatible and
    related (`;`-separated SKUs), on_hand, made_to_order (true/false), lead_time_days,
    restock_lead_time_days, weekly_capacity, `cost.CUR`, `price.BOOK.list`,
    `price.BOOK.tiers` (`100-499:3.20|500+:2.90`) and `spec.NAME`.
    """
    issues: list[CatalogIssue] = []
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline=""), restkey=_SURPLUS)
    header = reader.fieldnames or []
    books: dict[str, dict[str, str]] = {}
    for col in header:
        if col.startswith("price."):
            book = col.split(".")[1]
            region, _, currency = book.rpartition("-")
            books[book] = {"id": book, "region": region, "currency": currency}
        elif not (col in CSV_FIXED or col.startswith(("cost.", "spec."))):
            issues.append(CatalogIssue(str(path), "header", col, "unknown column"))
    products = []
    lines: dict[int, int] = {}
    for index, row in enumerate(reader):
        lines[index] = reader.line_num
        product: dict[str, Any] = {"specs": {}, "cost": {}, "prices": {}, "inventory": {}, "capacity": {}}
        for col, raw in row.items():
            if col == _SURPLUS:
                issues.append(CatalogIssue(str(path), f"line {reader.line_num}", "",
                                           f"{len(raw)} more cell(s) than the header has columns"))
                continue
            value = (raw or "").strip()
            if col is None or value == "":
                continue
            if col in ("compatible", "related"):
                product[col] = [s.strip() for s in value.split(";") if s.strip()]
            elif col in ("on_hand", "made_to_order"):
                product["inventory"][col] = value
            elif col in ("lead_time_days", "restock_lead_time_days", "weekly_capacity"):
                product["capacity"][col] = value
            elif col.startswith("cost."):
                product["cost"][col[5:]] = value
            elif col.startswith("spec."):
                product["specs"][col[5:]] = value
            elif col.startswith("price."):
                _, book, what = (col.split(".", 2) + [""])[:3]
                entry = product["prices"].setdefault(book, {})
                if what == "tiers":
                    try:
                        entry["tiers"] = parse_tiers(value)
                    except ValueError as exc:
                        issues.append(CatalogIssue(str(path), f"line {reader.line_num}", col, str(exc)))
                else:
                    entry[what] = value
            else:
                product[col] = value
        products.append(product)
    return {"price_books": list(books.values()), "products": products}, lines, issues


# --- validation --------------------------------------------------------------------


def _key_of(data: Any, items: str, index: int, key: str) -> Any:
    """The `key` of item `index` of the list `items`, when the (unvalidated) data has one."""
    try:
        return data[items][index].get(key)
    except (KeyError, IndexError, TypeError, AttributeError):
        return None


def _item_row(data: Any, items: str, index: int, lines: dict[int, int], key: str, label: str = "") -> str:
    """`products[3] (sku X, line 12)`, `rules[3] (promo-x, line 120)`: a list item's index, its `key` when it has
    one (after `label`), and its line in a YAML file."""
    name = _key_of(data, items, index, key)
    parts = [f"{label}{name}"] if name not in (None, "") else []
    if lines.get(index):
        parts.append(f"line {lines[index]}")
    return f"{items}[{index}]" + (f" ({', '.join(parts)})" if parts else "")


def _row(data: Any, index: int, lines: dict[int, int], csv_mode: bool) -> str:
    if csv_mode:
        sku = _key_of(data, "products", index, "sku")
        return f"line {lines.get(index)}" + (f" (sku {sku})" if sku else "")
    return _item_row(data, "products", index, lines, "sku", "sku ")


def _rule_row(data: Any, index: int, rule_lines: dict[int, int]) -> str:
    return _item_row(data, "rules", index, rule_lines, "id")


def _issues_from_validation(exc: ValidationError, file: str, data: Any, lines: dict[int, int],
                            csv_mode: bool, rule_lines: dict[int, int] | None = None) -> list[CatalogIssue]:
    issues = []
    for err in exc.errors():
        if is_item_echo(err):
            continue
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        if len(loc) >= 2 and loc[0] == "products" and isinstance(loc[1], int):
            row, field = _row(data, loc[1], lines, csv_mode), field_path(loc[2:])
        elif len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            row, field = _rule_row(data, loc[1], rule_lines or {}), field_path(loc[2:])
        else:
            row, field = "", field_path(loc)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = unknown_field(CatalogFile, loc)
        issues.append(CatalogIssue(file, row, field, msg))
    return issues


def _off_grid(amount: Decimal, step: Decimal) -> bool:
    """More decimals than the currency's minor unit `step` (3.505 EUR)."""
    return amount != amount.quantize(step)


def _decimals(currency: str) -> str:
    n = MINOR_UNITS[currency]
    return f"{n} decimal{'s' if n != 1 else ''}" if n else "no decimals"


_ONE = {"skus": "SKU", "segments": "segment", "regions": "region", "categories": "category"}

def cross_check(doc: CatalogFile, file: str, data: Any, lines: dict[int, int],
                csv_mode: bool = False, rule_lines: dict[int, int] | None = None) -> list[CatalogIssue]:
    """Checks that span records: duplicates, references, costs, prices' decimals and rule conflicts."""
    issues: list[CatalogIssue] = []
    rule_lines = rule_lines or {}
    books = {b.id: b for b in doc.price_books}
    steps = {b.id: quantum(b.currency) for b in doc.price_books}
    for kind, ids in (("price_books", [b.id for b in doc.price_books]), ("segments", [s.id for s in doc.segments])):
        seen: set[str] = set()
        for i, ident in enumerate(ids):
            if ident in seen:
                issues.append(CatalogIssue(file, f"{kind}[{i}]", "id", f"duplicate id {ident!r}"))
            seen.add(ident)
    skus = {p.sku for p in doc.products}
    first_row: dict[str, int] = {}
    for i, p in enumerate(doc.products):
        row = _row(data, i, lines, csv_mode)
        if p.sku in first_row:
            issues.append(CatalogIssue(file, row, "sku", f"duplicate SKU {p.sku!r} (first at products[{first_row[p.sku]}])"))
        else:
            first_row[p.sku] = i
        for field in ("compatible", "related"):
            for ref in getattr(p, field):
                if ref not in skus:
                    issues.append(CatalogIssue(file, row, field, f"unknown SKU {ref!r}"))
                elif ref == p.sku:
                    issues.append(CatalogIssue(file, row, field, "a product cannot refer to itself"))
        for book_id, price in p.prices.items():
            book = books.get(book_id)
            if book is None:
                issues.append(CatalogIssue(file, row, f"prices.{book_id}", f"unknown price book {book_id!r}"))
                continue
            cur = book.currency
            step = steps[book_id]
            if _off_grid(price.list, step):
                issues.append(CatalogIssue(file, row, f"prices.{book_id}.list",
                                           f"list price {price.list} has more decimals than {cur} allows "
                                           f"({_decimals(cur)}; price book {book_id})"))
            for t, tier in enumerate(price.tiers):
                if _off_grid(tier.price, step):
                    issues.append(CatalogIssue(file, row, f"prices.{book_id}.tiers[{t}].price",
                                               f"tier price {tier.price} has more decimals than {cur} allows "
                                               f"({_decimals(cur)}; price book {book_id})"))
            cost = p.cost.get(book.currency)
            if cost is None:
                issues.append(CatalogIssue(file, row, f"cost.{book.currency}",
                                           f"missing cost in {book.currency} (price book {book_id})"))
                continue
            if price.list < cost:
                issues.append(CatalogIssue(file, row, f"prices.{book_id}.list",
                                           f"list price {price.list} is below cost {cost} {book.currency}"))
            for t, tier in enumerate(price.tiers):
                if tier.price < cost:
                    issues.append(CatalogIssue(file, row, f"prices.{book_id}.tiers[{t}].price",
                                               f"tier price {tier.price} is below cost {cost} {book.currency}"))
    segments = {s.id for s in doc.segments}
    regions = {b.region for b in doc.price_books}
    categories = {p.category for p in doc.products}
    for i, rule in enumerate(doc.rules):
        where = _rule_row(data, i, rule_lines)
        for field, known in (("skus", skus), ("segments", segments), ("regions", regions), ("categories", categories)):
            for ref in getattr(rule.when, field) or ():
                if ref not in known:
                    issues.append(CatalogIssue(file, where, f"when.{field}", f"unknown {_ONE[field]} {ref!r}"))
    first_rule: dict[str, int] = {}
    for i, rule in enumerate(doc.rules):
        if rule.id not in first_rule:
            first_rule[rule.id] = i
            continue
        first = first_rule[rule.id]
        at = f"rules[{first}]" + (f", line {rule_lines[first]}" if first in rule_lines else "")
        issues.append(CatalogIssue(file, _rule_row(data, i, rule_lines), "id",
                                   f"duplicate rule id {rule.id!r} (first at {at})"))
    line_of = {id(rule): rule_lines.get(i) for i, rule in enumerate(doc.rules)}

    def at_line(rule: Any) -> str:
        return f" (line {line_of[id(rule)]})" if line_of[id(rule)] else ""

    for product, a, b in stock_conflicts(doc.products, {bk.id: bk.region for bk in doc.price_books}, doc.rules):
        issues.append(CatalogIssue(
            file, f"rules ({a.id}, {b.id})", "priority",
            f"rules {a.id!r}{at_line(a)} and {b.id!r}{at_line(b)} are both stock rules of priority {a.priority} "
            f"that match {product.sku} at its stock on hand ({product.inventory.on_hand}, what pricing uses) with "
            "different effects: every price of it would fail; give one a higher priority",
        ))
    for a, b in static_conflicts(doc.rules):
        issues.append(CatalogIssue(
            file, f"rules ({a.id}, {b.id})", "priority",
            f"rules {a.id!r}{at_line(a)} and {b.id!r}{at_line(b)} are both {a.kind} rules of priority {a.priority} "
            "that can match the same line with different effects; give one a higher priority",
        ))
    return issues


def parse_catalog(data: Any, *, file: str = "<memory>", lines: dict[int, int] | None = None,
                  csv_mode: bool = False, rule_lines: dict[int, int] | None = None) -> Catalog:
    """Validate already-parsed data into a `Catalog`, or raise `CatalogError`.

    `lines` and `rule_lines`: the file line of each product and each rule, by index, for the issues' rows."""
    lines = lines or {}
    if not isinstance(data, dict):
        raise CatalogError([CatalogIssue(file, "", "", "the file must hold a mapping at the top level")])
    try:
        doc = CatalogFile.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(_issues_from_validation(exc, file, data, lines, csv_mode, rule_lines)) from None
    issues = cross_check(doc, file, data, lines, csv_mode, rule_lines)
    if issues:
        raise CatalogError(issues)
    return Catalog(doc, source=file)


def load_catalog(path: str | Path) -> Catalog:
    """Load and validate a catalog file (.yaml, .yml, .json or .csv).

    The cyclic GC waits meanwhile (`gc_paused`): a big catalog is hundreds of thousands of new
    objects, none of them garbage, and the collections they set off cost more than the parsing.
    """
    with gc_paused():
        return _load_catalog(Path(path))


def _load_catalog(path: Path) -> Catalog:
    if path.suffix.lower() == ".csv":
        try:
            data, lines, issues = read_csv(path)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise CatalogError([FileIssue(str(path), "", "", f"cannot read: {exc}")]) from None
        if issues:
            raise CatalogError(issues)
        return parse_catalog(data, file=str(path), lines=lines, csv_mode=True)
    try:
        data, item_lines = read_or_issue_items(path, (".yaml", ".yml", ".json", ".csv"), ("products", "rules"))
    except DataFileError as exc:
        raise CatalogError(exc.issues) from None
    return parse_catalog(data, file=str(path), lines=item_lines.get("products"), rule_lines=item_lines.get("rules"))


class CatalogHolder:
    """The catalog in force. A failed reload leaves the previous one in place."""

    def __init__(self, catalog: Catalog | None = None):
        self._catalog = catalog
        self._lock = threading.Lock()

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            raise RuntimeError("no catalog loaded")
        return self._catalog

    def load(self, path: str | Path) -> Catalog:
        """Load `path`; on any error raise and keep the catalog already in force."""
        fresh = load_catalog(path)
        with self._lock:
            self._catalog = fresh
        return fresh
