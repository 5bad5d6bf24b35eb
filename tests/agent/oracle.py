"""An independent judge of one outgoing seller message (data part + text), for tests.

It does not use `agent.guardrail` (nothing here is imported from it): every limit is
recomputed from the policy's decision surface (`tools.policy.desk.Desk` and
`tools.policy.surface.evaluate_offer`), and the text is read with its own small,
deliberately simple extractor. What it checks:

Structured offer (a `proposal` data part)
- region and currency are the buyer's, every line priced in that currency;
- every unit price is at or above the floor and the walk-away price, has no more
  decimals than the currency, and `evaluate_offer` allows it;
- the discount is within the auto level, unless an operator granted a level
  (`granted_level`), then within that one;
- list price is the surface's, discount_percent matches the price (2 places);
- payment terms are allowed, the non-negotiable terms are the policy's exactly;
- MOQ <= quantity <= max order quantity (and <= available stock when given);
- line totals and the total add up; validity within the policy's days;
- alternatives: each priced at or above walk-away and within the auto level,
  arithmetic right; pending lines (awaiting approval) at or above walk-away.
A `deal` must add up too. Item and alternative names are the catalog's; `catalog_results`
products are the catalog's own Schema.org documents (stock levels aside). An `answer` says only public
figures: each price (a volume break, the price for the quantity asked) is what a first proposal for that
quantity opens at (list price, or the walk-away price where that is higher), in the buyer's currency, on
payment terms the policy allows; its order limits are the surface's.

Free text in the data part (error messages, close reasons, alternative notes, names): no
word-level leak and no internal figure, as for the text.

Text
- no word-level leak: cost, floor, margin, walk-away, approval limits, minimum /
  maximum discount or price internals;
- every money figure (with a currency mark, or "at N each") equals a money figure
  of the structured part (unit, list and line prices, totals, alternatives,
  pending), in its currency;
- every percentage equals a discount of the structured part (rounded as written);
- a reply without a data part (or with an `answer`) is read against the proposal (or deal) the buyer holds
  (`standing`), if any, and may also state a public price of a product it names: the price a first proposal
  opens at (list price, or the walk-away price where that is higher) at the first quantity of a tier of the
  product's price books, or at a quantity the text names (the seller's volume breaks);
- no number equals an internal figure (cost, floor, walk-away, target, approval
  limit price) of a line in play unless it is also a figure of the offer.

`judge(data, text, ctx)` returns a list of violations (strings starting with a code);
empty means the message may be sent.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from tools.catalog.jsonld import product_jsonld
from tools.catalog.models import Catalog
from tools.errors import DealdeskError
from tools.money import quantum
from tools.policy.desk import Desk
from tools.policy.models import Policy
from tools.policy.surface import DecisionSurface, evaluate_offer
from tools.pricing.models import BuyerContext

D = Decimal
CENT = D("0.01")
VALIDITY_SLACK = dt.timedelta(seconds=5)
SELLER_TYPES = {"proposal", "deal", "closed", "catalog_results", "error", "answer"}


@dataclass
class OracleContext:
    catalog: Catalog
    policy: Policy
    region: str
    currency: str | None = None
    segment: str = "standard"
    default_terms: str = "NET30"
    granted_level: str | None = None  # an approval level an operator granted; None: the first (auto) level
    now: dt.datetime | None = None  # when the message was sent (naive UTC); None: utcnow at judging
    lines: set[tuple[str, int]] = field(default_factory=set)  # (sku, quantity) in play: their internals are secret
    terms: set[str] = field(default_factory=set)  # payment terms in play
    available: dict[str, int] | None = None  # stock the offer may use, by SKU
    # The proposal the buyer holds (the last one sent to it), or the deal once it is struck: a reply without a
    # data part may restate its figures, which were judged when it was sent.
    standing: dict[str, Any] | None = None

    def desk(self, terms: str, order: tuple[tuple[str, int], ...] = ()) -> Desk:
        """`order`: a proposal's lines, priced together (deal-size rules see the whole order, as in a quote)."""
        return Desk(self.catalog, self.policy, BuyerContext(region=self.region, currency=self.currency,
                                                            segment=self.segment, payment_terms=terms,
                                                            on=self._now().date()), order)

    def _now(self) -> dt.datetime:
        return self.now or dt.datetime.now(dt.UTC).replace(tzinfo=None)

    def surface(self, sku: str, quantity: int, terms: str, order: tuple[tuple[str, int], ...] = ()) -> DecisionSurface:
        return _surface(self, sku, quantity, terms, order if len(order) > 1 else ())


