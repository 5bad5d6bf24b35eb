"""Loader unit tests: valid files in every format, and a table of bad files that must be refused precisely.

Bad files are variants of the mini fixture built in code (load, mutate a
dict, dump), so each case shows exactly what it breaks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.catalog import Catalog, CatalogError, CatalogHolder, load_catalog
from tools.catalog.models import Capacity, ProductPrice

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "mini_catalog.yaml"
Mutate = Callable[[dict[str, Any]], None]


# --- building variants of the mini fixture ------------------------------------------


def mini() -> dict[str, Any]:
    """The fixture as plain data, a fresh copy each call."""
    return yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))


def variant(mutate: Mutate | None = None) -> dict[str, Any]:
    data = mini()
    if mutate is not None:
        mutate(data)
    return data


def write_yaml(directory: Path, data: dict[str, Any], name: str = "catalog.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def write_json(directory: Path, data: dict[str, Any], name: str = "catalog.json") -> Path:
    path = directory / name
    path.write_text(json.dumps(data, default=str, indent=2), encoding="utf-8")  # dates as ISO strings
    return path


def write_text(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


# The fixture's products as a hand-written CSV (no segments or rules: CSV carries products only).
CSV_HEADER = (
    "sku,name,description,category,unit,related,on_hand,lead_time_days,restock_lead_time_days,weekly_capacity,"
    "cost.USD,cost.EUR,price.US-USD.list,price.US-USD.tiers,price.EU-EUR.list,price.EU-EUR.tiers,"
    "spec.bore_mm,spec.seal,spec.power_kw\n"
)
CSV_ROWS = (
    'BRG-6204,Deep groove ball bearing 6204-2RS,"Sealed deep groove ball bearing, 20 mm bore.",bearings,H87,'
    "BRG-6205,5000,2,21,2000,1.20,1.10,3.50,100-499:3.20|500+:2.90,3.30,100-499:3.00|500+:2.70,20,2RS,\n"
    "BRG-6205,Deep groove ball bearing 6205-2RS,,bearings,,BRG-6204,40,2,21,1000,1.50,1.40,4.10,,3.90,,25,2RS,\n"
    "MTR-100,Induction motor 1.1 kW,,motors,C62,,900,5,42,50,180.00,165.00,320.00,10+:300.00,295.00,10+:280.00,,,1.1\n"
)
CSV_TEXT = CSV_HEADER + CSV_ROWS


def yaml_case(mutate: Mutate) -> Callable[[Path], Path]:
    return lambda d: write_yaml(d, variant(mutate))


def json_case(mutate: Mutate) -> Callable[[Path], Path]:
    return lambda d: write_json(d, variant(mutate))


def text_case(name: str, text: str) -> Callable[[Path], Path]:
    return lambda d: write_text(d, name, text)


def set_in(*path: str | int, **values: Any) -> Mutate:
    """A mutation that updates the mapping at `path` with `values`."""

    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        for key in path:
            node = node[key]
        node.update(values)

    return mutate


def us_tiers(*tiers: dict[str, Any]) -> Mutate:
    """Replace BRG-6204's US-USD tiers."""
    return set_in("products", 0, "prices", "US-USD", tiers=list(tiers))


def add_rule(rule: dict[str, Any]) -> Mutate:
    return lambda data: data["rules"].append(rule)


# --- the table of bad files ---------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    """A bad file and the issue it must produce: `row` and `message` are substrings, `field` is exact."""

    id: str
    write: Callable[[Path], Path]
    row: str
    field: str
    message: str


P0 = "products[0] (sku BRG-6204"
P1 = "products[1] (sku BRG-6205"
P2 = "products[2] (sku MTR-100"

