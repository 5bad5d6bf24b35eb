"""A `Desk` binds catalog, policy and one buyer context, and answers surfaces for any line.

It is the small stateless facade the strategy, the CLI and (later) the
typed tools use, so none of them re-implements the price -> policy chain.
"""

from __future__ import annotations

from dataclasses import dataclass

from tools.catalog.models import Catalog
from tools.policy.models import Policy
from tools.policy.surface import DecisionSurface, decision_surface
from tools.pricing.models import BuyerContext, PriceRequest


@dataclass(frozen=True)
class Desk:
    catalog: Catalog
    policy: Policy
    buyer: BuyerContext

    def surface(self, sku: str, quantity: int, payment_terms: str | None = None) -> DecisionSurface:
        ctx = self.buyer.model_dump()
        if payment_terms is not None:
            ctx["payment_terms"] = payment_terms
        return decision_surface(self.catalog, self.policy, PriceRequest(sku=sku, quantity=quantity, **ctx))
