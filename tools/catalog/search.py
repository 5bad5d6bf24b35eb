"""Finding products: lookup by SKU and search by text, category and spec filters.

Buyer agents ask for "20 mm sealed bearings" or `bore_mm=20`; these pure
functions answer from the catalog alone, deterministically (ties break by
SKU), so the same question always gets the same list.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from tools.catalog.models import Catalog, Product, SpecValue
from tools.errors import UnknownCategory, UnknownSku
from tools.money import to_decimal

Operator = Literal["=", "!=", ">=", "<=", ">", "<"]

# Longest operators first so ">=" is not read as ">" followed by "=...".
_FILTER = re.compile(r"^\s*(?P<key>[A-Za-z0-9][A-Za-z0-9_.\-]*)\s*(?P<op>!=|>=|<=|=|>|<)\s*(?P<value>.*?)\s*$")
_OPERATOR_CHARS = set("=!<>~")
_ANY_OPERATOR = re.compile(r"^\s*[A-Za-z0-9][A-Za-z0-9_.\-]*\s*(?P<op>[^A-Za-z0-9\s]+)")


def lookup(catalog: Catalog, sku: str) -> Product:
    """The product with exactly this SKU; `UnknownSku` (field "sku") when there is none."""
    product = catalog.products.get(sku)
    if product is None:
        raise unknown_sku(catalog, sku)
    return product


# Suggestions are for a mistyped SKU: past these sizes the search would cost more than it helps (a buyer's bot
# sending long junk, or a catalog so large that difflib's pairwise comparison takes tens of milliseconds).
_SUGGEST_MAX_LEN = 64
_SUGGEST_MAX_CATALOG = 5000


def _sku_key(sku: str) -> str:
    return re.sub(r"[^0-9a-z]", "", sku.casefold())


def close_skus(catalog: Catalog, sku: str, n: int = 3) -> list[str]:
    """The catalog's SKUs a mistyped one was likely meant as: the same letters and digits (case and separators
    aside: "brg 6204" is BRG-6204) first, else the closest spellings; none for junk."""
    key = _sku_key(sku)
    if not key or len(sku) > _SUGGEST_MAX_LEN:
        return []
    same = [s for s in catalog.products if _sku_key(s) == key]
    if same or len(catalog.products) > _SUGGEST_MAX_CATALOG:
        return sorted(same)[:n]
    by_key: dict[str, str] = {}
    for s in sorted(catalog.products):
        by_key.setdefault(_sku_key(s), s)
    matcher = difflib.SequenceMatcher(b=key)
    scored = []
    for k, s in by_key.items():
        matcher.set_seq1(k)
        if matcher.real_quick_ratio() >= 0.6 and matcher.quick_ratio() >= 0.6 and (r := matcher.ratio()) >= 0.6:
            scored.append((-r, s))
    return [s for _, s in sorted(scored)[:n]]  # closest first; equally close ones in SKU order


def unknown_sku(catalog: Catalog, sku: str, field: str = "sku") -> UnknownSku:
    """The error for a SKU the catalog does not have, naming the SKUs it was likely meant as: a buyer's bot (or
    its developer) can correct the request without a catalog round trip."""
    close = close_skus(catalog, sku)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return UnknownSku(f"unknown SKU {sku!r}{hint}", field=field)


def check_category(catalog: Catalog, category: str) -> None:
    """`UnknownCategory` (field "category") naming the catalog's categories, for a category it does not have: a
    typo must not read as "no products"."""
    if category not in catalog.categories:
        raise UnknownCategory(f"unknown category {category!r} (categories: {', '.join(catalog.categories)})",
                              field="category")


def _number(value: object) -> Decimal | None:
    """The value as a finite Decimal when it reads as one (bools and garbage do not)."""
    if isinstance(value, bool):
        return None
    try:
        return to_decimal(value)
    except ValueError:
        return None


def spec_text(value: SpecValue) -> str:
    """A spec value as text, for matching and display: Decimals in plain notation, bools lower-case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


@dataclass(frozen=True)
class SpecFilter:
    """One parsed spec condition such as `power_kw>=1.1`.

    `number` is the value as a Decimal when it reads as one; then the
    comparison is numeric (so 20 matches 20.0), otherwise it is a
    case-insensitive string (in)equality.
    """

    key: str
    op: Operator
    value: str
    number: Decimal | None

    def matches(self, product: Product) -> bool:
        """Whether the product's spec satisfies the filter; a missing spec never does."""
        actual = _spec(product, self.key)
        if actual is None:
            return False
        if self.number is not None:
            have = _number(actual)
            if have is not None:
                return _compare(have, self.op, self.number)
        if self.op not in ("=", "!="):
            return False
        equal = spec_text(actual).casefold() == self.value.casefold()
        return equal if self.op == "=" else not equal