BAD: list[Bad] = [
    Bad("unknown-top-level-field", yaml_case(set_in(colour="red")), "", "colour", "unknown field"),
    Bad("unknown-product-field", yaml_case(set_in("products", 1, colour="red")), P1, "colour", "unknown field"),
    Bad("unknown-tier-field", yaml_case(set_in("products", 0, "prices", "US-USD", "tiers", 0, discount="1")),
        P0, "prices.US-USD.tiers[0].discount", "unknown field"),
    Bad("duplicate-sku", yaml_case(set_in("products", 2, sku="BRG-6204")), P2.replace("MTR-100", "BRG-6204"),
        "sku", "duplicate SKU 'BRG-6204'"),
    Bad("negative-price", yaml_case(set_in("products", 1, "prices", "US-USD", list="-4.10")),
        P1, "prices.US-USD.list", "greater than or equal to 0"),
    Bad("non-numeric-price", yaml_case(set_in("products", 1, "prices", "US-USD", list="cheap")),
        P1, "prices.US-USD.list", "'cheap' is not a decimal number"),
    Bad("comma-decimal-price", yaml_case(set_in("products", 1, "prices", "US-USD", list="3,50")),
        P1, "prices.US-USD.list", "'3,50' is not a decimal number"),
    Bad("tiers-out-of-order", yaml_case(us_tiers({"min": 500, "max": 999, "price": "2.90"},
                                                 {"min": 100, "max": 499, "price": "3.20"})),
        P0, "prices.US-USD", "tiers out of order: tiers[1] (100-499 units) starts at 100, not after tiers[0] "
                             "(500-999 units)"),
    Bad("tiers-overlap", yaml_case(set_in("products", 0, "prices", "US-USD", "tiers", 1, min=400)),
        P0, "prices.US-USD", "tiers overlap: tiers[1] (400+ units) starts inside tiers[0] (100-499 units)"),
    Bad("tiers-gap", yaml_case(set_in("products", 0, "prices", "US-USD", "tiers", 1, min=600)),
        P0, "prices.US-USD", "gap between tiers: 499 to 600 (tiers[0] (100-499 units), then tiers[1] (600+ "
                             "units)): no price for 500-599 units"),
    Bad("tier-price-rises", yaml_case(set_in("products", 0, "prices", "US-USD", "tiers", 1, price="3.30")),
        P0, "prices.US-USD", "price 3.30 rises above tiers[0] (100-499 units) price"),
    Bad("currency-not-iso", yaml_case(set_in("price_books", 0, currency="USX")),
        "", "price_books[0].currency", "'USX' is not an ISO 4217 currency code"),
    Bad("list-below-cost", yaml_case(set_in("products", 1, "prices", "US-USD", list="1.00")),
        P1, "prices.US-USD.list", "below cost 1.50 USD"),
    Bad("tier-below-cost", yaml_case(set_in("products", 0, "prices", "US-USD", "tiers", 1, price="1.00")),
        P0, "prices.US-USD.tiers[1].price", "below cost 1.20 USD"),
    Bad("missing-cost-for-book-currency", yaml_case(lambda d: d["products"][2]["cost"].pop("EUR")),
        P2, "cost.EUR", "missing cost in EUR"),
    Bad("unknown-price-book", yaml_case(set_in("products", 1, "prices", **{"UK-GBP": {"list": "3.00"}})),
        P1, "prices.UK-GBP", "unknown price book 'UK-GBP'"),
    Bad("unknown-related-sku", yaml_case(set_in("products", 1, related=["BRG-9999"])),
        P1, "related", "unknown SKU 'BRG-9999'"),
    Bad("duplicate-yaml-key", text_case("catalog.yaml", FIXTURE.read_text(encoding="utf-8").replace(
        "    unit: H87\n", "    unit: H87\n    unit: C62\n", 1)),
        "", "", "duplicate key 'unit'"),
    Bad("duplicate-rule-id", yaml_case(set_in("rules", 6, id="terms-net60")),
        "rules", "id", "duplicate rule id 'terms-net60'"),
    Bad("duplicate-rule-id-has-lines", yaml_case(set_in("rules", 4, id="stock-low")),
        "rules[4] (stock-low, line ", "id", "duplicate rule id 'stock-low' (first at rules[2], line "),
    Bad("static-rule-conflict", yaml_case(add_rule({
        "id": "seg-strategic-2", "kind": "segment", "priority": 10,
        "when": {"segments": ["strategic"]}, "effect": {"percent": "-7"}})),
        "rules (seg-strategic, seg-strategic-2)", "priority", "both segment rules of priority 10"),
    Bad("unknown-rule-segment", yaml_case(set_in("rules", 0, "when", segments=["vip"])),
        "rules[0] (seg-strategic, line ", "when.segments", "unknown segment 'vip'"),
    Bad("unknown-rule-category", yaml_case(set_in("rules", 0, "when", categories=["motor"])),
        "rules[0] (seg-strategic, line ", "when.categories", "unknown category 'motor'"),
    Bad("unknown-rule-field", yaml_case(set_in("rules", 3, colour="red")),
        "rules[3] (stock-over-motors, line ", "colour", "unknown field"),
    Bad("unknown-rule-when-field", yaml_case(set_in("rules", 3, "when", bogus=1)),
        "rules[3] (stock-over-motors, line ", "when.bogus", "unknown field"),
    Bad("json-unknown-rule-field", json_case(set_in("rules", 3, colour="red")),
        "rules[3] (stock-over-motors)", "colour", "unknown field"),
    # A bool is an int to Python: `true` must not load as 1 unit, day or price.
    Bad("bool-on-hand", yaml_case(set_in("products", 1, "inventory", on_hand=True)),
        P1, "inventory.on_hand", "a boolean (true) is not a whole number"),
    Bad("bool-weekly-capacity", yaml_case(set_in("products", 1, "capacity", weekly_capacity=True)),
        P1, "capacity.weekly_capacity", "a boolean (true) is not a whole number"),
    Bad("bool-lead-time", yaml_case(set_in("products", 1, "capacity", lead_time_days=False)),
        P1, "capacity.lead_time_days", "a boolean (false) is not a whole number"),
    Bad("bool-tier-min", yaml_case(set_in("products", 0, "prices", "US-USD", "tiers", 0, min=True)),
        P0, "prices.US-USD.tiers[0].min", "a boolean (true) is not a whole number"),
    Bad("json-bool-on-hand", json_case(set_in("products", 2, "inventory", on_hand=True)),
        P2, "inventory.on_hand", "a boolean (true) is not a whole number"),
    Bad("bool-list-price", yaml_case(set_in("products", 1, "prices", "US-USD", list=True)),
        P1, "prices.US-USD.list", "a boolean (true) is not a price"),
    Bad("bool-tier-price", yaml_case(set_in("products", 0, "prices", "US-USD", "tiers", 1, price=True)),
        P0, "prices.US-USD.tiers[1].price", "a boolean (true) is not a price"),
    Bad("bool-cost", yaml_case(set_in("products", 1, "cost", USD=False)),
        P1, "cost.USD", "a boolean (false) is not a price"),
    Bad("bool-rule-priority", yaml_case(set_in("rules", 3, priority=True)),
        "rules[3] (stock-over-motors, line ", "priority", "a boolean (true) is not a whole number"),
    Bad("bool-rule-min-quantity", yaml_case(set_in("rules", 3, "when", min_quantity=True)),
        "rules[3] (stock-over-motors, line ", "when.min_quantity", "a boolean (true) is not a whole number"),
    Bad("bool-rule-stock", yaml_case(set_in("rules", 3, "when", stock_at_least=False)),
        "rules[3] (stock-over-motors, line ", "when.stock_at_least", "a boolean (false) is not a whole number"),
    Bad("bool-rule-percent", yaml_case(set_in("rules", 3, "effect", allowance_percent=True)),
        "rules[3] (stock-over-motors, line ", "effect.allowance_percent", "a boolean (true) is not a decimal number"),
    # Prices are on the currency's minor unit: 3.505 EUR is no price a buyer can pay.
    Bad("list-price-below-minor-unit", yaml_case(set_in("products", 1, "prices", "EU-EUR", list="3.905")),
        P1, "prices.EU-EUR.list", "list price 3.905 has more decimals than EUR allows (2 decimals"),
    Bad("tier-price-below-minor-unit", yaml_case(set_in("products", 0, "prices", "US-USD", "tiers", 1, price="2.899")),
        P0, "prices.US-USD.tiers[1].price", "tier price 2.899 has more decimals than USD allows (2 decimals"),
    Bad("csv-list-price-below-minor-unit", text_case("catalog.csv", CSV_TEXT.replace(",4.10,", ",4.101,", 1)),
        "line 3 (sku BRG-6205)", "prices.US-USD.list", "has more decimals than USD allows (2 decimals"),
    Bad("json-unknown-field", json_case(set_in("products", 1, colour="red")), P1, "colour", "unknown field"),
    Bad("json-negative-cost", json_case(set_in("products", 2, "cost", USD="-1")),
        P2, "cost.USD", "greater than or equal to 0"),
    Bad("csv-unknown-column", text_case("catalog.csv", CSV_TEXT.replace("spec.seal", "seal", 1)),
        "header", "seal", "unknown column"),
    Bad("csv-bad-tier-string", text_case("catalog.csv", CSV_TEXT.replace("100-499:3.20|", "100-499;3.20|", 1)),
        "line 2", "price.US-USD.tiers", "needs the form MIN-MAX:PRICE"),
    Bad("csv-non-integer-tier-quantity", text_case("catalog.csv", CSV_TEXT.replace("10+:280.00", "ten+:280.00")),
        "line 4", "price.EU-EUR.tiers", "quantities must be whole numbers"),
    Bad("csv-bad-price-cell", text_case("catalog.csv", CSV_TEXT.replace(",4.10,", ",4.1O,", 1)),
        "line 3 (sku BRG-6205)", "prices.US-USD.list", "not a decimal number"),
    Bad("unsupported-extension", text_case("catalog.txt", "products: []\n"), "", "", "unsupported file type '.txt'"),
]