_CACHE: dict[tuple, DecisionSurface | DealdeskError] = {}


def _surface(ctx: OracleContext, sku: str, quantity: int, terms: str,
             order: tuple[tuple[str, int], ...] = ()) -> DecisionSurface:
    key = (id(ctx.catalog), id(ctx.policy), ctx.region, ctx.currency, ctx.segment, ctx._now().date(), sku,
           quantity, terms, order)
    if key not in _CACHE:
        if len(_CACHE) > 20000:
            _CACHE.clear()
        try:
            _CACHE[key] = ctx.desk(terms, order).surface(sku, quantity, terms)
        except DealdeskError as exc:
            _CACHE[key] = exc
    found = _CACHE[key]
    if isinstance(found, DealdeskError):
        raise found
    return found


def _dec(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = D(str(value).strip())
    except InvalidOperation:
        return None
    return out if out.is_finite() else None


def _int(value: Any) -> int | None:
    d = _dec(value)
    return int(d) if d is not None and d == d.to_integral_value() else None


def _when(value: Any) -> dt.datetime | None:
    try:
        out = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return out.replace(tzinfo=None) if out.tzinfo is None else out.astimezone(dt.UTC).replace(tzinfo=None)


# --- the structured part ------------------------------------------------------------------------------------


def _level_index(s: DecisionSurface, granted: str | None) -> int:
    names = [lv.name for lv in s.levels]
    if granted == "operator":
        return len(names) - 1
    return names.index(granted) if granted in names else 0


def _check_proposal(p: dict[str, Any], ctx: OracleContext, out: list[str]) -> None:
    cur, terms = p.get("currency"), p.get("payment_terms")
    if p.get("region") != ctx.region:
        out.append(f"region: proposal region {p.get('region')} is not the buyer's {ctx.region}")
    if ctx.currency and cur != ctx.currency:
        out.append(f"currency: {cur} is not the buyer's {ctx.currency}")
    now = ctx._now()
    until = _when(p.get("valid_until"))
    if until is None:
        out.append(f"validity: unreadable valid_until {p.get('valid_until')!r}")
    items = p.get("items") or []
    if not items:
        out.append("shape: a proposal without items")
    total = D(0)
    order = tuple((i.get("sku"), _int(i.get("quantity"))) for i in items)
    order = order if all(isinstance(k, str) and q is not None for k, q in order) else ()
    for i, item in enumerate(items):
        where = f"items[{i}] {item.get('sku')}"
        qty, price = _int(item.get("quantity")), _dec(item.get("unit_price"))
        line_total, list_price = _dec(item.get("line_total")), _dec(item.get("list_price"))
        if qty is None or price is None or line_total is None or list_price is None:
            out.append(f"shape: {where} has unreadable figures")
            continue
        total += line_total
        _check_name(item, ctx, where, out)
        try:
            s = ctx.surface(item["sku"], qty, terms, order)
        except (DealdeskError, KeyError, TypeError) as exc:
            out.append(f"priceable: {where} x {qty} on {terms} cannot be priced: {exc}")
            continue
        if s.currency != cur:
            out.append(f"currency: {where} is priced in {s.currency}, the proposal says {cur}")
        if price != price.quantize(quantum(s.currency)):
            out.append(f"precision: {where} {price} is not a {s.currency} amount")
        if price < s.floor_price:
            out.append(f"floor: {where} {price} is below the floor {s.floor_price}")
        if price < s.walk_away_price:
            out.append(f"walk_away: {where} {price} is below the walk-away price {s.walk_away_price}")
        decision = evaluate_offer(s, price, quantity=qty, payment_terms=terms)
        if not decision.allowed:
            out.append(f"policy: {where} {price} is not allowed ({', '.join(f.code for f in decision.findings)})")
        level = s.levels[_level_index(s, ctx.granted_level)]
        if price < level.min_unit_price:
            out.append(f"approval: {where} {price} needs more than level {level.name} "
                       f"(which allows down to {level.min_unit_price})")
        if list_price != s.list_price:
            out.append(f"list_price: {where} list {list_price} is not {s.list_price}")
        disc = _dec(item.get("discount_percent"))
        exact = (s.list_price - price) * 100 / s.list_price if s.list_price else D(0)
        if disc is None or abs(disc - exact) > D("0.005"):
            out.append(f"arithmetic: {where} discount {item.get('discount_percent')} is not {exact:.4f}")
        if qty < s.moq:
            out.append(f"moq: {where} quantity {qty} is below the MOQ {s.moq}")
        if s.max_order_quantity is not None and qty > s.max_order_quantity:
            out.append(f"max_quantity: {where} quantity {qty} is above {s.max_order_quantity}")
        if ctx.available is not None and item["sku"] in ctx.available and qty > ctx.available[item["sku"]]:
            out.append(f"inventory: {where} {qty} offered, {ctx.available[item['sku']]} available")
        if line_total != price * qty:
            out.append(f"arithmetic: {where} line total {line_total} != {price} x {qty}")
        if terms not in s.allowed_terms:
            out.append(f"terms: payment terms {terms} are not allowed for {item['sku']}")
        if p.get("terms") != s.non_negotiable_terms:
            out.append(f"terms: the non-negotiable terms differ from the policy's for {item['sku']}")
        if until is not None and until > now + dt.timedelta(days=s.proposal_validity_days) + VALIDITY_SLACK:
            out.append(f"validity: valid until {until} is beyond {s.proposal_validity_days} days")
    if until is not None and until <= now - VALIDITY_SLACK:
        out.append(f"validity: already expired ({until})")
    if _dec(p.get("total")) != total:
        out.append(f"arithmetic: total {p.get('total')} != sum of lines {total}")
    for i, alt in enumerate(p.get("alternatives") or []):
        where = f"alternatives[{i}] {alt.get('sku')}"
        qty, price, lt = _int(alt.get("quantity")), _dec(alt.get("unit_price")), _dec(alt.get("line_total"))
        if qty is None or price is None or lt is None:
            out.append(f"shape: {where} has unreadable figures")
            continue
        _check_name(alt, ctx, where, out)
        try:
            s = ctx.surface(alt["sku"], qty, alt.get("payment_terms"), order)
        except (DealdeskError, KeyError, TypeError) as exc:
            out.append(f"priceable: {where} cannot be priced: {exc}")
            continue
        if s.currency != cur:
            out.append(f"currency: {where} is priced in {s.currency}")
        if price < s.walk_away_price or price < s.floor_price:
            out.append(f"floor: {where} {price} is below the walk-away price {s.walk_away_price}")
        elif price < s.levels[_level_index(s, ctx.granted_level)].min_unit_price:
            out.append(f"approval: {where} {price} needs approval")
        if alt.get("payment_terms") not in s.allowed_terms:
            out.append(f"terms: {where} terms {alt.get('payment_terms')} are not allowed")
        if lt != price * qty:
            out.append(f"arithmetic: {where} line total {lt} != {price} x {qty}")
    pending = p.get("pending")
    if pending:
        for i, item in enumerate(pending.get("items") or []):
            qty, price = _int(item.get("quantity")), _dec(item.get("unit_price"))
            pend = tuple((i.get("sku"), _int(i.get("quantity"))) for i in pending.get("items") or [])
            try:
                s = ctx.surface(item["sku"], qty, terms, pend if all(q is not None for _, q in pend) else ())
            except (DealdeskError, KeyError, TypeError) as exc:
                out.append(f"priceable: pending {item.get('sku')} cannot be priced: {exc}")
                continue
            if price is None or price < s.walk_away_price or price < s.floor_price:
                out.append(f"floor: pending {item.get('sku')} {price} is below the walk-away price")


def _check_name(item: dict[str, Any], ctx: OracleContext, where: str, out: list[str]) -> None:
    product = ctx.catalog.products.get(item.get("sku"))
    if product is None:
        out.append(f"catalog: {where} is not a catalog SKU")
    elif item.get("name") != product.name:
        out.append(f"catalog: {where} name {item.get('name')!r} is not the catalog's {product.name!r}")


_VOLATILE = frozenset({"inventoryLevel", "availability"})


def _stable(value: Any) -> Any:
    """A JSON-LD document without its stock fields (they follow live inventory)."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _check_catalog_results(data: dict[str, Any], ctx: OracleContext, out: list[str]) -> None:
    for i, prod in enumerate(data.get("products") or []):
        product = ctx.catalog.products.get(prod.get("sku")) if isinstance(prod, dict) else None
        if product is None:
            out.append(f"catalog: products[{i}] is not a catalog product")
        elif _stable(prod) != _stable(product_jsonld(ctx.catalog, product)):
            out.append(f"catalog: products[{i}] {product.sku} differs from the catalog's own document "
                       "(prices, names or descriptions changed)")


def _check_answer(data: dict[str, Any], ctx: OracleContext, out: list[str]) -> None:
    for i, prod in enumerate(data.get("products") or []):
        sku, where = prod.get("sku"), f"answer: products[{i}]"
        if sku not in ctx.catalog.products:
            out.append(f"{where} is not a catalog product")
            continue
        terms = prod.get("payment_terms") or ctx.default_terms
        if ctx.currency and prod.get("currency") not in (None, ctx.currency):
            out.append(f"{where}: currency {prod.get('currency')} is not the buyer's")
        asked = [(b.get("quantity"), b.get("unit_price")) for b in prod.get("price_breaks") or []]
        if prod.get("unit_price") is not None:
            asked.append((prod.get("quantity"), prod.get("unit_price")))
        for qty, price in asked:
            q, p = _int(qty), _dec(price)
            try:
                s = ctx.surface(sku, q, terms) if q is not None else None
            except DealdeskError:
                s = None
            if s is None or p is None:
                out.append(f"{where}: {price} for {qty} is no price this buyer can be quoted")
            elif p != max(s.list_price, s.walk_away_price):
                out.append(f"{where}: {p} for {q} is not the opening price {max(s.list_price, s.walk_away_price)}")
        try:
            s = ctx.surface(sku, 1, terms)
        except DealdeskError:
            continue
        limits = {"moq": s.moq, "max_order_quantity": s.max_order_quantity, "max_hold_units": s.max_hold_units}
        for name, value in limits.items():
            if prod.get(name) is not None and _int(prod[name]) != value:
                out.append(f"{where}: {name} {prod[name]} is not the policy's {value}")


def _free_text(data: dict[str, Any]) -> list[str]:
    """Strings of the data part that are not figures, ids or catalog documents: messages, reasons, notes, names."""
    kind = data.get("type")
    if kind == "error":
        return [str(data.get("message") or "")]
    if kind == "closed":
        return [str(data.get("reason") or "")]
    if kind == "proposal":
        return [str(a.get("note") or "") for a in data.get("alternatives") or []] + [
            str(i.get("name") or "") for i in [*(data.get("items") or []), *(data.get("alternatives") or [])]]
    if kind == "deal":
        return [str(i.get("name") or "") for i in data.get("items") or []]
    if kind == "answer":
        return [str((p.get("error") or {}).get("message") or "") for p in data.get("products") or []]
    return []


def _check_deal(d: dict[str, Any], out: list[str]) -> None:
    total = D(0)
    for item in d.get("items") or []:
        qty, price, lt = _int(item.get("quantity")), _dec(item.get("unit_price")), _dec(item.get("line_total"))
        if qty is None or price is None or lt is None or lt != price * qty:
            out.append(f"arithmetic: deal line {item.get('sku')} does not add up")
            continue
        total += lt
    if _dec(d.get("total")) != total:
        out.append(f"arithmetic: deal total {d.get('total')} != {total}")


def offer_money(data: dict[str, Any] | None) -> dict[Decimal, str]:
    """Money figures of the structured part, with their currency."""
    if not data:
        return {}
    cur = data.get("currency")
    vals: list[Any] = [data.get("total")]
    for item in data.get("items") or []:
        vals += [item.get("unit_price"), item.get("list_price"), item.get("line_total")]
    for alt in data.get("alternatives") or []:
        vals += [alt.get("unit_price"), alt.get("line_total")]
    pending = data.get("pending") or {}
    vals.append(pending.get("total"))
    for item in pending.get("items") or []:
        vals.append(item.get("unit_price"))
    return {d: cur for d in (_dec(v) for v in vals) if d is not None}


def offer_percents(data: dict[str, Any] | None) -> list[Decimal]:
    if not data:
        return []
    out = [_dec(i.get("discount_percent")) for i in data.get("items") or []]
    lists = {i.get("sku"): _dec(i.get("list_price")) for i in data.get("items") or []}
    for alt in data.get("alternatives") or []:  # an alternative's discount against the same SKU's list price
        lp, price = lists.get(alt.get("sku")), _dec(alt.get("unit_price"))
        if lp and price is not None:
            out.append((lp - price) * 100 / lp)
    return [p for p in out if p is not None]


# --- the text -----------------------------------------------------------------------------------------------

_LEAKS = [
    ("cost", r"\b(?:our|my|the|internal|unit|landed|purchase|buying|acquisition)\s+costs?\b(?![-\s]effective)"
             r"|\bcost\s+(?:price|basis|to\s+us)\b|\b(?:at|below|above|near|under)\s+cost\b|\bcosts?\s+us\b"
             r"|\bcogs\b|\bmark-?up\b|\bbreak[\s-]?even\b"),
    ("floor", r"\bfloor\b(?![\s-]*(?:mounted|standing|space))"),
    ("margin", r"\bmargins?\b(?!\s+of\s+error)"),
    ("walk-away", r"\bwalk[\s-]?away\b"),
    ("approval limit", r"\bapprov\w*\s+(?:limits?|levels?|thresholds?|authority|caps?|rules?)\b|\bauto[\s-]?approv"
                       r"|\b(?:can|may|could)\s+approve\s+(?:up|down)\s+to\b"
                       r"|\b(?:manager|director)\s+(?:can|may|could)\s+(?:approve|go)\b"),
    ("minimum price", r"\b(?:minimum|lowest\s+acceptable|reserve|bottom)\s+price\b|\blowest\s+(?:we|i)\s+can\s+go\b"),
    ("maximum discount", r"\b(?:max(?:imum)?|deepest)\s+discount\b|\bdiscount\s+(?:limit|cap|ceiling)\b"),
    ("internals", r"\btarget\s+price\b|\bpricing\s+polic(?:y|ies)\b|\bdecision\s+surface\b"),
]
_LEAK_RES = [(name, re.compile(rx, re.I)) for name, rx in _LEAKS]

_CUR_WORDS = {"eur": "EUR", "euro": "EUR", "euros": "EUR", "€": "EUR", "usd": "USD", "$": "USD", "us$": "USD",
              "dollar": "USD", "dollars": "USD", "gbp": "GBP", "£": "GBP", "chf": "CHF"}
_CUR = r"(?:US\$|\$|€|£|\b(?:EUR|USD|GBP|CHF|euros?|dollars?)\b)"
_N = r"\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:[.,]\d+)?|\d(?:[\d.,']*\d)?"
_ONES = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
         "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
         "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_WORDNUM = (r"\b(?:(?:" + "|".join([*_TENS, *_ONES, "hundred", "thousand", "and", "a"]) + r")\b[\s-]*)+")
_PCT = re.compile(rf"(?P<n>{_N}|{_WORDNUM})\s*(?:%|per\s*cent\b|percent\b|pct\b)", re.I)
_MONEY_BEFORE = re.compile(rf"(?P<c>{_CUR})\s?(?P<n>{_N}|{_WORDNUM})", re.I)
_MONEY_AFTER = re.compile(rf"(?P<n>{_N}|{_WORDNUM})\s?(?P<c>{_CUR})", re.I)
_AT_EACH = re.compile(rf"\b(?:at|for|price(?:d)?(?:\s+(?:is|of|at))?|only)\s+(?P<n>\d+[.,]\d{{1,2}})\b"
                      rf"(?!\s*(?:%|{_CUR}))",
                      re.I)
_BARE_DECIMAL = re.compile(r"(?<![\w.,-])\d+[.,]\d{1,3}(?![\w]|[.,]\d)")
_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:T[\d:.]+)?\b")


def _words_value(phrase: str) -> Decimal | None:
    total, current, seen = 0, 0, False
    for w in re.split(r"[\s-]+", phrase.lower().strip()):
        if w in ("", "and", "a"):
            continue
        if w in _ONES:
            current += _ONES[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w == "hundred":
            current = max(current, 1) * 100
        elif w == "thousand":
            total += max(current, 1) * 1000
            current = 0
        else:
            return None
        seen = True
    return D(total + current) if seen else None


def readings(raw: str) -> set[Decimal]:
    """Every value a written number may mean (1,625.00 / 1.625,00 / 3,10 / 1,234 -> both)."""
    raw = raw.strip()
    if not raw or not raw[0].isdigit():
        value = _words_value(raw)
        return {value} if value is not None else set()
    s = re.sub(r"[' \u00a0\u202f]", "", raw)
    out: set[Decimal] = set()
    if "." in s and "," in s:
        dec_sep = "." if s.rfind(".") > s.rfind(",") else ","
        group = "," if dec_sep == "." else "."
        out.add(_dec(s.replace(group, "").replace(dec_sep, ".")))
    elif "," in s or "." in s:
        sep = "," if "," in s else "."
        parts = s.split(sep)
        if len(parts) == 2:
            out.add(_dec(parts[0] + "." + parts[1]))
            if len(parts[1]) == 3:
                out.add(_dec(parts[0] + parts[1]))
        else:
            out.add(_dec("".join(parts)))
    else:
        out.add(_dec(s))
    return {v for v in out if v is not None}


def _mask(text: str, protected: Iterable[str]) -> str:
    """Blank out verbatim quotes (names, SKUs, ids, terms) and ISO dates: they are not stated figures."""
    low = text.lower()
    if len(low) != len(text):  # a character whose lower case is longer: fall back to the text itself
        low = text
    chars = list(text)
    for p in sorted({p.lower() for p in protected if p}, key=len, reverse=True):
        at = low.find(p)
        while at != -1:
            chars[at:at + len(p)] = "\x00" * len(p)
            low = low[:at] + "\x00" * len(p) + low[at + len(p):]
            at = low.find(p, at + len(p))
    return _ISO_DATE.sub(lambda m: "\x00" * len(m.group(0)), "".join(chars))


def _rounds_to(exact: Decimal, shown: Decimal) -> bool:
    exp = shown.as_tuple().exponent
    if not isinstance(exp, int):
        return False
    return exact.quantize(D(1).scaleb(min(exp, 0)), rounding=ROUND_HALF_UP) == shown


def leak_words(text: str) -> list[str]:
    return [f"leak_word: {name}: {m.group(0)!r}" for name, rx in _LEAK_RES for m in rx.finditer(text)]


def _secrets(data: dict[str, Any] | None, ctx: OracleContext) -> dict[Decimal, str]:
    lines = set(ctx.lines)
    terms = set(ctx.terms) | {ctx.default_terms}
    if data and data.get("type") == "proposal":
        terms.add(data.get("payment_terms"))
        for item in [*(data.get("items") or []), *(data.get("alternatives") or [])]:
            q = _int(item.get("quantity"))
            if q is not None:
                lines.add((item.get("sku"), q))
    out: dict[Decimal, str] = {}
    for sku, qty in lines:
        for t in terms:
            try:
                s = ctx.surface(sku, qty, t)
            except (DealdeskError, KeyError, TypeError):
                continue
            out.setdefault(s.cost, f"{sku} cost")
            out.setdefault(s.floor_price, f"{sku} floor")
            out.setdefault(s.walk_away_price, f"{sku} walk-away")
            out.setdefault(s.target_price, f"{sku} target")
            for lv in s.levels:
                out.setdefault(lv.min_unit_price, f"{sku} approval limit ({lv.name})")
    return out


def _protected(data: dict[str, Any] | None, ctx: OracleContext) -> list[str]:
    """Text that is quoted verbatim, not stated: product names, SKUs, ids, the non-negotiable terms."""
    names = [p.name for p in ctx.catalog.products.values()] + list(ctx.catalog.products)
    for k in ("proposal_id", "deal_id"):
        if data and isinstance(data.get(k), str):
            names.append(data[k])
    terms = (data or {}).get("terms")
    if isinstance(terms, dict):
        names += [str(v) for v in terms.values()]
    return names


def _leak_figures(masked: str, secrets: dict[Decimal, str], money: dict[Decimal, str]) -> list[str]:
    out = []
    for m in _BARE_DECIMAL.finditer(masked):
        for v in readings(m.group(0)):
            if v in secrets and v not in money:
                out.append(f"leak_figure: {m.group(0)!r} equals the {secrets[v]}")
                break
    return out


def _public_prices(text: str, ctx: OracleContext) -> dict[Decimal, str]:
    """The opening price of each product the text names, for this buyer, at each tier's first quantity (any
    of its books) and at each whole number the text names, on the terms in play: public volume prices."""
    out: dict[Decimal, str] = {}
    named = {int(n) for n in re.findall(r"(?<![\w.,])\d{1,8}(?![\w]|[.,]\d)", text)}
    for sku, product in ctx.catalog.products.items():
        if not re.search(rf"(?<![\w-]){re.escape(sku)}(?![\w-])", text):
            continue
        quantities = named | {t.min for price in product.prices.values() for t in price.tiers} | {1}
        for qty in quantities:
            for terms in {*ctx.terms, ctx.default_terms}:
                try:
                    s = ctx.surface(sku, qty, terms)
                except (DealdeskError, KeyError, TypeError):
                    continue
                if s.moq <= qty and (s.max_order_quantity is None or qty <= s.max_order_quantity):
                    out.setdefault(max(s.list_price, s.walk_away_price), s.currency)
    return out


def _check_text(data: dict[str, Any] | None, text: str, ctx: OracleContext, out: list[str]) -> None:
    if data is not None and data.get("type") == "answer":  # its figures are judged above; the words as without one
        data = None
    public = _public_prices(text, ctx) if data is None else {}
    if data is None and ctx.standing is not None:  # a restatement of the offer the buyer holds
        data = ctx.standing
    out += leak_words(text)
    masked = _mask(text, _protected(data, ctx))
    money = {**public, **offer_money(data if data and data.get("type") in ("proposal", "deal") else None)}
    percents = offer_percents(data if data and data.get("type") == "proposal" else None)
    claimed: list[tuple[int, int]] = []

    def free(m: re.Match[str]) -> bool:
        return not any(a < m.end() and m.start() < b for a, b in claimed)

    for rx in (_MONEY_BEFORE, _MONEY_AFTER):
        for m in rx.finditer(masked):
            if not free(m):
                continue
            values = readings(m.group("n"))
            if not values:
                continue
            claimed.append(m.span())
            cur = _CUR_WORDS.get(m.group("c").lower())
            if not any(v in money and (cur is None or money[v] in (None, cur)) for v in values):
                out.append(f"untraced_money: {m.group(0).strip()!r} is not a figure of the offer")
    for m in _AT_EACH.finditer(masked):
        if free(m):
            claimed.append(m.span())
            if not readings(m.group("n")) & set(money):
                out.append(f"untraced_money: {m.group(0).strip()!r} is not a figure of the offer")
    for m in _PCT.finditer(masked):
        if not free(m):
            continue
        values = readings(m.group("n"))
        if not values:
            continue
        claimed.append(m.span())
        if not any(_rounds_to(p, v) for v in values for p in percents):
            out.append(f"untraced_percent: {m.group(0).strip()!r} is not a discount of the offer")
    out += _leak_figures(masked, _secrets(data, ctx), money)


def judge(data: dict[str, Any] | None, text: str, ctx: OracleContext) -> list[str]:
    """Every reason this outgoing message must not reach a buyer (empty: it may)."""
    out: list[str] = []
    if data is not None:
        kind = data.get("type") if isinstance(data, dict) else None
        if kind not in SELLER_TYPES:
            out.append(f"shape: unknown seller message type {kind!r}")
        elif kind == "proposal":
            _check_proposal(data, ctx, out)
        elif kind == "deal":
            _check_deal(data, out)
        elif kind == "catalog_results":
            _check_catalog_results(data, ctx, out)
        elif kind == "answer":
            _check_answer(data, ctx, out)
        if kind in SELLER_TYPES:
            secrets = _secrets(data, ctx)
            money = offer_money(data if kind in ("proposal", "deal") else None)
            for words in _free_text(data):
                out += [f"data {v}" for v in leak_words(words)]
                out += [f"data {v}" for v in _leak_figures(_mask(words, _protected(data, ctx)), secrets, money)]
    _check_text(data if isinstance(data, dict) else None, text or "", ctx, out)
    return out
