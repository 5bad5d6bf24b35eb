"""A `Desk` binds catalog, policy and one buyer context, and answers surfaces for any line.

It is the small facade the strategy, the CLI and the typed tools use, so
none of them re-implements the price -> policy chain. A surface is a pure
function of the catalog and policy objects, the buyer context and the line
(it prices with the catalog's on-hand stock, never the store's), so desks
over the same catalog and policy share one bounded memo of them: the seller
builds a desk per turn, and its turns, its guardrail and the playbook's
alternatives ask for the same lines again and again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from decimal import Decimal
from weakref import WeakKeyDictionary

from tools.catalog.models import Catalog
from tools.errors import DealdeskError
from tools.memo import BoundedMemo
from tools.policy.models import Policy
from tools.policy.surface import DecisionSurface, decision_surface
from tools.pricing.engine import order_value
from tools.pricing.models import BuyerContext, PriceRequest

MEMO_SIZE = 1024  # surfaces per catalog and policy, about 10 kB each
# catalog -> policy -> surfaces; weak keys, so a reloaded catalog or policy takes its surfaces with it.
_MEMOS: WeakKeyDictionary[Catalog, WeakKeyDictionary[Policy, BoundedMemo]] = WeakKeyDictionary()
_LOCK = threading.Lock()


def _memo(catalog: Catalog, policy: Policy) -> BoundedMemo:
    with _LOCK:
        memos = _MEMOS.setdefault(catalog, WeakKeyDictionary())
        memo = memos.get(policy)
        if memo is None:
            memo = memos[policy] = BoundedMemo(MEMO_SIZE)
        return memo


@dataclass(frozen=True)
class Desk:
    catalog: Catalog
    policy: Policy
    buyer: BuyerContext
    # The order's lines (sku, quantity) when several are priced together: deal-size rules then see the whole
    # order's value, as a quote's lines do (`tools/pricing/engine.order_value`); one line or none: its own.
    order: tuple[tuple[str, int], ...] = ()
    _surfaces: BoundedMemo = field(init=False, repr=False, compare=False)
    _context: tuple = field(init=False, repr=False, compare=False)
    _deal_value: Decimal | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_surfaces", _memo(self.catalog, self.policy))
        value = None
        if len(self.order) > 1:
            try:
                value = order_value(self.catalog, self.buyer.region, self.buyer.currency, self.order)
            except DealdeskError:  # a region or currency not served: each line is refused on its own
                value = None
        object.__setattr__(self, "_deal_value", value)
        # Every buyer field but the terms, which each call may override, and the order's value.
        object.__setattr__(self, "_context", (*(v for k, v in self.buyer if k != "payment_terms"), value))

    def surface(self, sku: str, quantity: int, payment_terms: str | None = None) -> DecisionSurface:
        terms = self.buyer.payment_terms if payment_terms is None else payment_terms
        key = (self._context, sku, quantity, terms)
        found = self._surfaces.get(key)
        if found is None:
            ctx = {**self.buyer.model_dump(), "payment_terms": terms}
            found = self._surfaces.put(key, decision_surface(self.catalog, self.policy,
                                                             PriceRequest(sku=sku, quantity=quantity, **ctx),
                                                             deal_value=self._deal_value))
        return found