@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_bad_file_is_refused_naming_row_and_field(tmp_path: Path, case: Bad) -> None:
    path = case.write(tmp_path)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    issues = info.value.issues
    assert issues, "a refused file must carry at least one issue"
    matching = [i for i in issues if case.row in i.row and i.field == case.field and case.message in i.message]
    assert matching, f"no issue with row~{case.row!r} field={case.field!r} message~{case.message!r} in {issues}"
    assert all(i.file == str(path) for i in issues)
    assert case.message in str(info.value)


def test_table_is_big_enough() -> None:
    assert len(BAD) >= 15
    assert len({c.id for c in BAD}) == len(BAD)


def test_yaml_issue_row_points_at_the_product_line(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, variant(set_in("products", 1, colour="red")))
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    (issue,) = info.value.issues
    line = int(issue.row.rsplit("line ", 1)[1].rstrip(")"))
    assert path.read_text(encoding="utf-8").splitlines()[line - 1].lstrip("- ").startswith("sku: BRG-6205")


def _line_of(issue_row: str) -> int:
    return int(issue_row.rsplit("line ", 1)[1].rstrip(")"))


def test_yaml_rule_issue_row_points_at_the_rule_line(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, variant(set_in("rules", 3, "when", bogus=1)))
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    (issue,) = info.value.issues
    assert issue.row.startswith("rules[3] (stock-over-motors, line ") and issue.field == "when.bogus"
    assert path.read_text(encoding="utf-8").splitlines()[_line_of(issue.row) - 1] == "- id: stock-over-motors"


