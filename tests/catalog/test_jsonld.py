"""Schema.org JSON-LD export, read back as RDF with an offline context (no network)."""

from __future__ import annotations

import copy
import json
import socket
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rdflib import Graph, Literal, Namespace, URIRef

from tools.catalog import Catalog, load_catalog
from tools.catalog.models import Inventory
from tools.catalog.jsonld import IN_STOCK, MADE_TO_ORDER, OFFLINE_CONTEXT, OUT_OF_STOCK, catalog_jsonld, product_jsonld, spec_unit

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "mini_catalog.yaml"
SDO = Namespace("https://schema.org/")
# rdflib's own json-ld parser uses its deprecated ConjunctiveGraph internally.
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if anything here tries to fetch the remote schema.org context."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(FIXTURE)


def expand_offline(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of `doc` whose remote schema.org context is replaced by the bundled offline one."""
    local = json.loads(OFFLINE_CONTEXT.read_text(encoding="utf-8"))["@context"]
    out = copy.deepcopy(doc)
    assert out["@context"] == "https://schema.org"
    out["@context"] = local
    return out


def to_graph(doc: dict[str, Any]) -> Graph:
    return Graph().parse(data=json.dumps(expand_offline(doc)), format="json-ld")


def floats_in(value: Any, path: str = "$") -> list[str]:
    """JSON paths of every float in a decoded document."""
    if isinstance(value, float):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in floats_in(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in floats_in(v, f"{path}[{i}]")]
    return []


TIERS_QUERY = """
PREFIX s: <https://schema.org/>
SELECT ?currency ?list ?min ?max ?price WHERE {
    ?product s:sku ?sku ; s:offers ?offer .
    ?offer s:priceCurrency ?currency ; s:price ?list ; s:priceSpecification ?spec .
    ?spec a s:UnitPriceSpecification ; s:price ?price ; s:eligibleQuantity ?q .
    ?q s:minValue ?min .
    OPTIONAL { ?q s:maxValue ?max }
}
"""


@pytest.mark.parametrize("sku", ["BRG-6204", "BRG-6205", "MTR-100"])
def test_tiers_read_back_from_rdf_equal_the_schedule(catalog: Catalog, sku: str) -> None:
    product = catalog.products[sku]
    graph = to_graph(product_jsonld(catalog, product))
    rows = graph.query(TIERS_QUERY, initBindings={"sku": Literal(sku)})
    got: dict[str, set[tuple[int, int | None, Decimal]]] = {}
    lists: dict[str, Decimal] = {}
    for row in rows:
        currency = str(row.currency)
        lists[currency] = Decimal(str(row.list))
        got.setdefault(currency, set()).add(
            (int(row.min), None if row.max is None else int(row.max), Decimal(str(row.price)))
        )
    expected = {}
    for book_id, price in product.prices.items():
        currency = catalog.price_books[book_id].currency
        expected[currency] = {(t.min, t.max, t.price) for t in price.schedule}
        assert lists[currency] == price.list
    assert got == expected
    # The head tier carries the list price from one unit, the last tier is open-ended.
    for tiers in got.values():
        ordered = sorted(tiers)
        assert ordered[0][0] == 1 and ordered[-1][1] is None


def test_whole_catalog_graph_has_every_product(catalog: Catalog) -> None:
    graph = to_graph(catalog_jsonld(catalog))
    found = {str(s) for s in graph.subjects(predicate=None, object=SDO.Product)}
    assert found == {f"urn:dealdesk:sku:{sku}" for sku in catalog.products}
    rows = list(graph.query(TIERS_QUERY, initBindings={"sku": Literal("BRG-6204")}))
    assert len(rows) == 6  # 3 tiers in each of 2 price books


@pytest.mark.parametrize("doc_of", ["product", "catalog"])
def test_no_float_anywhere(catalog: Catalog, doc_of: str) -> None:
    docs = [product_jsonld(catalog, p) for p in catalog.products.values()] if doc_of == "product" else [
        catalog_jsonld(catalog)
    ]
    for doc in docs:
        assert floats_in(doc) == []

        def refuse(text: str) -> None:
            raise AssertionError(f"float literal {text} in JSON")

        json.loads(json.dumps(doc), parse_float=refuse)


def test_money_is_exact_decimal_strings(catalog: Catalog) -> None:
    doc = product_jsonld(catalog, catalog.products["BRG-6204"])
    offers = {o["priceCurrency"]: o for o in doc["offers"]}
    assert offers["USD"]["price"] == "3.50"
    assert [s["price"] for s in offers["EUR"]["priceSpecification"]] == ["3.30", "3.00", "2.70"]


def test_product_shape(catalog: Catalog) -> None:
    doc = product_jsonld(catalog, catalog.products["BRG-6204"])
    assert doc["@context"] == "https://schema.org"
    assert doc["@type"] == "Product"
    assert doc["@id"] == "urn:dealdesk:sku:BRG-6204"
    assert doc["sku"] == "BRG-6204" and doc["category"] == "bearings"
    assert doc["description"].startswith("Sealed")
    assert doc["isSimilarTo"] == [{"@id": "urn:dealdesk:sku:BRG-6205"}] and "isRelatedTo" not in doc
    props = {p["propertyID"]: p for p in doc["additionalProperty"]}
    assert props["bore_mm"] == {"@type": "PropertyValue", "propertyID": "bore_mm", "name": "bore_mm",
                                "value": 20, "unitCode": "MMT"}
    assert "unitCode" not in props["seal"]


def test_offer_fields(catalog: Catalog) -> None:
    doc = product_jsonld(catalog, catalog.products["MTR-100"])
    offers = {o["priceCurrency"]: o for o in doc["offers"]}
    assert set(offers) == {"USD", "EUR"}
    eur = offers["EUR"]
    assert eur["@type"] == "Offer"
    assert eur["eligibleRegion"] == "EU"
    assert "eligibleCustomerType" not in eur  # segment ids are no BusinessEntityType; segments are rules, not list
    assert eur["priceSpecification"][0]["priceType"] == "https://schema.org/ListPrice"
    assert eur["availability"] == IN_STOCK
    assert eur["inventoryLevel"] == {"@type": "QuantitativeValue", "value": 900, "unitCode": "C62"}
    assert eur["deliveryLeadTime"] == {"@type": "QuantitativeValue", "value": 5, "unitCode": "DAY"}
    assert {p["propertyID"]: p["value"] for p in eur["additionalProperty"]} == {"tierMode": "slab"}
    assert {p["propertyID"]: p["value"] for p in offers["USD"]["additionalProperty"]} == {"tierMode": "range"}
    head, last = eur["priceSpecification"]
    assert head["@type"] == "UnitPriceSpecification"
    assert head["unitCode"] == "C62"
    assert head["referenceQuantity"] == {"@type": "QuantitativeValue", "value": 1, "unitCode": "C62"}
    assert head["eligibleQuantity"] == {"@type": "QuantitativeValue", "minValue": 1, "maxValue": 9, "unitCode": "C62"}
    assert "maxValue" not in last["eligibleQuantity"]


def test_product_tier_mode_overrides_the_book(catalog: Catalog) -> None:
    product = catalog.products["MTR-100"].model_copy(update={"tier_mode": "slab"})
    doc = product_jsonld(catalog, product)
    assert {o["additionalProperty"][0]["value"] for o in doc["offers"]} == {"slab"}


def test_out_of_stock_is_out_of_stock_with_restock_lead_time(catalog: Catalog) -> None:
    # Not BackOrder: the seller quotes no units beyond the stock of a product it keeps in stock.
    product = catalog.products["BRG-6204"]
    doc = product_jsonld(catalog, product, inventory=0)
    for offer in doc["offers"]:
        assert offer["availability"] == OUT_OF_STOCK
        assert offer["inventoryLevel"]["value"] == 0
        assert offer["deliveryLeadTime"]["value"] == product.capacity.restock_lead_time_days
    assert product_jsonld(catalog, product, inventory=3)["offers"][0]["availability"] == IN_STOCK


def test_made_to_order_is_made_to_order_with_restock_lead_time(catalog: Catalog) -> None:
    product = catalog.products["BRG-6204"].model_copy(update={"inventory": Inventory(on_hand=0, made_to_order=True)})
    for offer in product_jsonld(catalog, product)["offers"]:
        assert offer["availability"] == MADE_TO_ORDER
        assert offer["inventoryLevel"]["value"] == 0
        assert offer["deliveryLeadTime"]["value"] == product.capacity.restock_lead_time_days


def test_catalog_inventory_override(catalog: Catalog) -> None:
    doc = catalog_jsonld(catalog, inventory={"MTR-100": 0})
    by_sku = {node["sku"]: node for node in doc["@graph"]}
    assert by_sku["MTR-100"]["offers"][0]["availability"] == OUT_OF_STOCK
    assert by_sku["BRG-6204"]["offers"][0]["availability"] == IN_STOCK
    assert "@context" not in by_sku["MTR-100"]


def test_references_and_availability_are_iris_in_rdf(catalog: Catalog) -> None:
    base = catalog.products["BRG-6204"]
    product = base.model_copy(update={"compatible": ("MTR-100",)})
    graph = to_graph(product_jsonld(catalog, product))
    me = URIRef("urn:dealdesk:sku:BRG-6204")
    # related BRG-6205: a look-alike (same category, same unit); compatible MTR-100: works with it, not similar
    assert (me, SDO.isSimilarTo, URIRef("urn:dealdesk:sku:BRG-6205")) in graph
    assert (me, SDO.isRelatedTo, URIRef("urn:dealdesk:sku:MTR-100")) in graph
    assert (me, SDO.isSimilarTo, URIRef("urn:dealdesk:sku:MTR-100")) not in graph
    assert set(graph.objects(None, SDO.availability)) == {URIRef(IN_STOCK)}


@pytest.mark.parametrize(
    ("name", "unit"),
    [("bore_mm", "MMT"), ("power_kw", "KWT"), ("supply_v", "VLT"), ("voltage", "VLT"), ("Weight_KG", "KGM"),
     ("seal", None), ("poles", None), ("mm", None), ("rated_rpm", None)],
)
def test_spec_unit_codes(name: str, unit: str | None) -> None:
    assert spec_unit(name) == unit


def test_remote_context_would_be_refused(catalog: Catalog) -> None:
    """Guards the guard: without `expand_offline` rdflib would go to the network, and is stopped."""
    doc = json.dumps(product_jsonld(catalog, catalog.products["BRG-6205"]))
    with pytest.raises(AssertionError, match="network access attempted"):
        Graph().parse(data=doc, format="json-ld")


def test_offline_context_is_valid_json_ld_context() -> None:
    ctx = json.loads(OFFLINE_CONTEXT.read_text(encoding="utf-8"))["@context"]
    assert ctx["@vocab"] == "https://schema.org/"
    assert ctx["isRelatedTo"] == {"@type": "@id"} and ctx["isSimilarTo"] == {"@type": "@id"}


def test_demo_compatible_parts_are_never_exported_as_similar() -> None:
    """QA: grease and shaft seal (the bearing's `compatible` parts) were `isSimilarTo` the bearing."""
    demo = load_catalog(Path(__file__).resolve().parents[2] / "examples" / "catalog.yaml")
    doc = product_jsonld(demo, demo.products["BRG-6204"])
    similar = {ref["@id"] for ref in doc.get("isSimilarTo", [])}
    related = {ref["@id"] for ref in doc.get("isRelatedTo", [])}
    assert "urn:dealdesk:sku:BRG-GRS-EP2" not in similar and "urn:dealdesk:sku:BRG-SEAL-20477" not in similar
    assert {"urn:dealdesk:sku:BRG-GRS-EP2", "urn:dealdesk:sku:BRG-SEAL-20477"} <= related
    assert "urn:dealdesk:sku:BRG-6204-ZZ" in similar  # a look-alike
    grease = product_jsonld(demo, demo.products["BRG-GRS-EP2"])  # related housed units, sold by the piece
    assert "isSimilarTo" not in grease and grease["isRelatedTo"]


def test_slab_tiers_say_they_are_graduated_and_quantities_are_numbers(catalog: Catalog) -> None:
    doc = product_jsonld(catalog, catalog.products["BRG-6204"])
    offers = {o["priceCurrency"]: o for o in doc["offers"]}
    eur, usd = offers["EUR"], offers["USD"]  # EU book: slab; US book: range
    assert "graduated" in eur["description"] and all("graduated" in s["description"].lower()
                                                     for s in eur["priceSpecification"][1:])
    assert "only units 100 to 499" in eur["priceSpecification"][1]["description"]
    assert "whole order" in usd["priceSpecification"][1]["description"]
    for offer in (eur, usd):
        assert isinstance(offer["inventoryLevel"]["value"], int)
        for spec in offer["priceSpecification"]:
            assert isinstance(spec["eligibleQuantity"]["minValue"], int)
            assert isinstance(spec["referenceQuantity"]["value"], int)
