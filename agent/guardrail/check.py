"""The guardrail verdict: a pure check of one outgoing message against policy, pricing and the round's moves.

Data and behaviour are separate (as in the OpenAI Agents SDK's guardrails): this
module only returns a `Verdict` listing each violation with its rule id; the
graph's guardrail node decides what happens (revise, or fall back to a safe
reply). It re-derives every limit from the decision surface, whatever the
model, the tools or the strategy claimed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from agent.contract import SELLER_MESSAGE, Answer, Deal, Proposal
from agent.guardrail.text import Fact, Secret, check_text, facts_from_proposal
from tools.errors import DealdeskError
from tools.memo import BoundedMemo
from tools.money import quantum, round_percent
from tools.policy.surface import DecisionSurface
from tools.strategy.models import Move

SurfaceFn = Callable[[str, int, str], DecisionSurface]


class Violation(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule_id: str
    code: str
    message: str
    field: str | None = None


class Verdict(BaseModel):
    """The guardrail's answer. `tripwire` is set when the message must not be sent."""

    model_config = ConfigDict(frozen=True)

    tripwire: bool
    violations: list[Violation]
    checks: list[str]

    @property
    def passed(self) -> bool:
        return not self.tripwire


@dataclass
class GuardContext:
    """What the message is checked against."""

    region: str
    currency: str | None
    surface_for: SurfaceFn
    moves: Sequence[Move]  # every move the strategy generated this round
    granted_level: str | None = None  # approval level actually granted; None = the first (auto) level
    available: dict[str, int] = field(default_factory=dict)  # stock this proposal may use, by SKU
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))
    tool_facts: Sequence[Fact] = ()
    accepted: Proposal | None = None  # for a deal message: the proposal version accepted
    in_play: Sequence[DecisionSurface] = ()  # lines discussed this turn: their internals are secrets too


def _v(out: list[Violation], rule: str, code: str, message: str, fld: str | None = None) -> None:
    out.append(Violation(rule_id=rule, code=code, message=message, field=fld))


def secrets_of(surfaces: Sequence[DecisionSurface]) -> list[Secret]:
    """Figures the text must never reveal: cost, floor, walk-away, approval limits, policy percentages."""
    out: list[Secret] = []
    for s in surfaces:
        out += _surface_secrets(s)
    return out


# The secrets of each surface, by identity: the desk hands out one shared, frozen surface per line and buyer
# context, so the same few come back turn after turn. An entry holds its surface, so the id is not reused.
# id(surface) -> (the surface, its secrets)
_SECRETS = BoundedMemo(1024)


def _surface_secrets(s: DecisionSurface) -> tuple[Secret, ...]:
    hit = _SECRETS.get(id(s))
    if hit is not None and hit[0] is s:
        return hit[1]
    cur = s.currency
    secrets = [Secret("cost", s.cost, cur), Secret("floor", s.floor_price, cur),
               Secret("walk_away", s.walk_away_price, cur), Secret("target", s.target_price, cur),
               Secret("max_discount", s.max_discount_percent)]
    for level in s.levels:
        secrets += [Secret("approval_limit", level.min_unit_price, cur),
                    Secret("approval_limit", level.max_discount_percent)]
    return _SECRETS.put(id(s), (s, tuple(secrets)))[1]


