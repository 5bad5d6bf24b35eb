"""Property tests of the decision surface and offer checks over random catalogs and policies (tests/gen.py).

The oracle below recomputes the limits straight from the raw policy dict
(most specific level per setting, floor/target groups, the chain cut by a
narrower max discount, rule allowances) and checks offers against exact,
unrounded bounds: for a price on the minor-unit grid, p >= ceil(x) iff p >= x.
It never calls the policy code's own helpers.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gen
from tools.catalog.loader import parse_catalog
from tools.catalog.models import Catalog
from tools.money import MINOR_UNITS
from tools.policy.loader import parse_policy
from tools.policy.surface import DecisionSurface, decision_surface, evaluate_offer
from tools.pricing.engine import price
from tools.pricing.models import PriceRequest

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HUNDRED = Decimal(100)


def _q(currency: str) -> Decimal:
    return Decimal(1).scaleb(-MINOR_UNITS[currency])


def _ceil(x: Decimal, currency: str) -> Decimal:
    return x.quantize(_q(currency), rounding=ROUND_CEILING)


@dataclass
class Oracle:
    """Exact limits for one line, from the raw policy dict and the engine's price."""

    currency: str
    list_price: Decimal
    floor: Decimal               # exact, unrounded
    target: Decimal | None       # exact, unrounded, before clamping; None: the list price
    chain: list[tuple[str, Decimal]]  # level name, discount % granted (allowance included)
    max_pct: Decimal
    allowed_terms: list[str]
    moq: int
    max_qty: int | None
    autonomous: bool
    deal_cap: Decimal | None

    def bound(self, pct: Decimal) -> Decimal:
        """The exact lowest price a discount of `pct` permits, never below the floor."""
        return max(self.list_price * (1 - pct / HUNDRED), self.floor)


def oracle(catalog: Catalog, policy: dict[str, Any], req: PriceRequest) -> Oracle:
    line = price(catalog, req)
    product = catalog.products[req.sku]
    cur = line.currency
    levels = [lv for lv in (policy.get("products", {}).get(product.sku),
                            policy.get("categories", {}).get(product.category),
                            policy["global"]) if lv is not None]

    def setting(name: str, default: Any = None) -> Any:
        return next((lv[name] for lv in levels if lv.get(name) is not None), default)

    def group(*names: str) -> dict[str, Any]:
        for lv in levels:
            if any(lv.get(n) is not None for n in names):
                return {n: lv.get(n) for n in names}
        return {}

    cost = product.cost[cur]
    floors = []
    fl = group("floor_price", "min_margin_percent")
    if fl.get("floor_price") is not None and cur in fl["floor_price"]:
        floors.append(Decimal(fl["floor_price"][cur]))
    if fl.get("min_margin_percent") is not None:
        floors.append(cost / (1 - Decimal(fl["min_margin_percent"]) / HUNDRED))
    floor = max(floors) if floors else cost
    # The list price of the negotiation is the engine's, but never under the floor as quoted (rounded up): where
    # rules or a big tier take the engine's price under it, the seller lists and opens at the floor.
    list_price = max(line.unit_price, _ceil(floor, cur))

    tg = group("target_price", "target_discount_percent")
    if tg.get("target_price") is not None and cur in tg["target_price"]:
        target: Decimal | None = Decimal(tg["target_price"][cur])
    elif tg.get("target_discount_percent") is not None:
        target = list_price * (1 - Decimal(tg["target_discount_percent"]) / HUNDRED)
    else:
        target = None

    raw_chain = [(lv["name"], Decimal(lv["max_discount_percent"])) for lv in setting("approval_chain")]
    cap = setting("max_discount_percent")
    cap = raw_chain[-1][1] if cap is None else Decimal(cap)
    chain: list[tuple[str, Decimal]] = []
    for name, pct in raw_chain:
        chain.append((name, min(pct, cap)))
        if pct >= cap:
            break
    blocked = line.no_discounts_rule is not None
    allowance = line.allowance_percent

    def granted(pct: Decimal, room: Decimal = allowance) -> Decimal:
        return Decimal(0) if blocked else min(pct + room, HUNDRED)

    # the rules' room goes to the levels above the first (the bot's own), unless the chain has only that one
    def level_room(i: int) -> Decimal:
        return allowance if i > 0 or len(chain) == 1 else Decimal(0)

    deal_caps = setting("autonomy_max_deal_value")
    return Oracle(
        currency=cur, list_price=list_price, floor=floor, target=target,
        chain=[(n, granted(p, level_room(i))) for i, (n, p) in enumerate(chain)], max_pct=granted(chain[-1][1]),
        allowed_terms=list(setting("payment_terms")["allowed"]), moq=setting("moq", 1),
        max_qty=setting("max_order_quantity"), autonomous=setting("autonomous", True),
        deal_cap=Decimal(deal_caps[cur]) if deal_caps and cur in deal_caps else None,
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Catalog, dict[str, Any], PriceRequest, DecisionSurface, Oracle]:
    catalog = parse_catalog(draw(gen.catalogs()))
    policy_data = draw(gen.policies(catalog))
    policy = parse_policy(policy_data, catalog=catalog)
    req = PriceRequest(**draw(gen.buyer_contexts(catalog)))
    return catalog, policy_data, req, decision_surface(catalog, policy, req), oracle(catalog, policy_data, req)