def _spec(product: Product, key: str) -> SpecValue | None:
    """The spec named `key`, exact first, then ignoring case."""
    if key in product.specs:
        return product.specs[key]
    folded = key.casefold()
    for name, value in product.specs.items():
        if name.casefold() == folded:
            return value
    return None


def _compare(left: Decimal, op: Operator, right: Decimal) -> bool:
    if op == "=":
        return left == right
    if op == "!=":
        return left != right
    if op == ">=":
        return left >= right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left < right


def parse_spec_filter(text: str) -> SpecFilter:
    """Parse `KEY OP VALUE` (OP one of = != >= <= > <); `ValueError` naming the filter otherwise."""
    match = _FILTER.match(text) if isinstance(text, str) else None
    if match is None and isinstance(text, str) and not _OPERATOR_CHARS & set(text):
        raise ValueError(f"bad spec filter {text!r}: no operator; use name=value, name!=value, name>=value, "
                         f"name<=value, name>value or name<value (e.g. bore_mm=20)")
    if match is None:
        other = _ANY_OPERATOR.match(text) if isinstance(text, str) else None
        if other is not None:
            raise ValueError(f"bad spec filter {text!r}: unknown operator {other['op']!r}")
        raise ValueError(f"bad spec filter {text!r}: use KEY=VALUE, KEY!=VALUE, KEY>=N, KEY<=N, KEY>N or KEY<N")
    key, op, value = match["key"], match["op"], match["value"]
    if value[:1] in _OPERATOR_CHARS:
        raise ValueError(f"bad spec filter {text!r}: unknown operator {op + value[:1]!r}")
    if value == "":
        raise ValueError(f"bad spec filter {text!r}: missing value after {op!r}")
    number = _number(value)
    if number is None and op not in ("=", "!="):
        raise ValueError(f"bad spec filter {text!r}: {op!r} needs a number, got {value!r}")
    return SpecFilter(key=key, op=op, value=value, number=number)  # type: ignore[arg-type]


def _haystack(product: Product) -> list[str]:
    fields = [product.sku, product.name, product.description, product.category]
    fields += [spec_text(v) for v in product.specs.values()]
    return [f.casefold() for f in fields]


def _rank(product: Product, terms: list[str]) -> tuple[int, int, int, str]:
    """Sort key: exact SKU first, then more terms in the name, then in the SKU, then by SKU."""
    sku, name = product.sku.casefold(), product.name.casefold()
    exact = any(term == sku for term in terms)
    return (0 if exact else 1, -sum(t in name for t in terms), -sum(t in sku for t in terms), product.sku)


def best_match(found: list[Product], text: str | None) -> Product | None:
    """The product of a search's results (`search`'s order) that matches its words better than every other: the
    only one, or the first when it ranks above the second on the SKU or its name ("M12 inductive" finds three
    sensors with an M12 connector; only one has M12 in its name), or the base product when the others that rank
    alike are its variants (BRG-6204 before BRG-6204-ZZ). None otherwise."""
    if len(found) == 1:
        return found[0]
    terms = (text or "").casefold().split()
    if len(found) < 2 or not terms:
        return None
    first = _rank(found[0], terms)[:3]
    if first < _rank(found[1], terms)[:3]:
        return found[0]
    # Alike: the base product when every other alike is a variant of it ("6204" finds BRG-6204 and BRG-6204-ZZ;
    # the buyer named no variant). `search` sorts BRG-6204 before its variants.
    alike = [p for p in found if _rank(p, terms)[:3] == first]
    base = found[0].sku
    return found[0] if all(p.sku.startswith(base + "-") for p in alike[1:]) else None


def search(
    catalog: Catalog,
    text: str | None = None,
    category: str | None = None,
    specs: Iterable[str | SpecFilter] | None = None,
    limit: int | None = 20,
) -> list[Product]:
    """Products matching every given condition, best first, at most `limit` (None: all).

    Text matches case-insensitively when every whitespace-separated term
    occurs in the SKU, name, description, category or a spec value.
    Filters are parsed before anything is matched, so a bad one always
    raises `ValueError`, even against an empty result.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be zero or more, not {limit}")
    filters = [f if isinstance(f, SpecFilter) else parse_spec_filter(f) for f in (specs or ())]
    terms = (text or "").casefold().split()
    found = []
    for product in catalog.products.values():
        if category is not None and product.category != category:
            continue
        if not all(f.matches(product) for f in filters):
            continue
        if terms:
            hay = _haystack(product)
            if not all(any(term in field for field in hay) for term in terms):
                continue
        found.append(product)
    found.sort(key=lambda p: _rank(p, terms))
    return found if limit is None else found[:limit]
