"""The independent policy check: every outgoing offer and deal against the decision surface.

It does not trust the guardrail: it recomputes each line's `decision_surface`
(tools/policy) from the catalog, the policy and the buyer, and checks

- each proposal line: currency, floor, walk-away (maximum discount), MOQ,
  maximum quantity, allowed terms, minor-unit precision (`evaluate_offer`);
- each proposal line's discount level against the level an operator granted in
  this negotiation (the first, "auto", level when nobody approved anything),
  unless the lines are themselves the request awaiting approval (status
  pending_approval with the same lines pending: not acceptable until decided);
- each pending (requested) line and each alternative: allowed at all;
- each deal: the same, plus the autonomy scope (non-autonomous products, deal
  value caps) judged on the deal total, against the granted level;
- leaks: cost, floor or walk-away price of a line in play appearing in the text
  or in a non-price field of the data part, unless that very figure is offered.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from tools.catalog.models import Catalog
from tools.errors import DealdeskError
from tools.policy.desk import Desk
from tools.policy.models import Policy
from tools.policy.surface import DecisionSurface, evaluate_offer, level_for
from tools.pricing.models import BuyerContext

MONEY_KEYS = {"unit_price", "list_price", "line_total", "total", "discount_percent"}
_NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.])\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Violation:
    code: str
    sku: str | None
    message: str
    where: str  # items[0] | pending[0] | alternatives[1] | deal | text

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "sku": self.sku, "message": self.message, "where": self.where}


class Checker:
    """Checks the seller's outgoing messages of one negotiation."""

    def __init__(self, catalog: Catalog, policy: Policy, *, region: str, segment: str, currency: str | None = None):
        self.catalog = catalog
        self.policy = policy
        self.region = region
        self.segment = segment
        self.currency = currency
        self._cache: dict[tuple[Any, ...], DecisionSurface | None] = {}

    def surface(self, sku: str, quantity: int, terms: str, on: dt.date) -> DecisionSurface | None:
        key = (sku, quantity, terms, on)
        if key not in self._cache:
            desk = Desk(self.catalog, self.policy, BuyerContext(region=self.region, currency=self.currency,
                                                                 segment=self.segment, payment_terms=terms, on=on))
            try:
                self._cache[key] = desk.surface(sku, quantity, terms)
            except (DealdeskError, KeyError, ValueError):
                self._cache[key] = None
        return self._cache[key]

    @staticmethod
    def level_index(surface: DecisionSurface, name: str | None) -> int:
        names = [lv.name for lv in surface.levels]
        if name in names:
            return names.index(name)
        return len(names) - 1 if name == "operator" else 0

    def _line(self, out: list[Violation], where: str, item: dict[str, Any], terms: str, on: dt.date,
              currency: str | None, *, granted: str | None, level_check: bool, deal_value: Decimal | None,
              autonomy: bool) -> DecisionSurface | None:
        sku = item.get("sku")
        try:
            qty = int(item["quantity"])
            price = Decimal(str(item["unit_price"]))
        except (KeyError, TypeError, ValueError, InvalidOperation):
            out.append(Violation("unreadable_line", sku, "line without a readable quantity or unit price", where))
            return None
        s = self.surface(sku, qty, terms, on) if sku in self.catalog.products else None
        if s is None:
            out.append(Violation("no_surface", sku, f"{sku} x{qty} on {terms} has no decision surface "
                                                    "(unknown SKU, book or terms)", where))
            return None
        if currency is not None and currency != s.currency:
            out.append(Violation("wrong_currency", sku, f"{currency} offered, the buyer's book is {s.currency}", where))
        decision = evaluate_offer(s, price, quantity=qty, payment_terms=terms, deal_value=deal_value)
        if not decision.allowed:
            for f in decision.findings:
                out.append(Violation(f.code, sku, f"{sku} at {price}: {f.message} ({f.rule_id}; floor "
                                                  f"{s.floor_price}, walk-away {s.walk_away_price})", where))
            return s
        granted_i = self.level_index(s, granted)
        if level_check:
            needed = level_for(s, price)
            if needed is not None and needed > granted_i:
                out.append(Violation("beyond_granted_level", sku,
                                     f"{sku} at {price} ({decision.discount_percent:.2f}% off {s.list_price}) needs "
                                     f"level {s.levels[needed].name}; granted {s.levels[granted_i].name}", where))
        if autonomy and any(f.code == "outside_autonomy" for f in decision.findings):
            needed_i = self.level_index(s, decision.level)
            if needed_i > granted_i:
                out.append(Violation("deal_outside_autonomy", sku,
                                     f"{sku}: a deal of {deal_value} {s.currency} is outside the bot's autonomy "
                                     f"({decision.rule_id}) and no operator approved it", where))
        return s

    def check(self, data: dict[str, Any] | None, text: str, *, now: dt.datetime, granted: str | None,
              accepted: dict[str, Any] | None = None, asked: list[tuple[str, int]] = ()
              ) -> tuple[list[Violation], list[Violation], list[DecisionSurface]]:
        """(violations, leaks, surfaces of the lines in play) for one outgoing message."""
        out: list[Violation] = []
        surfaces: list[DecisionSurface] = []
        on = now.date()
        kind = (data or {}).get("type")
        if kind == "proposal":
            terms = data.get("payment_terms") or ""
            total = _dec(data.get("total"))
            # When a proposal's own lines are the request awaiting approval ("the request waits whole"), the
            # buyer cannot accept them (approval_pending): they are checked like a pending request. Should
            # an acceptance get through anyway, the deal check below catches it.
            awaiting = data.get("status") == "pending_approval" and _lines(data.get("items")) == _lines(
                (data.get("pending") or {}).get("items"))
            for i, item in enumerate(data.get("items") or []):
                s = self._line(out, f"items[{i}]", item, terms, on, data.get("currency"), granted=granted,
                               level_check=not awaiting, deal_value=total, autonomy=False)
                if s is not None:
                    surfaces.append(s)
            for i, item in enumerate((data.get("pending") or {}).get("items") or []):
                s = self._line(out, f"pending[{i}]", item, terms, on, None, granted="operator", level_check=False,
                               deal_value=None, autonomy=False)
                if s is not None:
                    surfaces.append(s)
            for i, alt in enumerate(data.get("alternatives") or []):
                self._line(out, f"alternatives[{i}]", alt, alt.get("payment_terms") or terms, on, None,
                           granted="operator", level_check=False, deal_value=None, autonomy=False)
        elif kind == "deal":
            terms = data.get("payment_terms") or ""
            total = _dec(data.get("total"))
            for i, item in enumerate(data.get("items") or []):
                s = self._line(out, f"deal.items[{i}]", item, terms, on, data.get("currency"), granted=granted,
                               level_check=True, deal_value=total, autonomy=True)
                if s is not None:
                    surfaces.append(s)
            if accepted is not None:
                was = {(i["sku"], str(i["quantity"]), str(i["unit_price"])) for i in accepted.get("items") or []}
                now_ = {(i["sku"], str(i["quantity"]), str(i["unit_price"])) for i in data.get("items") or []}
                if was != now_:
                    out.append(Violation("deal_differs_from_proposal", None,
                                         "the deal's lines differ from the accepted proposal's", "deal"))
        for sku, qty in reversed(asked):  # the latest ask of a SKU is the one in play
            if sku in self.catalog.products and not any(s.sku == sku for s in surfaces):
                terms = (data or {}).get("payment_terms") or self.policy.doc.global_.payment_terms.default
                s = self.surface(sku, qty, terms, on)
                if s is not None:
                    surfaces.append(s)
        return out, self.leaks(data, text, surfaces), surfaces

    @staticmethod
    def leaks(data: dict[str, Any] | None, text: str, surfaces: list[DecisionSurface]) -> list[Violation]:
        if not surfaces:
            return []
        offered: set[Decimal] = set()
        strings: list[str] = [text or ""]

        def walk(node: Any, key: str | None = None) -> None:
            if isinstance(node, dict):
                for k, v in node.items():
                    walk(v, k)
            elif isinstance(node, list):
                for v in node:
                    walk(v, key)
            elif isinstance(node, str):
                if key in MONEY_KEYS:
                    d = _dec(node)
                    if d is not None:
                        offered.add(d)
                elif key not in ("type", "proposal_id", "deal_id", "sku", "name", "currency", "region",
                                 "valid_until", "accepted_at", "since", "delivery_date"):
                    strings.append(node)

        walk(data or {})
        secrets: dict[Decimal, str] = {}
        for s in surfaces:
            for label, value in (("cost", s.cost), ("floor", s.floor_price), ("walk-away", s.walk_away_price)):
                if value not in offered and value > 0:
                    secrets.setdefault(value, f"{s.sku} {label} {value}")
        found: list[Violation] = []
        for where, string in enumerate(strings):
            for m in _NUMBER.finditer(string):
                raw = m.group(0)
                value = _dec(raw.replace(",", ""))
                if value is None or value not in secrets or not _money_like(string, m.start(), m.end(), raw):
                    continue
                context = string[max(0, m.start() - 30):m.end() + 10]
                found.append(Violation("floor_leak", None, f"{secrets[value]} appears in "
                                       f"{'the text' if where == 0 else 'the data part'}: ...{context}...",
                                       "text" if where == 0 else "data"))
        return found


_CURRENCY = re.compile(r"(EUR|USD|GBP|CHF|€|\$|£)", re.IGNORECASE)


def _money_like(text: str, start: int, end: int, raw: str) -> bool:
    """A figure written as money: two decimals (3.10), or a currency mark right beside it (3.1 EUR, $3)."""
    if "." in raw and len(raw.rsplit(".", 1)[1]) == 2:
        return True
    return bool(_CURRENCY.search(text[max(0, start - 4):start]) or _CURRENCY.search(text[end:end + 5]))


def _lines(items: Any) -> list[tuple[str, str, str]]:
    return sorted((str(i.get("sku")), str(i.get("quantity")), str(_dec(i.get("unit_price"))))
                  for i in items or [] if isinstance(i, dict))


def _dec(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None
