"""Questions the seller answers from the policy with no model: a product's volume breaks, its order limits, the
terms a proposal is made on, and what the prices include (the buyer's price book: delivery, taxes).

Each answer is the reply's words about one product, the facts the guardrail traces its figures to, the
figures its decision record keeps, and its part of the reply's `answer` data part (agent/contract.py): a
`ProductAnswer`, a `TermsAnswer` or the `PriceBasis`, as wire JSON. The graph asks them in `prepare`
(agent/graph.py) and joins the products' answers into one reply; a product the desk cannot quote raises the
desk's typed error, which the graph says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from agent.contract import PriceBasis, PriceBreak, ProductAnswer, TermsAnswer
from agent.guardrail.text import Fact, facts_from_own_text
from agent.playbook import currency_text, order_limits_text, price_basis_text, price_breaks_text, terms_text
from tools.catalog.models import Catalog, PriceBook
from tools.policy.breaks import price_breaks
from tools.policy.desk import Desk


@dataclass
class Answered:
    text: str
    facts: list[Fact] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    part: tuple[str, dict[str, Any]] | None = None  # (the `answer` message's field, the entry): ("products", {...})


def product_part(sku: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    """A `ProductAnswer` as wire JSON (decimal strings), only the fields given."""
    return "products", ProductAnswer(sku=sku, **fields).model_dump(mode="json", exclude_none=True)


def breaks_answer(desk: Desk, sku: str, quantity: int | None = None) -> Answered:
    """`sku`'s volume breaks for the desk's buyer (tools/policy/breaks.py) and, with `quantity`, the price a
    proposal for that quantity opens at, or the order maximum it passes."""
    pb = price_breaks(desk, sku)
    asked = None
    if quantity:
        fits = pb.moq <= quantity and (pb.max_order_quantity is None or quantity <= pb.max_order_quantity)
        asked = (quantity, desk.surface(sku, quantity).opening_price if fits else None)
    where = f"price_breaks:{sku}"
    facts = [Fact("terms", pb.payment_terms, f"{where}.payment_terms"),
             Fact("quantity", Decimal(pb.moq), f"{where}.moq")]
    if pb.max_order_quantity is not None:
        facts.append(Fact("quantity", Decimal(pb.max_order_quantity), f"{where}.max_order_quantity"))
    for b in pb.breaks:
        facts += [Fact("quantity", Decimal(b.quantity), f"{where}.quantity"),
                  Fact("money", b.unit_price, f"{where}.unit_price", pb.currency)]
    figures: dict[str, Any] = {"currency": pb.currency, "payment_terms": pb.payment_terms, "tier_mode": pb.tier_mode,
                               "breaks": [{"quantity": b.quantity, "offer": b.unit_price} for b in pb.breaks]}
    if asked is not None:
        facts.append(Fact("quantity", Decimal(asked[0]), "question.quantity"))
        if asked[1] is not None:
            facts.append(Fact("money", asked[1], f"{where}.asked.unit_price", pb.currency))
        figures["asked"] = {"quantity": asked[0], "offer": asked[1]}
    part = product_part(sku, currency=pb.currency, payment_terms=pb.payment_terms,
                        price_breaks=[PriceBreak(quantity=b.quantity, unit_price=b.unit_price) for b in pb.breaks],
                        moq=pb.moq, max_order_quantity=pb.max_order_quantity,
                        **({"quantity": asked[0], "unit_price": asked[1]} if asked is not None else {}))
    return Answered(price_breaks_text(pb, asked), facts, figures, part)


def limits_answer(desk: Desk, sku: str) -> Answered:
    """`sku`'s minimum order, the most one order may have and the most one buyer may hold, from the surface
    an rfq for it is checked against."""
    surface = desk.surface(sku, 1)
    limits = {"moq": surface.moq, "max_order_quantity": surface.max_order_quantity,
              "max_hold_units": surface.max_hold_units}
    facts = [Fact("quantity", Decimal(v), f"surface:{sku}.{k}") for k, v in limits.items() if v is not None]
    return Answered(order_limits_text(sku, surface.moq, surface.max_order_quantity, surface.max_hold_units), facts,
                    limits, product_part(sku, **limits))


def terms_answer(allowed: tuple[str, ...], default: str, fixed: dict[str, str], skus: list[str]) -> Answered:
    """The payment terms one may ask for and the terms every proposal states: the policy's, or those of the
    products `skus` (which share them)."""
    where = f"surface:{skus[0]}" if skus else "policy.global"
    facts = [Fact("id", sku, "question.sku") for sku in skus] + \
        [Fact("terms", t, f"{where}.payment_terms") for t in allowed] + \
        [Fact("id", v, f"{where}.non_negotiable_terms.{k}") for k, v in fixed.items()]
    part = TermsAnswer(skus=skus, payment_terms=list(allowed), default_payment_terms=default, terms=dict(fixed))
    return Answered(terms_text(allowed, default, fixed, skus), facts,
                    {"skus": skus, "payment_terms": list(allowed), "default_terms": default, "terms": dict(fixed)},
                    ("terms", part.model_dump(mode="json")))


def currency_answer(catalog: Catalog, region: str, currency: str | None, asked: str | None) -> Answered | None:
    """Which currency the buyer's prices are in ("what is your price in USD?"): the currencies of the price books
    for its `region`, the one it buys in (its organisation's `currency`, else its region's book's, as an rfq is
    checked), and whether the currency `asked` is offered to it. None when no book serves the region. No money is
    converted, and no figure said but the region's own (an id)."""
    offered = sorted({b.currency for b in catalog.price_books.values() if b.region == region})
    book = catalog.book_for(region, currency)
    buys_in = currency or (book.currency if book is not None else None)
    if buys_in is None or not offered:
        return None
    if buys_in not in offered:
        offered.append(buys_in)
    figures = {"region": region, "currencies": offered, "currency": buys_in, "asked": asked}
    return Answered(currency_text(region, offered, buys_in, asked), [Fact("id", region, "buyer.region")], figures)


def price_basis_answer(book: PriceBook) -> Answered | None:
    """What the buyer's prices include, as the vendor's price book says it ("DAP from the Rotterdam warehouse, EUR
    excl. VAT": delivery and taxes); None when the book says nothing. Its figures, if any, are the catalog's."""
    if not book.description.strip():
        return None
    text = price_basis_text(book.description)
    basis = {"price_book": book.id, "description": book.description}
    source = f"price_book:{book.id}.description"  # the vendor's words, said verbatim ("free delivery from ...")
    return Answered(text, [Fact("id", book.description, source), *facts_from_own_text(book.description, source)], basis,
                    ("price_basis", PriceBasis(**basis).model_dump(mode="json")))