@FAST
@given(scenarios())
def test_surface_limits_are_ordered_and_match_the_policy(sc: tuple) -> None:
    _, _, req, s, o = sc
    cur = s.currency
    assert s.list_price == o.list_price
    assert s.floor_price == _ceil(o.floor, cur)
    assert s.walk_away_price >= s.floor_price
    assert s.walk_away_price == _ceil(o.bound(o.max_pct), cur)
    assert s.max_discount_percent == o.max_pct
    assert [lv.name for lv in s.levels] == [n for n, _ in o.chain]
    for lv, (_, pct) in zip(s.levels, o.chain):
        assert lv.max_discount_percent == pct
        assert lv.min_unit_price == _ceil(o.bound(pct), cur)
        assert lv.min_unit_price >= s.walk_away_price
    mins = [lv.min_unit_price for lv in s.levels]
    assert all(a >= b for a, b in zip(mins, mins[1:])), mins
    assert mins[-1] == s.walk_away_price
    assert s.auto_limit_price == s.levels[0].min_unit_price
    assert s.walk_away_price <= s.target_price <= max(s.list_price, s.walk_away_price)
    target = s.list_price if o.target is None else _ceil(o.target, cur)
    assert s.target_price == min(max(target, s.walk_away_price), max(s.list_price, s.walk_away_price))
    for figure in (s.list_price, s.floor_price, s.walk_away_price, s.target_price, *mins):
        assert figure.as_tuple().exponent == -MINOR_UNITS[cur]


@st.composite
def candidate_prices(draw: st.DrawFn, s: DecisionSurface) -> list[Decimal]:
    """Prices on the minor-unit grid, clustered around every limit of the surface."""
    q = _q(s.currency)
    anchors = [s.list_price, s.floor_price, s.walk_away_price, s.target_price,
               *(lv.min_unit_price for lv in s.levels)]
    near = st.builds(lambda a, k: a + k * q, st.sampled_from(anchors), st.integers(-2, 2))
    top = int((max(anchors) * 2) / q) + 1
    anywhere = st.integers(0, top).map(lambda n: n * q)
    prices = draw(st.lists(near | anywhere, min_size=1, max_size=12))
    return [p for p in prices if p >= 0]


@FAST
@given(st.data())
def test_offer_allowed_iff_at_or_above_walk_away(data: st.DataObject) -> None:
    _, _, req, s, o = data.draw(scenarios())
    qty_ok = req.quantity >= o.moq and (o.max_qty is None or req.quantity <= o.max_qty)
    terms_ok = req.payment_terms in o.allowed_terms
    names = [n for n, _ in o.chain]
    for p in data.draw(candidate_prices(s)):
        d = evaluate_offer(s, p)
        within = p >= o.floor and p >= o.list_price * (1 - o.max_pct / HUNDRED)
        assert within == (p >= s.walk_away_price)
        assert d.allowed == (within and qty_ok and terms_ok), (p, d)
        if not d.allowed:
            assert d.level is None and d.findings
            continue
        # The level granted: the first whose exact bound the price meets, bumped past
        # the first level when the deal is outside the bot's autonomy.
        first = next(i for i, (_, pct) in enumerate(o.chain) if p >= o.bound(pct))
        outside = not o.autonomous or (o.deal_cap is not None and p * req.quantity > o.deal_cap)
        if outside and len(names) == 1:
            assert d.level == "operator"
            pct = o.chain[-1][1]
        else:
            index = max(first, 1) if outside else first
            assert d.level == names[index], (p, d.level, names, first, outside)
            pct = o.chain[index][1]
        assert d.needs_approval == (first > 0 or outside)
        assert p >= o.floor
        if o.list_price:
            assert (o.list_price - p) / o.list_price * HUNDRED <= pct


@FAST
@given(st.data())
def test_off_grid_prices_are_refused(data: st.DataObject) -> None:
    _, _, _, s, _ = data.draw(scenarios())
    q = _q(s.currency)
    p = s.list_price + q * Decimal(data.draw(st.integers(1, 9))) / 10
    d = evaluate_offer(s, p)
    assert not d.allowed
    assert "invalid_precision" in [f.code for f in d.findings]
