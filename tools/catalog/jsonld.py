"""Schema.org JSON-LD export of the catalog, for buyer agents and crawlers that read linked data.

Shape (all money as decimal strings, never JSON numbers):

- `catalog_jsonld` returns one document: `@context` "https://schema.org" and
  an `@graph` holding one `Product` node per SKU, sorted by SKU.
- A `Product` has `@id` `urn:dealdesk:sku:<SKU>`, `sku`, `name`,
  `description` (when not empty), `category`, `additionalProperty` (a
  `PropertyValue` per spec; ints and bools stay JSON ints and bools,
  Decimals become strings), references as `{"@id": ...}` and `offers`.
  References: the catalog's `compatible` SKUs are parts that work with the
  product (its shaft seal and grease, a motor's coupling; the catalog lists
  them both ways, the seal lists its bearings too), so `isRelatedTo`: schema.org's
  `isAccessoryOrSparePartFor` and `isConsumableFor` have a direction the
  catalog does not state. `related` SKUs are `isSimilarTo` when they are
  look-alikes (same category, sold in the same unit: BRG-6204-ZZ beside
  BRG-6204), else `isRelatedTo` (the housed units beside a grease).
- One `Offer` per price book the product is priced in (`@id` `<product>#offer-<BOOK>`),
  with the list price as `price`, `availability` InStock when stock > 0,
  MadeToOrder for a made-to-order product, else OutOfStock (the seller quotes
  no units beyond its stock), `inventoryLevel`, `eligibleRegion` (the book's region),
  `deliveryLeadTime` (days to deliver one unit given the stock), `seller`
  (the vendor), a `description` and `priceSpecification`. No
  `eligibleCustomerType`: schema.org wants a BusinessEntityType there, and
  the catalog's segments are pricing rules applied to these list prices,
  not offers at them. `QuantitativeValue.value`, `minValue` and `maxValue`
  are JSON numbers (whole units); money stays decimal strings.
- `priceSpecification` is one `UnitPriceSpecification` per row of
  `ProductPrice.schedule` (the list-price head tier from 1 unit included),
  `priceType` ListPrice, with `eligibleQuantity` minValue/maxValue (maxValue
  omitted on the open-ended last tier) and a `description` saying how the
  tier applies: in range mode the tier an order's quantity falls in prices
  the whole order; in slab (graduated) mode a tier prices only the units of
  an order within its bounds, and the order's unit price is the blend.
- The tier mode is also an `additionalProperty` of the Offer:
  `{"@type": "PropertyValue", "propertyID": "tierMode", "value": "range"|"slab"}`.

Spec unit codes (UN/CEFACT Rec. 20) come only from an obvious name suffix,
see `SPEC_UNITS`; any other spec carries no `unitCode`.

`OFFLINE_CONTEXT` is a minimal stand-in for the remote schema.org context
(`@vocab` https://schema.org/, references and `availability` typed `@id`),
so the export can be expanded to RDF without the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from tools.catalog.models import Catalog, PriceBook, Product, ProductPrice, SpecValue

SCHEMA_ORG = "https://schema.org"
IN_STOCK = "https://schema.org/InStock"
OUT_OF_STOCK = "https://schema.org/OutOfStock"
MADE_TO_ORDER = "https://schema.org/MadeToOrder"
LIST_PRICE = "https://schema.org/ListPrice"
# A minimal schema.org context for offline JSON-LD processing (tests, air-gapped consumers).
OFFLINE_CONTEXT = Path(__file__).with_name("schemaorg_context.jsonld")

# Spec-name suffix (after the last "_") -> UN/CEFACT Rec. 20 unit code.
SPEC_UNITS: dict[str, str] = {
    "mm": "MMT", "cm": "CMT", "m": "MTR",
    "g": "GRM", "kg": "KGM",
    "w": "WTT", "kw": "KWT",
    "v": "VLT", "a": "AMP", "hz": "HTZ",
}
# Whole spec names whose unit is obvious without a suffix.
SPEC_NAME_UNITS: dict[str, str] = {"voltage": "VLT"}


def product_iri(sku: str) -> str:
    """The stable IRI of a SKU, used for `@id` and for cross-references."""
    return f"urn:dealdesk:sku:{sku}"


def _dec(value: Decimal) -> str:
    """Exact plain-notation decimal string (no rounding, no exponent)."""
    return format(value, "f")


def spec_unit(name: str) -> str | None:
    """The unit code a spec name makes obvious (`bore_mm` -> MMT, `voltage` -> VLT), else None."""
    lowered = name.lower()
    if lowered in SPEC_NAME_UNITS:
        return SPEC_NAME_UNITS[lowered]
    head, sep, suffix = lowered.rpartition("_")
    return SPEC_UNITS.get(suffix) if sep and head else None


def _spec_value(value: SpecValue) -> str | int | bool:
    return _dec(value) if isinstance(value, Decimal) else value


def _property(name: str, value: SpecValue) -> dict[str, Any]:
    prop: dict[str, Any] = {"@type": "PropertyValue", "propertyID": name, "name": name, "value": _spec_value(value)}
    unit = spec_unit(name)
    if unit:
        prop["unitCode"] = unit
    return prop


def _quantity(value: int, unit: str) -> dict[str, Any]:
    return {"@type": "QuantitativeValue", "value": value, "unitCode": unit}


def _tier_text(tier: Any, mode: str, currency: str, first: bool) -> str:
    """How a tier applies, in words a generic consumer reads right (slab tiers are not whole-order prices)."""
    span = f"units {tier.min} to {tier.max}" if tier.max is not None else f"units from {tier.min} on"
    if mode == "slab":
        return (f"Graduated (slab) list price: {tier.price} {currency} for only {span} of an order; the other units "
                "are priced by their own tiers and the order's unit price is the blend.")
    what = "List price" if first else "Volume list price"
    order = span.removeprefix("units ")
    return f"{what}: {tier.price} {currency} for every unit of an order of {order} units (the whole order)."


def _price_specs(price: ProductPrice, currency: str, unit: str, offer_id: str, mode: str) -> list[dict[str, Any]]:
    specs = []
    for i, tier in enumerate(price.schedule):
        eligible: dict[str, Any] = {"@type": "QuantitativeValue", "minValue": tier.min, "unitCode": unit}
        if tier.max is not None:
            eligible["maxValue"] = tier.max
        specs.append({
            "@type": "UnitPriceSpecification",
            "@id": f"{offer_id}-tier-{i}",
            "priceType": LIST_PRICE,
            "price": _dec(tier.price),
            "priceCurrency": currency,
            "unitCode": unit,
            "referenceQuantity": _quantity(1, unit),
            "eligibleQuantity": eligible,
            "description": _tier_text(tier, mode, currency, i == 0),
        })
    return specs


_OFFER_TEXT = {
    "range": "List prices before customer-specific rules (segment, promotion, deal size, payment terms); the volume "
             "tier an order's quantity falls in prices every unit.",
    "slab": "List prices before customer-specific rules (segment, promotion, deal size, payment terms); graduated "
            "(slab) tiers: each tier prices only the units within its bounds, and the unit price is the blend.",
}


def _offer(catalog: Catalog, product: Product, book: PriceBook, price: ProductPrice, stock: int) -> dict[str, Any]:
    offer_id = f"{product_iri(product.sku)}#offer-{book.id}"
    mode = catalog.tier_mode(product, book)
    return {
        "@type": "Offer",
        "@id": offer_id,
        "priceCurrency": book.currency,
        "price": _dec(price.list),
        "availability": MADE_TO_ORDER if product.inventory.made_to_order else IN_STOCK if stock > 0 else OUT_OF_STOCK,
        "inventoryLevel": _quantity(max(stock, 0), product.unit),
        "eligibleRegion": book.region,
        "deliveryLeadTime": _quantity(product.capacity.lead_time_for(1, stock), "DAY"),
        "seller": {"@type": "Organization", "name": catalog.vendor},
        "description": _OFFER_TEXT[mode],
        "additionalProperty": [
            {"@type": "PropertyValue", "propertyID": "tierMode", "name": "tierMode", "value": mode},
        ],
        "priceSpecification": _price_specs(price, book.currency, product.unit, offer_id, mode),
    }


def _look_alike(catalog: Catalog, product: Product, sku: str) -> bool:
    other = catalog.products.get(sku)
    return other is not None and other.category == product.category and other.unit == product.unit


def _product_node(catalog: Catalog, product: Product, inventory: int | None) -> dict[str, Any]:
    stock = product.inventory.on_hand if inventory is None else inventory
    node: dict[str, Any] = {
        "@type": "Product",
        "@id": product_iri(product.sku),
        "sku": product.sku,
        "name": product.name,
        "category": product.category,
        "additionalProperty": [_property(k, v) for k, v in sorted(product.specs.items())],
    }
    if product.description:
        node["description"] = product.description
    similar = [s for s in product.related if _look_alike(catalog, product, s)]
    related = list(dict.fromkeys([*product.compatible, *(s for s in product.related if s not in similar)]))
    if related:
        node["isRelatedTo"] = [{"@id": product_iri(s)} for s in related]
    if similar:
        node["isSimilarTo"] = [{"@id": product_iri(s)} for s in similar]
    node["offers"] = [
        _offer(catalog, product, catalog.price_books[book_id], price, stock)
        for book_id, price in sorted(product.prices.items())
        if book_id in catalog.price_books
    ]
    return node


def product_jsonld(catalog: Catalog, product: Product, *, inventory: int | None = None) -> dict[str, Any]:
    """One product as a standalone JSON-LD document; `inventory` overrides the catalog's on-hand stock."""
    return {"@context": SCHEMA_ORG, **_product_node(catalog, product, inventory)}


def catalog_jsonld(catalog: Catalog, *, inventory: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The whole catalog as one `@graph` document; `inventory` maps SKU -> live stock where known."""
    stock = inventory or {}
    return {
        "@context": SCHEMA_ORG,
        "@graph": [_product_node(catalog, catalog.products[sku], stock.get(sku)) for sku in sorted(catalog.products)],
    }