def test_rule_cross_check_row_points_at_the_rule_line(tmp_path: Path) -> None:
    """The fixture as written (comments, flow mappings): the rule's row gives the line of its `- id:`."""
    text = FIXTURE.read_text(encoding="utf-8").replace("segments: [strategic]}", "segments: [vip]}", 1)
    lines = text.splitlines()
    with pytest.raises(CatalogError) as info:
        load_catalog(write_text(tmp_path, "catalog.yaml", text))
    (issue,) = info.value.issues
    assert (issue.field, issue.message) == ("when.segments", "unknown segment 'vip'")
    assert lines[_line_of(issue.row) - 1] == "  - id: seg-strategic"


def test_conflicting_rules_are_named_with_their_lines(tmp_path: Path) -> None:
    data = variant(add_rule({"id": "seg-strategic-2", "kind": "segment", "priority": 10,
                             "when": {"segments": ["strategic"]}, "effect": {"percent": "-7"}}))
    path = write_yaml(tmp_path, data)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    (issue,) = info.value.issues
    text = path.read_text(encoding="utf-8").splitlines()
    first = text.index("- id: seg-strategic") + 1
    second = text.index("- id: seg-strategic-2") + 1
    assert f"'seg-strategic' (line {first}) and 'seg-strategic-2' (line {second})" in issue.message


