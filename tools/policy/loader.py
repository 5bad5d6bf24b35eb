"""Load a policy file (YAML or JSON), all or nothing, checked against the catalog when given."""

from __future__ import annotations

import datetime as dt
import re
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tools.catalog.models import Catalog
from tools.datafile import DataFileError, FileIssue, field_path, is_item_echo, read_or_issue, unknown_field
from tools.money import HUNDRED, MINOR_UNITS, ceil_money, quantum, round_money
from tools.policy.models import Policy, PolicyFile, PolicyRules
from tools.policy.resolve import resolve
from tools.policy.rule_checks import rule_condition_warnings, rule_floor_warnings
from tools.pricing.engine import base_rate, brackets_for


class PolicyError(DataFileError):
    """A refused policy file, with every issue found in it."""


_FIELD_FIRST = re.compile(r"^Value error, ([a-z_]+): (.*)$", re.S)


def _issues(exc: ValidationError, file: str) -> list[FileIssue]:
    out = []
    for err in exc.errors():
        if is_item_echo(err):
            continue
        full = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        loc, row = full, ""
        if len(loc) >= 2 and loc[0] in ("categories", "products"):
            row, loc = f"{loc[0]}[{loc[1]}]", loc[2:]
        elif loc and loc[0] == "global":
            row, loc = "global", loc[1:]
        msg = unknown_field(PolicyFile, full) if err["type"] == "extra_forbidden" else err["msg"]
        named = _FIELD_FIRST.match(msg) if not loc else None  # a check across fields names its field first
        if named and named[1] in PolicyRules.model_fields:
            loc, msg = (named[1],), named[2]
        out.append(FileIssue(file, row, field_path(loc), msg.removeprefix("Value error, ")))
    return out


_MONEY = ("floor_price", "target_price", "autonomy_max_deal_value")


def precision_issues(doc: PolicyFile, file: str) -> list[FileIssue]:
    """Money with more decimals than its currency has (2.005 USD) is refused, as the catalog refuses it: rounding it
    silently would make the file say one figure and the seller use another."""
    out = []
    levels = [("global", doc.global_), *((f"categories[{k}]", r) for k, r in doc.categories.items()),
              *((f"products[{k}]", r) for k, r in doc.products.items())]
    for row, rules in levels:
        for field in _MONEY:
            for cur, amount in (getattr(rules, field) or {}).items():
                if amount != amount.quantize(quantum(cur)):
                    digits = MINOR_UNITS[cur]
                    out.append(FileIssue(file, row, f"{field}.{cur}",
                                         f"{amount} has more decimals than {cur} allows ({digits} decimal"
                                         f"{'s' if digits != 1 else ''}); write it on the minor unit"))
    return out


def _currencies_for(catalog: Catalog, skus: list[str]) -> set[str]:
    return {catalog.price_books[b].currency for s in skus for b in catalog.products[s].prices}


def cross_check(doc: PolicyFile, catalog: Catalog, file: str) -> list[FileIssue]:
    """References to unknown categories or SKUs, and per-currency money missing a currency."""
    issues = []
    scopes: list[tuple[str, PolicyRules, list[str]]] = [("global", doc.global_, list(catalog.products))]
    for cat, rules in doc.categories.items():
        skus = [s for s, p in catalog.products.items() if p.category == cat]
        if not skus:
            issues.append(FileIssue(file, f"categories[{cat}]", "", f"unknown category {cat!r}"))
        scopes.append((f"categories[{cat}]", rules, skus))
    for sku, rules in doc.products.items():
        if sku not in catalog.products:
            issues.append(FileIssue(file, f"products[{sku}]", "", f"unknown SKU {sku!r}"))
            continue
        scopes.append((f"products[{sku}]", rules, [sku]))
    policy = Policy(doc, source=file)
    for sku, product in catalog.products.items():
        eff = resolve(policy, sku, product.category)
        if eff.max_order_quantity is not None and eff.moq > eff.max_order_quantity:
            issues.append(FileIssue(file, f"products[{sku}]", "moq",
                                    f"MOQ {eff.moq} ({eff.source('moq')}) is above max_order_quantity "
                                    f"{eff.max_order_quantity} ({eff.source('max_order_quantity')})"))
    for row, rules, skus in scopes:
        needed = _currencies_for(catalog, skus)
        for field in ("floor_price", "target_price", "autonomy_max_deal_value"):
            money = getattr(rules, field)
            if money is None:
                continue
            for cur in sorted(needed - set(money)):
                issues.append(FileIssue(file, row, f"{field}.{cur}", f"missing amount in {cur}"))
    return issues


def _written_at(source: str, setting: str) -> str:
    """The issue row of the level a setting was written at: `policy.categories[motors].moq` -> `categories[motors]`."""
    return source.removeprefix("policy.").removesuffix(f".{setting}")