def _check_proposal(p: Proposal, ctx: GuardContext, out: list[Violation]) -> list[DecisionSurface]:
    surfaces: list[DecisionSurface] = []
    if p.region != ctx.region:
        _v(out, "guardrail.buyer.region", "wrong_region", f"proposal region {p.region} is not the buyer's {ctx.region}",
           "region")
    if ctx.currency and p.currency != ctx.currency:
        _v(out, "guardrail.buyer.currency", "wrong_currency",
           f"proposal currency {p.currency} is not the buyer's {ctx.currency}", "currency")
    # The moves by (sku, quantity, unit price, terms), one lookup per line (Dec fields are finite: == and hash
    # agree): True when a move with that key is not an alternative. An offered line must be such a move; an
    # alternative or a pending line may be any move.
    moves: dict[tuple[str, int, Decimal, str], bool] = {}
    for m in ctx.moves:
        key = (m.sku, m.quantity, m.unit_price, m.payment_terms)
        if not m.alternative:
            moves[key] = True
        else:
            moves.setdefault(key, False)
    total = Decimal(0)
    for i, item in enumerate(p.items):
        where = f"items[{i}]"
        try:
            s = ctx.surface_for(item.sku, item.quantity, p.payment_terms)
        except DealdeskError as exc:
            _v(out, "guardrail.item.priceable", exc.code, f"{item.sku}: {exc.message}", where)
            continue
        surfaces.append(s)
        r = s.rule_ids
        price = item.unit_price
        if s.currency != p.currency:
            _v(out, "guardrail.buyer.currency", "wrong_currency", f"{item.sku} is priced in {s.currency}", where)
        if price != price.quantize(quantum(s.currency)):
            _v(out, "money.minor_unit", "invalid_precision", f"{item.sku}: {price} is not a {s.currency} amount",
               f"{where}.unit_price")
        if price < s.floor_price:
            _v(out, r["floor_price"], "below_floor", f"{item.sku}: {price} is below the floor", f"{where}.unit_price")
        names = [lv.name for lv in s.levels]
        granted = s.levels[names.index(ctx.granted_level)] if ctx.granted_level in names else (
            s.levels[-1] if ctx.granted_level == "operator" else s.levels[0])
        if price < granted.min_unit_price:
            _v(out, granted.rule_id, "beyond_granted_level",
               f"{item.sku}: {price} is a deeper discount than level {granted.name} grants", f"{where}.unit_price")
        if price < s.walk_away_price:
            _v(out, r["max_discount_percent"], "beyond_max_discount", f"{item.sku}: beyond the maximum discount",
               f"{where}.unit_price")
        if item.list_price != s.list_price:
            _v(out, r["list_price"], "wrong_list_price", f"{item.sku}: list price {item.list_price} is not "
               f"{s.list_price}", f"{where}.list_price")
        if item.quantity < s.moq:
            _v(out, r["moq"], "below_moq", f"{item.sku}: quantity below the MOQ", f"{where}.quantity")
        if s.max_order_quantity is not None and item.quantity > s.max_order_quantity:
            _v(out, r["max_order_quantity"], "above_max_quantity", f"{item.sku}: quantity above the maximum",
               f"{where}.quantity")
        if item.sku in ctx.available and item.quantity > ctx.available[item.sku]:
            _v(out, "guardrail.inventory", "insufficient_inventory",
               f"{item.sku}: {item.quantity} units offered, {ctx.available[item.sku]} available", f"{where}.quantity")
        if item.line_total != price * item.quantity:
            _v(out, "guardrail.arithmetic", "wrong_line_total", f"{item.sku}: {item.line_total} != {price} x "
               f"{item.quantity}", f"{where}.line_total")
        if s.list_price and item.discount_percent != round_percent((s.list_price - price) * 100 / s.list_price):
            _v(out, "guardrail.arithmetic", "wrong_discount", f"{item.sku}: discount_percent does not match the "
               "price", f"{where}.discount_percent")
        if not moves.get((item.sku, item.quantity, price, p.payment_terms), False):
            _v(out, "guardrail.off_strategy", "off_strategy",
               f"{item.sku} x {item.quantity} at {price} on {p.payment_terms} is not a move the strategy generated",
               f"{where}.unit_price")
        total += item.line_total
        if p.payment_terms not in s.allowed_terms:
            _v(out, r["payment_terms"], "terms_not_allowed", f"payment terms {p.payment_terms} are not allowed",
               "payment_terms")
        if p.terms != s.non_negotiable_terms:
            _v(out, r["non_negotiable_terms"], "terms_changed", "the non-negotiable terms were changed", "terms")
        if p.valid_until > ctx.now + dt.timedelta(days=s.proposal_validity_days, seconds=1):
            _v(out, r["proposal_validity_days"], "validity_too_long",
               f"valid until {p.valid_until} is beyond {s.proposal_validity_days} days", "valid_until")
    if p.valid_until <= ctx.now:
        _v(out, "guardrail.validity", "already_expired", "the proposal is already expired", "valid_until")
    if p.total != total:
        _v(out, "guardrail.arithmetic", "wrong_total", f"total {p.total} != sum of lines {total}", "total")
    for i, alt in enumerate(p.alternatives or []):
        if (alt.sku, alt.quantity, alt.unit_price, alt.payment_terms) not in moves:
            _v(out, "guardrail.off_strategy", "off_strategy", f"alternative {alt.sku} x {alt.quantity} at "
               f"{alt.unit_price} is not a move the strategy generated", f"alternatives[{i}]")
        elif alt.line_total != alt.unit_price * alt.quantity:
            _v(out, "guardrail.arithmetic", "wrong_line_total", "alternative total is wrong", f"alternatives[{i}]")
    if p.pending is not None:
        for i, item in enumerate(p.pending.items):
            if (item.sku, item.quantity, item.unit_price, p.payment_terms) not in moves:
                _v(out, "guardrail.off_strategy", "off_strategy", f"pending {item.sku} at {item.unit_price} is not "
                   "a move the strategy generated", f"pending.items[{i}]")
    return surfaces


