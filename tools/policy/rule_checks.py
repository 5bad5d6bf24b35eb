"""The catalog's pricing rules read against the policy, for `dealdesk policy validate`: warnings, never errors.

- Rules that take a buyer's price under the floor (`rule_floor_warnings`): a segment, payment-term, promotion or
  deal-size discount stacked on a volume tier can price a line under the floor for some buyers. The seller then
  quotes and offers the floor there (the decision surface lists the floor), which the vendor may not expect from
  the figures of the catalog alone.
- Rule conditions that never match (`rule_condition_warnings`): payment terms that no policy level allows for a
  product the rule covers, a deal-value threshold without an amount in a currency the rule could price in.

Both only read: pricing is the engine's (`tools/pricing/engine.price`), the floor the surface's (`floor_of`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from tools.catalog.models import Catalog, PriceBook, Product
from tools.datafile import FileIssue
from tools.errors import DealdeskError
from tools.money import HUNDRED, round_money
from tools.policy.models import Policy
from tools.policy.resolve import resolve
from tools.policy.surface import floor_of
from tools.pricing.engine import base_amount, brackets_for, price, today
from tools.pricing.models import PriceRequest
from tools.pricing.rules import PricingRule, in_scope

ONE = Decimal(1)
MOST = 10**9  # quantities searched when the policy sets no order maximum


def _could_go_under(rules: list[PricingRule], product: Product, book: PriceBook, floor: Decimal) -> bool:
    """A quick bound: the lowest tier rate with the deepest discount of each kind stacked, rounded, against the floor.
    When even that is not under the floor, no buyer's price is (the search below is then skipped)."""
    deepest: dict[str, Decimal] = {}
    for r in rules:
        if r.effect.percent is not None and r.effect.percent < 0:
            deepest[r.kind] = min(deepest.get(r.kind, Decimal(0)), r.effect.percent)
    if not deepest:
        return False
    low = min(t.price for t in product.prices[book.id].schedule)
    for pct in deepest.values():
        low *= ONE + pct / HUNDRED
    return round_money(low, book.currency) < floor


def _first_value_quantity(schedule: Any, mode: str, value: Decimal, most: int) -> int | None:
    """The smallest quantity whose value before rules reaches `value` (deal-size thresholds), or None."""
    def reaches(q: int) -> bool:
        return base_amount(brackets_for(schedule, q, mode)[0]) >= value
    if not reaches(most):
        return None
    lo, hi = 0, most
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reaches(mid) else (mid, hi)
    return hi


def _breakpoints(rules: list[PricingRule], product: Product, book: PriceBook, mode: str, least: int,
                 most: int) -> list[int]:
    """Quantities where a line's rules or tier can change: tier starts, rules' minimum quantities, and where the
    line's own value crosses a deal-value threshold. Between two of them the price only falls with the quantity."""
    schedule = product.prices[book.id].schedule
    points = {least, *(t.min for t in schedule)}
    for r in rules:
        if r.when.min_quantity is not None:
            points.add(r.when.min_quantity)
        for bound in (r.when.deal_value_at_least, r.when.deal_value_below):
            if bound is not None and book.currency in bound:
                q = _first_value_quantity(schedule, mode, bound[book.currency], most)
                if q is not None:
                    points.add(q)
    return sorted(p for p in points if least <= p <= most)


def _dates(rules: list[PricingRule], on: dt.date) -> list[dt.date]:
    """`on`, then each later day a rule starts or stops applying (promotions)."""
    days = {on}
    for r in rules:
        if r.when.valid_from is not None and r.when.valid_from > on:
            days.add(r.when.valid_from)
        if r.when.valid_to is not None and r.when.valid_to >= on:
            days.add(r.when.valid_to + dt.timedelta(days=1))
    return sorted(days)


def _first_under(catalog: Catalog, req: dict[str, Any], points: list[int], most: int,
                 floor: Decimal) -> Any | None:
    """The line priced at the smallest quantity whose price is under `floor`, or None. Between breakpoints the price
    never rises with the quantity, so the end of each span is checked, then the span bisected."""
    def line(q: int) -> Any:
        return price(catalog, PriceRequest(quantity=q, **req))
    ends = [*(p - 1 for p in points[1:]), most]
    for start, end in zip(points, ends):
        if line(end).unit_price >= floor:
            continue
        lo, hi = start - 1, end  # line(hi) is under the floor; lo is not known to be (start - 1 is outside)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if line(mid).unit_price < floor else (mid, hi)
        return line(hi)
    return None