def test_duplicate_yaml_key_message_gives_the_line(tmp_path: Path) -> None:
    text = FIXTURE.read_text(encoding="utf-8").replace("    unit: H87\n", "    unit: H87\n    unit: C62\n", 1)
    path = write_text(tmp_path, "catalog.yaml", text)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    line = next(n for n, s in enumerate(text.splitlines(), 1) if s == "    unit: C62")
    assert f"line {line}" in str(info.value)


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        # Two schema problems in different products.
        ({(0, "colour"): "red", (2, "weight"): "1"}, {"colour", "weight"}),
        # Two cross-record problems (checked once the schema passes).
        ({(2, "related"): ["BRG-9999"], (1, "prices"): {"US-USD": {"list": "1.00"}, "EU-EUR": {"list": "3.90"}}},
         {"related", "prices.US-USD.list"}),
    ],
)
def test_every_issue_is_reported_not_just_the_first(
    tmp_path: Path, changes: dict[tuple[int, str], Any], fields: set[str]
) -> None:
    def mutate(data: dict[str, Any]) -> None:
        for (index, key), value in changes.items():
            data["products"][index][key] = value

    with pytest.raises(CatalogError) as info:
        load_catalog(write_yaml(tmp_path, variant(mutate)))
    assert {i.field for i in info.value.issues} == fields


def test_missing_file_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "nope.yaml")


def test_csv_row_with_extra_cells_is_a_catalog_error(tmp_path: Path) -> None:
    text = CSV_HEADER + CSV_ROWS.replace(",20,2RS,\n", ",20,2RS,,surplus\n", 1)
    with pytest.raises(CatalogError):
        load_catalog(write_text(tmp_path, "catalog.csv", text))


def test_csv_with_byte_order_mark_loads(tmp_path: Path) -> None:
    assert len(load_catalog(write_text(tmp_path, "catalog.csv", "\ufeff" + CSV_TEXT))) == 3


# --- valid files --------------------------------------------------------------------


def test_fixture_loads() -> None:
    catalog = load_catalog(FIXTURE)
    assert sorted(catalog.products) == ["BRG-6204", "BRG-6205", "MTR-100"]
    assert set(catalog.price_books) == {"US-USD", "EU-EUR"}
    assert catalog.categories == ("bearings", "motors")
    assert catalog.regions() == ("EU", "US")
    assert len(catalog.rules) == 7
    assert catalog.source == str(FIXTURE)


@pytest.mark.parametrize("name", ["catalog.yaml", "catalog.yml", "catalog.json", "CATALOG.JSON"])
def test_same_catalog_in_yaml_and_json(tmp_path: Path, name: str) -> None:
    data = mini()
    path = write_json(tmp_path, data, name) if name.lower().endswith(".json") else write_yaml(tmp_path, data, name)
    loaded = load_catalog(path)
    reference = load_catalog(FIXTURE)
    assert loaded.doc == reference.doc
    assert loaded.version == reference.version


def test_same_catalog_as_csv(tmp_path: Path) -> None:
    csv_catalog = load_catalog(write_text(tmp_path, "catalog.csv", CSV_TEXT))
    reference = load_catalog(FIXTURE)
    assert sorted(csv_catalog.products) == sorted(reference.products)
    for sku, product in reference.products.items():
        got = csv_catalog.products[sku]
        assert got.prices == product.prices, sku
        assert got.cost == product.cost
        assert (got.name, got.description, got.category, got.unit) == (
            product.name, product.description, product.category, product.unit)
        assert got.related == product.related
        assert got.inventory == product.inventory and got.capacity == product.capacity
    # CSV cells are text; numeric spec filters compare them as numbers later.
    assert csv_catalog.products["BRG-6204"].specs == {"bore_mm": "20", "seal": "2RS"}
    assert csv_catalog.products["MTR-100"].specs == {"power_kw": "1.1"}


