"""Lookup tables derived from a catalog for the offline parser (`_Index`), built once per catalog (`_index`)."""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from agent.offline.patterns import _I, _NAME_TOKEN, _UNIT_SUFFIX, _stems
from tools.catalog.models import Catalog
from tools.catalog.search import spec_text


_COMPACT = re.compile(r"[-_./\s]")


class _Index:
    """Lookup tables derived from a catalog: SKUs by case-folded spelling, category words, spec keys, text."""

    def words_of(self, skus: Iterable[str]) -> frozenset[str]:
        """The name words (`_stems`) of any of `skus`: what the lines of an offer are called."""
        return frozenset().union(*(self.name_words.get(s, frozenset()) for s in skus))

    def __init__(self, catalog: Catalog | None):
        products = list(catalog.products.values()) if catalog is not None else []
        self.exact: frozenset[str] = frozenset(p.sku for p in products)
        self.fold: dict[str, str] = {}
        for sku in sorted(self.exact):
            self.fold.setdefault(sku.casefold(), sku)
        # SKUs written without their separators ("BRG6204"), where only one SKU reads so
        compact: dict[str, set[str]] = {}
        for sku in self.exact:
            compact.setdefault(_COMPACT.sub("", sku.casefold()), set()).add(sku)
        self.compact = {k: next(iter(v)) for k, v in compact.items() if len(v) == 1 and len(k) >= 5}
        self.specs_of: dict[str, tuple[str, ...]] = {p.sku: tuple(p.specs) for p in products}
        self.category_of: dict[str, str] = {p.sku: p.category for p in products}
        forms: dict[str, str] = {}
        for cat in sorted({p.category for p in products}):
            base = cat.casefold()
            variants = {base, base.replace("-", " "), base.replace("_", " ")}
            for v in list(variants):
                if v.endswith("s") and not v.endswith("ss") and len(v) > 3:
                    variants.add(v[:-1])
                elif len(v) > 2:
                    variants.add(v + "s")
            for v in sorted(variants):
                forms.setdefault(v, cat)
        self.categories = forms
        self.cat_re = re.compile(
            r"(?<![\w-])(?:" + "|".join(re.escape(f).replace(r"\ ", r"[\s\-]+")
                                        for f in sorted(forms, key=len, reverse=True)) + r")(?![\w-])", _I
        ) if forms else None
        # Spec keys: phrase words and unit ("outer_diameter_mm" -> ("outer", "diameter"), "mm").
        self.key_words: dict[str, tuple[str, ...]] = {}
        self.unit_keys: dict[str, list[str]] = {}
        self.key_count: dict[tuple[str, str | None], int] = {}
        self.key_values: dict[tuple[str, str | None], dict[Decimal, int]] = {}
        self.text_values: dict[tuple[str, str | None], dict[str, str]] = {}
        for p in products:
            for key, value in p.specs.items():
                if key not in self.key_words:
                    parts = tuple(w for w in key.casefold().replace("-", "_").split("_") if w)
                    unit = parts[-1] if len(parts) > 1 and parts[-1] in _UNIT_SUFFIX else None
                    self.key_words[key] = parts[:-1] if unit else parts
                    if unit:
                        self.unit_keys.setdefault(unit, []).append(key)
                number = _spec_number(value)
                text = spec_text(value)
                for scope in (p.category, None):
                    if len(text) <= 32 and " " not in text:  # "M8", "9", "SPA": a value a buyer writes beside its key
                        self.text_values.setdefault((key, scope), {}).setdefault(text.casefold(), text)
                    self.key_count[(key, scope)] = self.key_count.get((key, scope), 0) + 1
                    if number is not None:
                        bucket = self.key_values.setdefault((key, scope), {})
                        bucket[number] = bucket.get(number, 0) + 1
        # Designations in product names a buyer may write for the SKU ("6204-2RS", "UCP204", "20x47x7"): a token
        # with digits and at least two letters, each run of letters a capital code or one letter ("3-phase" is a
        # word), of one product only ("M12", "A2-70" name several: not kept).
        named: dict[str, set[str]] = {}
        for p in products:
            for token in _NAME_TOKEN.findall(p.name):
                runs = re.findall(r"[A-Za-z]+", token)
                if len(token) >= 4 and sum(map(len, runs)) >= 2 and any(c.isdigit() for c in token) \
                        and all(r.isupper() or len(r) == 1 for r in runs):
                    named.setdefault(token.casefold(), set()).add(p.sku)
        self.designations = {t: next(iter(skus)) for t, skus in named.items() if len(skus) == 1}
        # The digit runs of product names ("6204" of "6204-2RS" and "6204-ZZ"): a number the buyer writes that is
        # not a quantity or a price and is one of these is a search term ("1000 bearings 6204").
        self.name_numbers = frozenset(run for p in products for run in re.findall(r"\d{3,}", p.name))
        # ... and of SKUs, with the name words of their products ("6205": bearing, ball, ...): "6205 bearings"
        # names a product, it is no quantity of bearings; "100 inductive sensors" is (PT100 is no sensor of those).
        sku_numbers: dict[str, set[str]] = {}
        for p in products:
            for run in re.findall(r"\d{3,}", p.sku):
                sku_numbers.setdefault(run, set()).update(_stems(p.name))
        self.sku_numbers = {run: frozenset(words) for run, words in sku_numbers.items()}
        # The highest list price of each product (any price book): a figure far above it is no unit price asked.
        self.top_price = {p.sku: max(pp.list for pp in p.prices.values()) for p in products if p.prices}
        # The words of each product's name (`_stems`): a buyer's "the bearings" names the line whose name has one.
        self.name_words = {p.sku: frozenset(_stems(p.name)) for p in products}
        self.name_stems = frozenset().union(*self.name_words.values())
        fields: list[str] = []
        for p in products:
            fields += [p.sku, p.name, p.description, p.category]
            fields += [spec_text(v) for v in p.specs.values()]
        self.hay = "\x00".join(f.casefold() for f in fields)
        books = list(catalog.price_books.values()) if catalog is not None else []
        self.currencies = frozenset(b.currency for b in books)
        self.regions = frozenset(b.region for b in books)
        self.region_fold = {r.casefold(): r for r in sorted(self.regions)}
        by_cur: dict[str, set[str]] = {}
        for b in books:
            by_cur.setdefault(b.currency, set()).add(b.region)
        self.region_of_currency = {c: next(iter(r)) for c, r in by_cur.items() if len(r) == 1}

    def sku(self, token: str) -> str | None:
        if token in self.exact:
            return token
        found = self.fold.get(token.casefold())
        if found is None and len(token) >= 5 and not token.isdigit() and not token.isalpha():
            found = self.compact.get(_COMPACT.sub("", token.casefold()))  # "BRG6204" is BRG-6204
        return found


def _spec_number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, str) and len(value) <= 30:
        try:
            out = Decimal(value.strip())
        except (InvalidOperation, ValueError):
            return None
        return out if out.is_finite() else None
    return None


_INDEXES: weakref.WeakKeyDictionary[Any, _Index] = weakref.WeakKeyDictionary()
_INDEX_LOCK = threading.Lock()
_EMPTY_INDEX = _Index(None)


def _index(catalog: Catalog | None) -> _Index:
    """The catalog's index, built on first use and kept as long as the catalog object lives."""
    if catalog is None:
        return _EMPTY_INDEX
    with _INDEX_LOCK:
        try:
            found = _INDEXES.get(catalog)
        except TypeError:  # not weak-referenceable or unhashable: build each time
            return _Index(catalog)
        if found is None:
            found = _Index(catalog)
            try:
                _INDEXES[catalog] = found
            except TypeError:
                pass
        return found
