"""Reusable hypothesis strategies for dealdesk tests (a helper module, not a test module).

Import it as ``import gen`` (tests/conftest.py puts the tests directory on
sys.path). The API is deliberately small:

``catalogs()``
    Random VALID catalog dicts, as a vendor would write them (money as
    decimal strings, never floats). Every drawn dict has already passed
    ``tools.catalog.loader.parse_catalog``; parse it again to get a
    ``Catalog``. Shape: 1-3 price books (distinct regions, currencies from
    USD/EUR/JPY/KWD so minor units 0/2/3 all occur, range or slab mode),
    1-6 products (0-3 volume tiers each: contiguous, first tier starting
    above 1, non-increasing prices between cost and list, the last tier
    usually open-ended, sometimes closed), segments ``standard`` plus
    maybe ``strategic``/``public``, and 0-8 pricing rules of every kind
    with random conditions (SKUs, categories, regions, segments, terms,
    dates in 2026, min quantity, stock and deal-value thresholds; each rule
    always writes the condition its kind is named after) and effects
    (percent, allowance_percent, no_discounts). Priorities are distinct within each kind, so no rule
    conflict ever arises: build one on purpose if you want one.

``policies(catalog)``
    Random VALID policy dicts for ``catalog`` (a ``Catalog`` or a catalog
    dict); ``parse_policy(d, catalog=...)`` accepts every one. The global
    level sets an approval chain of 1-4 strictly ascending levels, terms,
    validity and rounds, and maybe floors (per-currency ``floor_price`` or
    ``min_margin_percent``), targets, max discount, MOQ / max quantity,
    hold limits and autonomy; some categories and products override a
    random subset (narrower max discounts that cut the chain, their own
    chains, floors, targets, autonomy...). Per-currency amounts always cover
    every currency the scope sells in; floor and target prices sometimes
    carry one digit more than the currency allows (the surface rounds them
    up). MOQs are <= 10 and max order quantities >= 10 at every level, so
    some quantity is always orderable.

``buyer_contexts(catalog)``
    Keyword arguments for ``tools.pricing.models.PriceRequest`` that the
    engine can always price: a SKU, a region whose book prices it, the
    currency (or None), a catalog segment, terms from ``TERMS`` (not
    necessarily allowed by a policy), a date around 2026, a quantity biased
    towards tier boundaries, and a stock override (or None); dates and
    stock levels are biased towards the rules' thresholds.

Constants: ``CURRENCIES``, ``TERMS``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from tools.catalog.loader import parse_catalog
from tools.catalog.models import Catalog
from tools.money import MINOR_UNITS

__all__ = ["CURRENCIES", "TERMS", "buyer_contexts", "catalogs", "policies"]

CURRENCIES = ("USD", "EUR", "JPY", "KWD")
TERMS = ("NET30", "NET60", "PREPAY")
REGIONS = ("US", "EU", "JP", "KW", "UK")
CATEGORIES = ("bearings", "motors", "seals")
RULE_KINDS = ("segment", "promotion", "stock", "deal_size", "payment_terms", "adjustment")
LEVEL_NAMES = ("auto", "manager", "director", "vp")

# Cost range per currency, in minor units (so JPY costs 10..150000 yen, USD 0.10..1000.00).
_COST_MINOR = {"USD": (10, 100_000), "EUR": (10, 100_000), "JPY": (10, 150_000), "KWD": (10, 300_000)}
_DATE_LO, _DATE_HI = dt.date(2026, 1, 1), dt.date(2026, 12, 31)


def _money(minor: int, currency: str, extra_digits: int = 0) -> str:
    """`minor` units of `currency` (times 10**-extra_digits) as a decimal string."""
    return str(Decimal(minor).scaleb(-(MINOR_UNITS[currency] + extra_digits)))


def _minor(amount: Decimal | str, currency: str) -> int:
    return int(Decimal(amount).scaleb(MINOR_UNITS[currency]))


def _pct(hundredths: int) -> str:
    return str(Decimal(hundredths).scaleb(-2))


def _subset(draw: st.DrawFn, items: list[str] | tuple[str, ...]) -> list[str]:
    """A non-empty subset, in the original order."""
    chosen = draw(st.sets(st.sampled_from(sorted(items)), min_size=1, max_size=len(items)))
    return [i for i in items if i in chosen]


def _as_catalog(catalog: Catalog | dict[str, Any]) -> Catalog:
    return catalog if isinstance(catalog, Catalog) else parse_catalog(catalog)


# --- catalogs -----------------------------------------------------------------------


@st.composite
def _price_entry(draw: st.DrawFn, cost_minor: int, currency: str) -> dict[str, Any]:
    list_minor = cost_minor + cost_minor * draw(st.sampled_from(range(21))) // 10  # markup 0..200 %
    entry: dict[str, Any] = {"list": _money(list_minor, currency)}
    n_tiers = draw(st.sampled_from((0, 1, 2, 3)))
    if n_tiers:
        tiers = []
        lo = draw(st.integers(2, 100))
        price_minor = list_minor
        for i in range(n_tiers):
            price_minor -= draw(st.integers(0, price_minor - cost_minor))
            tier: dict[str, Any] = {"min": lo, "price": _money(price_minor, currency)}
            if i < n_tiers - 1 or draw(st.integers(0, 3)) == 0:  # the last tier is sometimes closed
                tier["max"] = lo + draw(st.integers(0, 1000))
                lo = tier["max"] + 1
            tiers.append(tier)
        entry["tiers"] = tiers
    return entry


@st.composite
def _when(draw: st.DrawFn, kind: str, skus: list[str], categories: list[str], regions: list[str],
          segments: list[str], currencies: list[str]) -> dict[str, Any]:
    """Random conditions; a rule always writes the condition its kind is named after."""
    when: dict[str, Any] = {}
    maybe = st.integers(0, 3)  # 0 = write the condition (1 in 4)
    always = st.just(0)
    if draw(maybe) == 0:
        when["skus"] = _subset(draw, skus)
    if draw(maybe) == 0:
        when["categories"] = _subset(draw, categories)
    if draw(maybe) == 0:
        when["regions"] = _subset(draw, regions)
    if draw(always if kind == "segment" else maybe) == 0:
        when["segments"] = _subset(draw, segments)
    if draw(always if kind == "payment_terms" else maybe) == 0:
        when["payment_terms"] = _subset(draw, TERMS)
    if draw(always if kind == "promotion" else maybe) == 0:
        lo = draw(st.dates(_DATE_LO, _DATE_HI))
        hi = draw(st.dates(lo, _DATE_HI))
        which = draw(st.sampled_from(("both", "from", "to")))
        if which != "to":
            when["valid_from"] = lo
        if which != "from":
            when["valid_to"] = hi
    if draw(maybe) == 0:
        when["min_quantity"] = draw(st.integers(1, 1000))
    if draw(always if kind == "stock" else maybe) == 0:
        which = draw(st.sampled_from(("below", "at_least", "band")))
        at_least = draw(st.integers(0, 5000))
        below = draw(st.integers(at_least + 1, 10_000))
        if which != "below":
            when["stock_at_least"] = at_least
        if which != "at_least":
            when["stock_below"] = below
    sizes = ["deal_value_at_least", "deal_value_below"]
    if kind == "deal_size":
        sizes.insert(0, sizes.pop(draw(st.integers(0, 1))))
    for n, field in enumerate(sizes):
        if draw(always if kind == "deal_size" and n == 0 else maybe) == 0:
            when[field] = {c: _money(draw(st.integers(0, 10_000_000)), c) for c in _subset(draw, currencies)}
    return when


@st.composite
def _effect(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    common = st.sampled_from(("-5", "-10", "-2", "-3", "-7.5", "-15", "1", "2.5", "-1", "0"))
    percent = common | st.integers(-3000, 1000).map(_pct)  # round figures make half-up ties likely
    allowance = st.integers(0, 1500).map(_pct)
    shape = draw(st.sampled_from(("percent", "percent", "percent", "allowance", "both", "block", "block_pct")))
    if kind == "stock" and draw(st.booleans()):
        shape = draw(st.sampled_from(("block", "allowance")))
    if shape == "percent":
        return {"percent": draw(percent)}
    if shape == "allowance":
        return {"allowance_percent": draw(allowance)}
    if shape == "both":
        return {"percent": draw(percent), "allowance_percent": draw(allowance)}
    if shape == "block":
        return {"no_discounts": True}
    return {"no_discounts": True, "percent": draw(st.integers(0, 500).map(_pct))}


@st.composite
def catalogs(draw: st.DrawFn) -> dict[str, Any]:
    """A random valid catalog dict (see the module docstring)."""
    n_books = draw(st.integers(1, 3))
    regions = draw(st.lists(st.sampled_from(REGIONS), min_size=n_books, max_size=n_books, unique=True))
    books = [
        {"id": f"{r}-{c}", "region": r, "currency": c, "tier_mode": draw(st.sampled_from(("range", "slab")))}
        for r, c in ((r, draw(st.sampled_from(CURRENCIES))) for r in regions)
    ]
    segments = ["standard", *draw(st.lists(st.sampled_from(("strategic", "public")), unique=True, max_size=2))]
    n_products = draw(st.integers(1, 6))
    skus = [f"SKU-{i}{draw(st.sampled_from('ABC'))}" for i in range(n_products)]
    products = []
    for sku in skus:
        chosen = _subset(draw, [b["id"] for b in books])
        sold_in = [b for b in books if b["id"] in chosen]
        cost_minor = {}
        for b in sold_in:
            c = b["currency"]
            if c not in cost_minor:
                cost_minor[c] = draw(st.integers(*_COST_MINOR[c]))
        others = [s for s in skus if s != sku]
        product: dict[str, Any] = {
            "sku": sku,
            "name": f"Product {sku}",
            "category": draw(st.sampled_from(CATEGORIES)),
            "specs": draw(st.dictionaries(
                st.sampled_from(("bore_mm", "seal", "coated", "weight_kg")),
                st.integers(1, 100) | st.sampled_from(("2RS", "ZZ", "open")) | st.booleans()
                | st.integers(1, 9999).map(lambda n: Decimal(n).scaleb(-2)),
                max_size=3)),
            "cost": {c: _money(m, c) for c, m in cost_minor.items()},
            "prices": {b["id"]: draw(_price_entry(cost_minor[b["currency"]], b["currency"])) for b in sold_in},
            "inventory": {"on_hand": draw(st.integers(0, 10_000))},
            "capacity": {"lead_time_days": draw(st.integers(0, 10)),
                         "restock_lead_time_days": draw(st.integers(0, 60)),
                         "weekly_capacity": draw(st.integers(1, 5000))},
        }
        if others and draw(st.integers(0, 3)) == 0:
            product["related"] = _subset(draw, others)
        if draw(st.integers(0, 3)) == 0:
            product["tier_mode"] = draw(st.sampled_from(("range", "slab")))
        products.append(product)

    categories = sorted({p["category"] for p in products})
    currencies = sorted({b["currency"] for b in books})
    rules = []
    used: dict[str, set[int]] = {k: set() for k in RULE_KINDS}
    for i in range(draw(st.sampled_from(range(9)))):
        kind = draw(st.sampled_from(RULE_KINDS))
        priority = draw(st.integers(-5, 50).filter(lambda p, k=kind: p not in used[k]))
        used[kind].add(priority)
        rules.append({
            "id": f"rule-{i}-{kind}",
            "kind": kind,
            "priority": priority,
            "when": draw(_when(kind, skus, categories, regions, segments, currencies)),
            "effect": draw(_effect(kind)),
        })
    data = {
        "version": 1,
        "vendor": "generated vendor",
        "price_books": books,
        "segments": [{"id": s} for s in segments],
        "products": products,
        "rules": rules,
    }
    parse_catalog(data, file="<gen.catalogs>")  # a generator bug shows up here, not in a test
    return data


# --- policies -----------------------------------------------------------------------


def _currencies_of(catalog: Catalog, skus: list[str]) -> list[str]:
    return sorted({catalog.price_books[b].currency for s in skus for b in catalog.products[s].prices})


@st.composite
def _chain(draw: st.DrawFn, top: Decimal | None = None) -> list[dict[str, str]]:
    """1-4 strictly ascending levels, the last at most `top` percent."""
    n = draw(st.sampled_from((1, 2, 3, 4)))
    hi = int((top if top is not None else Decimal(50)) * 100)
    if hi + 1 < n:
        n = hi + 1
    pcts = sorted(draw(st.lists(st.integers(0, hi), min_size=n, max_size=n, unique=True)))
    return [{"name": LEVEL_NAMES[i], "max_discount_percent": _pct(p)} for i, p in enumerate(pcts)]


@st.composite
def _per_currency(draw: st.DrawFn, catalog: Catalog, skus: list[str], lo: Decimal, hi: Decimal,
                  sub_minor: bool = False) -> dict[str, str]:
    """An amount per currency the SKUs sell in, between lo and hi times their mean cost."""
    out = {}
    for cur in _currencies_of(catalog, skus):
        costs = [catalog.products[s].cost[cur] for s in skus if cur in catalog.products[s].cost]
        mean = _minor(sum(costs, Decimal(0)) / len(costs), cur) if costs else 1000
        extra = 1 if sub_minor and draw(st.integers(0, 3)) == 0 else 0
        scale = 10 ** extra
        lo_m, hi_m = int(mean * lo * scale), max(int(mean * hi * scale), 1)
        out[cur] = _money(draw(st.integers(min(lo_m, hi_m), hi_m)), cur, extra)
    return out


@st.composite
def _rules(draw: st.DrawFn, catalog: Catalog, skus: list[str], scope: str) -> dict[str, Any]:
    """One level of settings; the global level always writes the required ones."""
    is_global = scope == "global"
    r: dict[str, Any] = {}

    def write() -> bool:  # an optional setting is written one time in three
        return draw(st.integers(0, 2)) == 0

    max_disc: Decimal | None = None
    if write():
        max_disc = Decimal(draw(st.integers(1000 if is_global else 0, 6000))).scaleb(-2)
        r["max_discount_percent"] = str(max_disc)
    if is_global or write():
        r["approval_chain"] = draw(_chain(max_disc))
    floor = draw(st.sampled_from(("none", "price", "margin", "both"))) if (is_global or write()) else "none"
    if floor in ("price", "both"):
        r["floor_price"] = draw(_per_currency(catalog, skus, Decimal("0.5"), Decimal("1.6"), sub_minor=True))
    if floor in ("margin", "both"):
        r["min_margin_percent"] = _pct(draw(st.integers(0, 5000)))
    if is_global or write():
        target = draw(st.sampled_from(("none", "price", "discount")))
        if target == "price":
            r["target_price"] = draw(_per_currency(catalog, skus, Decimal(1), Decimal(3), sub_minor=True))
        elif target == "discount":
            cap = int(max_disc * 100) if max_disc is not None else 6000
            r["target_discount_percent"] = _pct(draw(st.integers(0, cap)))
    if is_global or write():
        allowed = _subset(draw, TERMS)
        r["payment_terms"] = {"allowed": allowed, "default": draw(st.sampled_from(allowed))}
    if write():
        r["non_negotiable_terms"] = {"warranty": "12 months from delivery."}
    if write():
        r["moq"] = draw(st.integers(1, 10))
    if write():
        r["max_order_quantity"] = draw(st.integers(10, 50_000))
    if is_global:
        r["proposal_validity_days"] = draw(st.integers(1, 365))
        r["max_rounds"] = draw(st.integers(1, 100))
    elif write():
        r["proposal_validity_days"] = draw(st.integers(1, 365))
    if write():
        r["max_hold_units"] = draw(st.integers(1, 10_000))
    if write():
        r["max_hold_percent_of_stock"] = _pct(draw(st.integers(0, 10_000)))
    if write():
        r["autonomous"] = draw(st.booleans())
    if write():
        r["autonomy_max_deal_value"] = draw(_per_currency(catalog, skus, Decimal(1), Decimal(5000)))
    return r


@st.composite
def policies(draw: st.DrawFn, catalog: Catalog | dict[str, Any]) -> dict[str, Any]:
    """A random valid policy dict for `catalog` (see the module docstring)."""
    cat = _as_catalog(catalog)
    all_skus = list(cat.products)
    data: dict[str, Any] = {"version": 1, "name": "generated policy",
                            "global": draw(_rules(cat, all_skus, "global"))}
    cats = draw(st.lists(st.sampled_from(cat.categories), unique=True, max_size=len(cat.categories)))
    data["categories"] = {
        c: draw(_rules(cat, [s for s, p in cat.products.items() if p.category == c], "category")) for c in cats
    }
    prods = draw(st.lists(st.sampled_from(all_skus), unique=True, max_size=min(len(all_skus), 3)))
    data["products"] = {s: draw(_rules(cat, [s], "product")) for s in prods}
    return data


# --- buyers -------------------------------------------------------------------------


@st.composite
def buyer_contexts(draw: st.DrawFn, catalog: Catalog | dict[str, Any]) -> dict[str, Any]:
    """PriceRequest keyword arguments the engine can price (see the module docstring)."""
    cat = _as_catalog(catalog)
    sku = draw(st.sampled_from(sorted(cat.products)))
    product = cat.products[sku]
    book = cat.price_books[draw(st.sampled_from(sorted(product.prices)))]
    edges = {1}
    for tier in product.prices[book.id].tiers:
        edges |= {tier.min - 1, tier.min, tier.min + 1}
        if tier.max is not None:
            edges |= {tier.max, tier.max + 1}
    quantity = draw(st.sampled_from(sorted(e for e in edges if e >= 1)) | st.integers(1, 20_000))
    # Stock levels and dates right at the rules' thresholds, as well as anywhere.
    stocks = {product.inventory.on_hand}
    days = {dt.date(2026, 6, 1)}
    for rule in cat.rules:
        w = rule.when
        for t in (w.stock_at_least, w.stock_below):
            if t is not None:
                stocks |= {t - 1, t, t + 1}
        for d in (w.valid_from, w.valid_to):
            if d is not None:
                days |= {d - dt.timedelta(days=1), d, d + dt.timedelta(days=1)}
    return {
        "sku": sku,
        "quantity": quantity,
        "region": book.region,
        "currency": draw(st.sampled_from((None, book.currency))),
        "segment": draw(st.sampled_from(sorted(cat.segments))),
        "payment_terms": draw(st.sampled_from(TERMS)),
        "on": draw(st.sampled_from(sorted(days)) if draw(st.booleans())
                   else st.dates(dt.date(2025, 12, 1), dt.date(2027, 1, 31))),
        "stock": draw({"none": st.none(), "edge": st.sampled_from(sorted(x for x in stocks if x >= 0)),
                       "any": st.integers(0, 10_000)}[draw(st.sampled_from(("edge", "edge", "any", "none")))]),
    }