def test_csv_price_books_are_inferred_from_columns(tmp_path: Path) -> None:
    catalog = load_catalog(write_text(tmp_path, "catalog.csv", CSV_TEXT))
    books = {b.id: (b.region, b.currency, b.tier_mode) for b in catalog.price_books.values()}
    assert books == {"US-USD": ("US", "USD", "range"), "EU-EUR": ("EU", "EUR", "range")}
    assert catalog.book_for("EU").currency == "EUR"
    assert catalog.book_for("US", "EUR") is None


def test_yaml_floats_are_exact_decimals(tmp_path: Path) -> None:
    text = FIXTURE.read_text(encoding="utf-8")
    text = text.replace('US-USD: {list: "4.10"}', "US-USD: {list: 4.10}").replace(
        'cost: {USD: "1.50", EUR: "1.40"}', "cost: {USD: 1.50, EUR: 1.40}")
    assert "list: 4.10}" in text and "USD: 1.50," in text
    catalog = load_catalog(write_text(tmp_path, "catalog.yaml", text))
    product = catalog.products["BRG-6205"]
    assert product.prices["US-USD"].list == Decimal("4.10")
    assert str(product.prices["US-USD"].list) == "4.10"  # the trailing zero survives too
    assert product.cost == {"USD": Decimal("1.50"), "EUR": Decimal("1.40")}
    power = catalog.products["MTR-100"].specs["power_kw"]
    assert isinstance(power, Decimal) and power == Decimal("1.1")


def test_json_floats_are_exact_decimals(tmp_path: Path) -> None:
    text = json.dumps(mini(), default=str).replace('"list": "4.10"', '"list": 4.10')
    assert '"list": 4.10' in text
    catalog = load_catalog(write_text(tmp_path, "catalog.json", text))
    assert str(catalog.products["BRG-6205"].prices["US-USD"].list) == "4.10"


# --- version, holder, capacity ------------------------------------------------------


def test_version_is_stable_for_the_same_content(tmp_path: Path) -> None:
    first = load_catalog(FIXTURE).version
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 64
    assert load_catalog(FIXTURE).version == first
    # Formatting and key order do not matter, only content.
    assert load_catalog(write_yaml(tmp_path, mini())).version == first


def test_version_changes_when_a_price_changes(tmp_path: Path) -> None:
    before = load_catalog(FIXTURE).version
    after = load_catalog(write_yaml(tmp_path, variant(set_in("products", 1, "prices", "US-USD", list="4.20"))))
    assert after.version != before


def test_holder_keeps_previous_catalog_after_failed_reload(tmp_path: Path) -> None:
    holder = CatalogHolder()
    with pytest.raises(RuntimeError):
        _ = holder.catalog
    path = write_yaml(tmp_path, mini())
    first = holder.load(path)
    assert holder.catalog is first

    write_yaml(tmp_path, variant(set_in("products", 1, "prices", "US-USD", list="-1")))
    with pytest.raises(CatalogError):
        holder.load(path)
    assert holder.catalog is first
    assert holder.catalog.products["BRG-6205"].prices["US-USD"].list == Decimal("4.10")

    write_yaml(tmp_path, variant(set_in("products", 1, "prices", "US-USD", list="4.20")))
    second = holder.load(path)
    assert holder.catalog is second and second.version != first.version


def test_holder_starts_with_a_given_catalog() -> None:
    catalog: Catalog = load_catalog(FIXTURE)
    assert CatalogHolder(catalog).catalog is catalog


