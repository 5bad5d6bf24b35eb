"""What the offline parser may know besides a text (`TextContext`), and the limits it reads numbers within."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tools.catalog.models import Catalog


MAX_QUANTITY = 10_000_000
MAX_PRICE = Decimal("1e12")
MAX_NOTES = 40
_NOTE_CHARS = 200
_REASON_CHARS = 1000


@dataclass(frozen=True)
class TextContext:
    """What the parser may know besides the text: the catalog and the lines the text may refer to: the
    negotiation's current proposal, a data part's items beside the text, or with neither the products the buyer
    named last (`topic`: agent/topic.py), so that "500 then" has a product."""

    catalog: Catalog
    proposal_id: str | None = None       # the negotiation's current proposal, if any
    proposal_version: int | None = None
    proposal_skus: tuple[str, ...] = ()  # SKUs (and quantities) of those lines, in order
    proposal_quantities: tuple[int | None, ...] = ()
    proposal_prices: tuple[Decimal, ...] = ()  # its offered unit prices, in the same order (a discount's base)
    proposal_asks: tuple[Decimal | None, ...] = ()  # the buyer's last asked unit price on each line (a midpoint's)
    proposal_terms: str | None = None    # its payment terms, while it is offered
    topic: bool = False                  # the lines are the products the buyer named last (no proposal stands)
    region: str | None = None            # buyer's region/currency when known
    currency: str | None = None