def _check_deal(d: Deal, ctx: GuardContext, out: list[Violation]) -> None:
    acc = ctx.accepted
    if acc is None or (d.proposal_id, d.version) != (acc.proposal_id, acc.version):
        _v(out, "guardrail.deal", "deal_mismatch", "the deal does not match an accepted proposal", "proposal_id")
        return
    mine = [(i.sku, i.quantity, i.unit_price, i.line_total) for i in d.items]
    theirs = [(i.sku, i.quantity, i.unit_price, i.line_total) for i in acc.items]
    if mine != theirs or d.total != acc.total or d.currency != acc.currency or d.payment_terms != acc.payment_terms:
        _v(out, "guardrail.deal", "deal_mismatch", "the deal's figures differ from the accepted proposal", "items")


_COUNTED = ("quantity", "days", "number")


def _check_answer(a: Answer, facts: Sequence[Fact], out: list[Violation]) -> None:
    """An answer's data part says only figures the answer was built from: each price is a money fact of this turn
    (the buyer's price book, the offer), each quantity or day count a counted one (limits, stock, lead time)."""
    money = {(f.value, f.currency) for f in facts if f.kind == "money"}
    counted = {f.value for f in facts if f.kind in _COUNTED}
    for i, p in enumerate(a.products or ()):
        where = f"products[{i}]"
        prices = [("unit_price", p.unit_price)] + [(f"price_breaks[{j}].unit_price", b.unit_price)
                                                   for j, b in enumerate(p.price_breaks or ())]
        for name, price in prices:
            if price is not None and (price, p.currency) not in money and (price, None) not in money:
                _v(out, "guardrail.answer", "untraced_figure", f"{p.sku}: {name} {price} is no price this answer "
                   "was built from", f"{where}.{name}")
        counts = [(name, getattr(p, name)) for name in ("quantity", "lead_time_days", "moq", "max_order_quantity",
                                                         "max_hold_units")]
        counts += [(f"price_breaks[{j}].quantity", b.quantity) for j, b in enumerate(p.price_breaks or ())]
        for name, value in counts:
            if value is not None and Decimal(value) not in counted:
                _v(out, "guardrail.answer", "untraced_figure", f"{p.sku}: {name} {value} is no figure this answer "
                   "was built from", f"{where}.{name}")


def check_message(data: dict[str, Any] | None, text: str, ctx: GuardContext) -> Verdict:
    """Check one outgoing message (data part and text). Never raises on bad drafts: they are violations."""
    out: list[Violation] = []
    checks = ["schema", "text"]
    facts: list[Fact] = list(ctx.tool_facts)
    surfaces: list[DecisionSurface] = []
    msg = None
    if data is not None:
        try:
            msg = SELLER_MESSAGE.validate_python(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            _v(out, "guardrail.schema", "malformed_message", f"outgoing data part is not a seller message: "
               f"{first['msg']}", ".".join(str(p) for p in first["loc"]))
    if isinstance(msg, Proposal):
        checks += ["floor", "approval_level", "max_discount", "terms", "quantity", "inventory", "arithmetic",
                   "currency_region", "validity", "off_strategy"]
        surfaces = _check_proposal(msg, ctx, out)
        facts += facts_from_proposal(msg, now=ctx.now)
    elif isinstance(msg, Deal):
        checks.append("deal")
        _check_deal(msg, ctx, out)
        if ctx.accepted is not None:
            facts += facts_from_proposal(ctx.accepted)
        facts += [Fact("id", msg.deal_id, "deal.deal_id"), Fact("date", msg.accepted_at.date(), "deal.accepted_at")]
    elif isinstance(msg, Answer):
        checks.append("answer")
        _check_answer(msg, facts, out)
    if ctx.accepted is not None and not surfaces:
        for item in ctx.accepted.items:
            try:
                surfaces.append(ctx.surface_for(item.sku, item.quantity, ctx.accepted.payment_terms))
            except DealdeskError:
                pass
    secrets = secrets_of([*surfaces, *ctx.in_play])
    for tv in check_text(text, facts, secrets):
        _v(out, tv.rule_id, tv.rule_id.rsplit(".", 1)[-1], tv.message, "text")
    return Verdict(tripwire=bool(out), violations=out, checks=checks)