@pytest.mark.parametrize(
    ("quantity", "available", "days"),
    [
        (1, 5000, 2),  # from stock
        (5000, 5000, 2),  # exactly the stock
        (5001, 5000, 21),  # one unit short: the first restock batch
        (7000, 5000, 21),  # short by one week's capacity
        (7001, 5000, 28),  # one more week
        (4001, 0, 35),  # three weeks of capacity from nothing
        (1, -3, 21),  # negative availability counts as none
        (0, 0, 2),  # nothing to deliver
    ],
)
def test_capacity_lead_time_for(quantity: int, available: int, days: int) -> None:
    capacity = Capacity(lead_time_days=2, restock_lead_time_days=21, weekly_capacity=2000)
    assert capacity.lead_time_for(quantity, available) == days


def test_schedule_starts_at_one_with_the_list_price() -> None:
    price = load_catalog(FIXTURE).products["BRG-6204"].prices["US-USD"]
    head, *rest = price.schedule
    assert (head.min, head.max, head.price) == (1, 99, Decimal("3.50"))
    assert [(t.min, t.max) for t in rest] == [(100, 499), (500, None)]
    assert ProductPrice(list="2.00").schedule[0].max is None


def test_a_product_sold_in_packs_says_how_many_pieces_one_holds(tmp_path: Path) -> None:
    catalog = load_catalog(Path(__file__).resolve().parents[2] / "examples" / "catalog.yaml")
    assert catalog.products["FST-M8X30-A2"].pieces_per_unit == 100
    assert catalog.products["FST-M8-NUT-A2"].pieces_per_unit == 200
    assert catalog.products["BRG-6204"].pieces_per_unit is None  # sold by the piece: no pack spec
    data = mini()
    first = data["products"][0]
    for specs, pieces in (({"pieces_per_pack": 12.0}, 12), ({"pieces_per_box": "a dozen"}, None),
                          ({"pieces_per_box": 0}, None)):
        first["specs"] = specs
        assert load_catalog(write_yaml(tmp_path, data)).products[first["sku"]].pieces_per_unit == pieces, specs


# --- made to order ----------------------------------------------------------------------


def _made_to_order(data: dict[str, Any], on_hand: int = 0) -> None:
    data["products"][0]["inventory"] = {"on_hand": on_hand, "made_to_order": True}


def test_a_made_to_order_product_loads_and_changes_the_version(tmp_path: Path) -> None:
    plain = load_catalog(write_yaml(tmp_path, variant(), "plain.yaml"))
    made = load_catalog(write_yaml(tmp_path, variant(_made_to_order), "made.yaml"))
    product = next(iter(made.doc.products))
    assert product.inventory.made_to_order and product.inventory.on_hand == 0
    assert made.version != plain.version


def test_made_to_order_false_is_not_written_so_versions_stay(tmp_path: Path) -> None:
    # A catalog that says `made_to_order: false` is the catalog that does not say it: the same digest as before
    # the field existed (decision records name the catalog version they were made with).
    def explicit(data: dict[str, Any]) -> None:
        for p in data["products"]:
            p["inventory"]["made_to_order"] = False
    assert load_catalog(write_yaml(tmp_path, variant(explicit), "x.yaml")).version == load_catalog(FIXTURE).version
    assert "made_to_order" not in next(iter(load_catalog(FIXTURE).doc.products)).inventory.model_dump()


def test_a_made_to_order_product_with_stock_on_hand_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="made-to-order product keeps no stock") as info:
        load_catalog(write_yaml(tmp_path, variant(lambda d: _made_to_order(d, on_hand=5))))
    assert any("inventory" in i.field for i in info.value.issues)


def test_csv_made_to_order_column(tmp_path: Path) -> None:
    header = CSV_HEADER.replace("on_hand,", "on_hand,made_to_order,")
    rows = CSV_ROWS.replace(",BRG-6204,40,", ",BRG-6204,0,true,").replace(",5000,", ",5000,,").replace(",900,", ",900,false,")
    catalog = load_catalog(write_text(tmp_path, "catalog.csv", header + rows))
    assert catalog.products["BRG-6205"].inventory.made_to_order
    assert not catalog.products["BRG-6204"].inventory.made_to_order
    assert not catalog.products["MTR-100"].inventory.made_to_order