def rule_floor_warnings(policy: Policy, catalog: Catalog, file: str, *, on: dt.date | None = None) -> list[FileIssue]:
    """One warning per product, price book, segment and payment term the policy allows where the catalog's rules take
    the engine's price (a line priced alone, from the date `on`, with the catalog's stock) under the floor at some
    quantity the policy lets a buyer order, naming the first such quantity and the rules. Where the volume tier alone
    is already under the floor, `tier_floor_warnings` says so instead."""
    on = on or today()
    out = []
    for sku, product in catalog.products.items():
        eff = resolve(policy, sku, product.category)
        for book_id in product.prices:
            book = catalog.price_books[book_id]
            cur = book.currency
            floor, floor_rule = floor_of(eff, product.cost[cur], cur)
            rules = [r for r in catalog.rules if in_scope(r.when, product, (book.region,))]
            if not _could_go_under(rules, product, book, floor):
                continue
            mode = catalog.tier_mode(product, book)
            most = eff.max_order_quantity or MOST
            points = _breakpoints(rules, product, book, mode, eff.moq, most)
            for segment in catalog.segments:
                for terms in eff.payment_terms.allowed:
                    found = None
                    for day in _dates(rules, on):
                        req = {"sku": sku, "region": book.region, "currency": cur, "segment": segment,
                               "payment_terms": terms, "on": day}
                        try:
                            found = _first_under(catalog, req, points, most, floor)
                        except DealdeskError:  # a conflict at pricing time is the engine's error, not this check's
                            found = None
                        if found is not None:
                            break
                    if found is None or round_money(found.base_unit_price, cur) < floor:
                        continue  # never under, or the tier's own doing
                    out.append(_floor_issue(file, found, floor, floor_rule, on))
    return out


def _floor_issue(file: str, line: Any, floor: Decimal, floor_rule: str, on: dt.date) -> FileIssue:
    cur = line.currency
    if floor_rule.startswith("policy."):
        setting = floor_rule.rsplit(".", 1)[1]
        row = floor_rule.removeprefix("policy.").removesuffix(f".{setting}")
        field = f"floor_price.{cur}" if setting == "floor_price" else setting
        what = "floor price" if setting == "floor_price" else "margin floor"
    else:
        row, field, what = "", "", "floor (the cost)"
    when = f" on {line.on}" if line.on != on else ""
    rules = ", ".join(repr(r) for r in line.rules_applied)
    return FileIssue(file, row, field,
                     f"rules {rules} bring the price of {line.sku} in price book {line.price_book} ({line.region}) for "
                     f"segment {line.segment} on {line.payment_terms} under the {what} {floor} {cur} from "
                     f"{line.quantity} units{when} ({line.unit_price} {cur} there): the bot quotes and offers the "
                     f"floor there")


def rule_condition_warnings(policy: Policy, catalog: Catalog) -> list[FileIssue]:
    """Conditions of the catalog's rules that never match: `when.payment_terms` naming only terms that no policy level
    allows for the products the rule covers (a typo such as "NET 60"), and a deal-value threshold with no amount in
    the currency of a price book the rule could price in. Reported in the catalog file, by rule index and id."""
    out = []
    for i, rule in enumerate(catalog.rules):
        row = f"rules[{i}] ({rule.id})"
        scope = [(p, catalog.price_books[b]) for p in catalog.products.values() for b in p.prices
                 if in_scope(rule.when, p, (catalog.price_books[b].region,))]
        products = {p.sku: p for p, _ in scope}
        if rule.when.payment_terms is not None and products:
            allowed = sorted({t for p in products.values()
                              for t in resolve(policy, p.sku, p.category).payment_terms.allowed},
                             key=lambda t: t)
            never = [t for t in rule.when.payment_terms if t not in allowed]
            if never:
                none = len(never) == len(rule.when.payment_terms)
                out.append(FileIssue(catalog.source, row, "when.payment_terms",
                                     f"{', '.join(repr(t) for t in never)} {'is' if len(never) == 1 else 'are'} not "
                                     f"among the payment terms the policy allows for the products the rule covers "
                                     f"({', '.join(allowed)}): "
                                     + ("the rule never matches" if none else "that part never matches")))
        for field in ("deal_value_at_least", "deal_value_below"):
            amounts = getattr(rule.when, field)
            if amounts is None:
                continue
            missing: dict[str, list[str]] = {}
            for _, book in scope:
                if book.currency not in amounts:
                    missing.setdefault(book.currency, [])
                    if book.id not in missing[book.currency]:
                        missing[book.currency].append(book.id)
            if missing:
                books = "; ".join(f"{cur}: price book {', '.join(ids)}" for cur, ids in sorted(missing.items()))
                out.append(FileIssue(catalog.source, row, f"when.{field}",
                                     f"no amount in {', '.join(sorted(missing))}, so the rule never matches lines "
                                     f"priced in {'it' if len(missing) == 1 else 'them'} ({books})"))
    return out