def _floors(eff: Any, product: Any, cur: str) -> list[tuple[str, str, Any, str]]:
    """The floors a product's effective settings write in `cur`: (setting, field, floor, the words that say it,
    ending where a sentence goes on with "above ...")."""
    out = []
    if eff.floor_price is not None and cur in eff.floor_price:
        floor = ceil_money(eff.floor_price[cur], cur)
        out.append(("floor_price", f"floor_price.{cur}", floor, f"floor price {floor} {cur} is"))
    if eff.min_margin_percent is not None and cur in product.cost:
        cost, margin = product.cost[cur], eff.min_margin_percent
        floor = ceil_money(cost / (1 - margin / HUNDRED), cur)
        out.append(("min_margin_percent", "min_margin_percent", floor,
                    f"the floor of a {margin}% margin on the cost {cost} {cur} is {floor} {cur},"))
    return out


def tier_floor_warnings(policy: Policy, catalog: Catalog, file: str) -> list[FileIssue]:
    """Floors above a volume tier's price (not at quantity 1, which `list_price_issues` refuses): allowed, since a
    vendor may mean a floor to hold on big orders, but buyers ordering that much are then quoted the floor, above
    the tier's list price (the surface lists them the floor). One warning per product, price book and floor
    setting, at the first tier the floor is above (the later tiers are cheaper still)."""
    out = []
    for sku, product in catalog.products.items():
        eff = resolve(policy, sku, product.category)
        for book_id, prices in product.prices.items():
            book = catalog.price_books[book_id]
            mode = catalog.tier_mode(product, book)
            for setting, field, floor, written in _floors(eff, product, book.currency):
                start = _first_quantity_below(prices.schedule, mode, floor, book.currency)
                if start is None:
                    continue
                out.append(FileIssue(file, _written_at(eff.source(setting), setting), field,
                                     f"{written} above the list price of {sku} in price book {book_id} ({mode} tiers) "
                                     f"from {start} units ({_rate(prices.schedule, mode, start, book.currency)} "
                                     f"{book.currency} there): orders of {start} or more are quoted the floor, above "
                                     f"their list price"))
    return out


def policy_warnings(policy: Policy, catalog: Catalog, file: str, *, on: dt.date | None = None) -> list[FileIssue]:
    """What a valid policy does that its author may not mean, for `policy validate` to print: a floor above a
    higher tier (`tier_floor_warnings`), pricing rules that take a buyer's price under the floor and rule conditions
    that never match (`rule_checks`, from the pricing date `on`, today by default), a target below the floor (the
    seller then aims at the floor), a maximum discount at or below the chain's first level (every offer up to it is
    approved at that level: no offer goes to the levels above) and one above its last (cut to the last level's)."""
    out = tier_floor_warnings(policy, catalog, file)
    out += rule_floor_warnings(policy, catalog, file, on=on)
    out += rule_condition_warnings(policy, catalog)
    doc = policy.doc
    for sku, product in catalog.products.items():
        eff = resolve(policy, sku, product.category)
        for book_id, prices in product.prices.items():
            cur = catalog.price_books[book_id].currency
            if eff.target_price is None or cur not in eff.target_price:
                continue
            target = ceil_money(eff.target_price[cur], cur)
            for setting, _field, floor, written in _floors(eff, product, cur):
                if target < floor:
                    out.append(FileIssue(file, _written_at(eff.source("target_price"), "target_price"),
                                         f"target_price.{cur}", f"target price {target} {cur} of {sku} is below the "
                                         f"{written.removesuffix(' is').removesuffix(',')}: the seller aims at "
                                         f"the floor"))
    seen: set[str] = set()
    for sku, product in catalog.products.items():
        eff = resolve(policy, sku, product.category)
        written = next((rules.approval_chain for rules in (doc.products.get(sku), doc.categories.get(product.category),
                                                           doc.global_) if rules is not None and rules.approval_chain),
                       None)
        cap_at = _written_at(eff.source("max_discount_percent"), "max_discount_percent")
        if not written or len(written) < 2 or eff.max_discount_percent > written[0].max_discount_percent \
                or cap_at in seen:
            continue
        seen.add(cap_at)
        out.append(FileIssue(file, cap_at, "max_discount_percent",
                             f"max_discount_percent {eff.max_discount_percent} (for {sku} and any product it covers) "
                             f"is at or below the first approval level {written[0].name!r} "
                             f"({written[0].max_discount_percent}%): every offer is approved at that level, none "
                             f"goes to {', '.join(repr(lv.name) for lv in written[1:])}"))
    out += _cap_above_chain(policy, catalog, file)
    return out


def _cap_above_chain(policy: Policy, catalog: Catalog, file: str) -> list[FileIssue]:
    """A `max_discount_percent` above the approval chain's last level is cut to that level (no level may grant more):
    once per level that writes such a cap."""
    out, seen = [], set()
    for sku, product in catalog.products.items():
        for prefix, rules in policy.levels(sku, product.category):
            if rules.max_discount_percent is None:
                continue
            row = prefix.removeprefix("policy.")
            eff = resolve(policy, sku, product.category)
            last = eff.approval_chain[-1]
            if rules.max_discount_percent > last.max_discount_percent and row not in seen \
                    and eff.source("max_discount_percent") == eff.source("approval_chain"):
                seen.add(row)
                out.append(FileIssue(file, row, "max_discount_percent",
                                     f"max_discount_percent {rules.max_discount_percent} is above the last approval "
                                     f"level {last.name!r} ({last.max_discount_percent}%, "
                                     f"{eff.source('approval_chain')}) for {sku} and any product it covers: no level "
                                     f"may grant more, so the maximum discount is {last.max_discount_percent}%"))
            break  # the most specific level that writes the cap is the one in force
    return out


