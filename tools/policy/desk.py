"""A `Desk` binds catalog, policy and one buyer context, and answers surfaces for any line.

It is the small facade the strategy, the CLI and the typed tools use, so
none of them re-implements the price -> policy chain. Surfaces are pure
functions of the desk and the line, so a desk remembers the ones it computed:
the seller keeps one desk per turn, where the strategy, the tools and the
guardrail ask for the same lines several times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tools.catalog.models import Catalog
from tools.policy.models import Policy
from tools.policy.surface import DecisionSurface, decision_surface
from tools.pricing.models import BuyerContext, PriceRequest


@dataclass(frozen=True)
class Desk:
    catalog: Catalog
    policy: Policy
    buyer: BuyerContext
    _surfaces: dict[tuple[str, int, str | None], DecisionSurface] = field(default_factory=dict, init=False,
                                                                         repr=False, compare=False)

    def surface(self, sku: str, quantity: int, payment_terms: str | None = None) -> DecisionSurface:
        key = (sku, quantity, payment_terms)
        found = self._surfaces.get(key)
        if found is None:
            ctx = self.buyer.model_dump()
            if payment_terms is not None:
                ctx["payment_terms"] = payment_terms
            found = decision_surface(self.catalog, self.policy, PriceRequest(sku=sku, quantity=quantity, **ctx))
            if len(self._surfaces) < 4096:
                self._surfaces[key] = found
        return found
