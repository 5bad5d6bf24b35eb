"""The offline demo behind `dealdesk demo`: a scripted buyer haggles with the strategy, no server needed.

It shows what the seller bot will do on the wire: a quote at list, then
concessions along the aspiration curve, each offer with its approval level,
and the priced alternatives the playbook suggests.
"""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tools.catalog.models import Catalog
from tools.money import HUNDRED, ceil_money
from tools.policy.desk import Desk
from tools.policy.models import Policy
from tools.pricing.engine import today
from tools.pricing.models import BuyerContext
from tools.strategy.concession import plan
from tools.strategy.models import Offer


def scripted_buyer(list_price: Decimal, currency: str, rounds: int) -> list[Decimal]:
    """A simple buyer: anchors at 70 % of list and climbs 3 points a round."""
    return [ceil_money(list_price * (70 + 3 * i) / HUNDRED, currency) for i in range(rounds)]


def run_demo(console: Console, catalog: Catalog, policy: Policy, *, sku: str, quantity: int, region: str) -> None:
    desk = Desk(catalog, policy, BuyerContext(region=region, payment_terms=policy.doc.global_.payment_terms.default,
                                              on=today()))
    surface = desk.surface(sku, quantity)
    cur = surface.currency
    console.print(f"[bold]dealdesk demo[/bold]: {escape(catalog.vendor)}, {len(catalog)} products, offline model.\n"
                  + escape(f"A buyer asks for {quantity} x {sku} ({catalog.products[sku].name}) in {region}."),
                  highlight=False)
    table = Table("Round", "Buyer", "Seller move", "Unit price", "Level", "Alternatives")
    history = [Offer(side="buyer", quantity=quantity)]
    bids = scripted_buyer(surface.list_price, cur, surface.max_rounds + 1)
    for bid in [None, *bids]:
        if bid is not None:
            history.append(Offer(side="buyer", unit_price=bid, quantity=quantity))
        p = plan(surface, history, surface_for=desk.surface)
        move = p.recommended_move
        sent = p.move(p.standing) if p.standing else move
        alts = ", ".join(f"{m.kind.removeprefix('suggest_')} {m.sku} x{m.quantity} @ {m.unit_price}"
                         for m in p.moves if m.alternative)
        level = move.approval_level + (" (pending; standing offer " + str(sent.unit_price) + ")" if p.standing else "")
        table.add_row(str(p.round), f"{bid} {cur}" if bid else "RFQ", move.kind, f"{move.unit_price} {cur}", level, alts)
        if move.kind in ("accept", "final"):
            break
        history.append(Offer(side="seller", unit_price=sent.unit_price, list_price=sent.list_price, quantity=quantity))
    console.print(table, markup=False)  # cells are the vendor's data: [brackets] in a name are no markup
    console.print("Try: dealdesk price BRG-6204 --qty 500 --region EU   |   dealdesk policy explain BRG-6204 --qty 500 "
                  "--region EU   |   dealdesk catalog search bearing --spec bore_mm=20", highlight=False)