def _rate(schedule: Any, mode: str, quantity: int, currency: str) -> Decimal:
    """The list unit price of `quantity` before rules as it is quoted: on the currency's minor unit (a slab blend
    rounded half-up, as the engine rounds it)."""
    return round_money(base_rate(brackets_for(schedule, quantity, mode)[0]), currency)


def _first_quantity_below(schedule: Any, mode: str, floor: Decimal, currency: str, most: int = 10**9) -> int | None:
    """The smallest quantity above 1 whose quoted list unit price (rounded) is below `floor`, or None (list prices
    never rise with the quantity, in range or slab mode, nor do they rounded, so a bisection finds it)."""
    def below(q: int) -> bool:
        return _rate(schedule, mode, q, currency) < floor
    if not below(most):
        return None
    if below(2):
        return 2
    lo, hi = 2, most  # below(lo) is False, below(hi) is True
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if below(mid) else (mid, hi)
    return hi


def list_price_issues(policy: Policy, catalog: Catalog, file: str) -> list[FileIssue]:
    """Floors and targets above a product's list price at quantity 1, price book by price book.

    The seller opens at the higher of the list price and the walk-away price, so a floor above the
    list price is quoted on its own (26.50 EUR for a 3.50 EUR bearing), and a target above it is no
    target. Each is reported at the level that writes it (`products[BRG-6204]`, field
    `floor_price.EUR`), naming the product, the price book and both figures. A floor above a higher
    volume tier only is legitimate (a big order's tier price may fall below the floor: the seller then
    quotes the floor for it): no error here, a warning of `tier_floor_warnings`.
    """
    issues = []
    for sku, product in catalog.products.items():
        eff = resolve(policy, sku, product.category)
        for book_id, prices in product.prices.items():
            cur = catalog.price_books[book_id].currency
            list_price = prices.list  # the price of the first tier: quantity 1
            where = f"the list price {list_price} {cur} of {sku} in price book {book_id} (quantity 1)"
            found: list[tuple[str, str, str]] = []  # (setting, field, message)
            for setting, field, floor, written in _floors(eff, product, cur):
                if floor > list_price:
                    found.append((setting, field, f"{written} above {where}: the seller would quote the floor"))
            if eff.target_price is not None and cur in eff.target_price:
                target = ceil_money(eff.target_price[cur], cur)
                if target > list_price:
                    found.append(("target_price", f"target_price.{cur}",
                                  f"target price {target} {cur} is above {where}"))
            for setting, field, message in found:
                issues.append(FileIssue(file, _written_at(eff.source(setting), setting), field, message))
    return issues


def parse_policy(data: Any, *, file: str = "<memory>", catalog: Catalog | None = None,
                 check_list_prices: bool = False, check_precision: bool = False) -> Policy:
    """Validate already-parsed data into a `Policy`, or raise `PolicyError`.

    With `catalog`, also check the policy against it: its references and its per-currency amounts and,
    with `check_list_prices`, its floors and targets against the list prices (`list_price_issues`), as
    `load_policy` always does for a policy file; with `check_precision`, its money on the currency's minor unit
    (`precision_issues`), as `load_policy` also always does. (Both off by default for data built in code:
    tests/gen.py's random policies do not keep their floors and targets under the list prices, nor on the grid;
    the surface rounds such figures up.)
    """
    if not isinstance(data, dict):
        raise PolicyError([FileIssue(file, "", "", "the file must hold a mapping at the top level")])
    try:
        doc = PolicyFile.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(_issues(exc, file)) from None
    precision = precision_issues(doc, file) if check_precision else []
    if precision:
        raise PolicyError(precision)
    policy = Policy(doc, source=file)
    if catalog is not None:
        issues = cross_check(doc, catalog, file)
        if check_list_prices:
            issues += list_price_issues(policy, catalog, file)
        if issues:
            raise PolicyError(issues)
    return policy


def load_policy(path: str | Path, catalog: Catalog | None = None) -> Policy:
    """Load and validate a policy file; with `catalog`, also check its references, amounts and list prices."""
    path = Path(path)
    try:
        data, _ = read_or_issue(path, (".yaml", ".yml", ".json"))
    except DataFileError as exc:
        raise PolicyError(exc.issues) from None
    return parse_policy(data, file=str(path), catalog=catalog, check_list_prices=True, check_precision=True)


class PolicyHolder:
    """The policy in force. A failed reload leaves the previous one in place."""

    def __init__(self, policy: Policy | None = None):
        self._policy = policy
        self._lock = threading.Lock()

    @property
    def policy(self) -> Policy:
        if self._policy is None:
            raise RuntimeError("no policy loaded")
        return self._policy

    def load(self, path: str | Path, catalog: Catalog | None = None) -> Policy:
        fresh = load_policy(path, catalog)
        with self._lock:
            self._policy = fresh
        return fresh
