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
from weakref import WeakKeyDictionary

from tools.catalog.models import Catalog
from tools.memo import BoundedMemo
from tools.policy.models import Policy
from tools.policy.surface import DecisionSurface, decision_surface
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
    _surfaces: BoundedMemo = field(init=False, repr=False, compare=False)
    _context: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_surfaces", _memo(self.catalog, self.policy))
        # Every buyer field but the terms, which each call may override.
        object.__setattr__(self, "_context", tuple(v for k, v in self.buyer if k != "payment_terms"))

    def surface(self, sku: str, quantity: int, payment_terms: str | None = None) -> DecisionSurface:
        terms = self.buyer.payment_terms if payment_terms is None else payment_terms
        key = (self._context, sku, quantity, terms)
        found = self._surfaces.get(key)
        if found is None:
            ctx = {**self.buyer.model_dump(), "payment_terms": terms}
            found = self._surfaces.put(key, decision_surface(self.catalog, self.policy,
                                                             PriceRequest(sku=sku, quantity=quantity, **ctx)))
        return found
