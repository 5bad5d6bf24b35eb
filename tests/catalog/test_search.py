"""Search and lookup over the mini catalog plus a few products with awkward spec values."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from tools.catalog import Catalog, load_catalog
from tools.catalog.search import SpecFilter, close_skus, lookup, parse_spec_filter, search, unknown_sku
from tools.errors import UnknownSku

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "mini_catalog.yaml"


class _Dumper(yaml.SafeDumper):
    """Writes Decimals as plain YAML numbers, which the loader reads back exactly."""


_Dumper.add_representer(Decimal, lambda d, v: d.represent_scalar("tag:yaml.org,2002:float", str(v)))


def _extra_product(base: dict, sku: str, name: str, specs: dict, description: str = "") -> dict:
    """A copy of the fixture's second bearing with new identity and specs."""
    product = copy.deepcopy(base)
    product.update(sku=sku, name=name, specs=specs, description=description)
    product.pop("related", None)
    return product


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The mini catalog plus bearings whose bore is written as "20.0", 20.0 and text."""
    data = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
    bearing = data["products"][1]
    data["products"] += [
        _extra_product(bearing, "BRG-X20S", "Bearing with string bore", {"bore_mm": "20.0", "seal": "ZZ"}),
        _extra_product(bearing, "BRG-X20D", "Bearing with decimal bore", {"bore_mm": Decimal("20.0")}),
        _extra_product(bearing, "BRG-XTXT", "Ball bearing like BRG-6205 with odd bore",
                       {"bore_mm": "twenty", "sealed": True}, description="Odd spec values for tests"),
    ]
    path = tmp_path_factory.mktemp("search") / "catalog.yaml"
    path.write_text(yaml.dump(data, Dumper=_Dumper, sort_keys=False), encoding="utf-8")
    return load_catalog(path)


def skus(products: list) -> list[str]:
    return [p.sku for p in products]


def test_lookup_finds_exact_sku(catalog: Catalog) -> None:
    assert lookup(catalog, "BRG-6204").name.startswith("Deep groove")


def test_lookup_unknown_sku_names_field(catalog: Catalog) -> None:
    with pytest.raises(UnknownSku) as info:
        lookup(catalog, "NOPE-1")
    assert info.value.field == "sku"
    assert info.value.code == "unknown_sku"
    assert "NOPE-1" in info.value.message


@pytest.mark.parametrize("given, meant", [
    ("brg-6204", ["BRG-6204"]),           # case and separators aside, the same SKU
    ("BRG 6204", ["BRG-6204"]),
    ("BRG-6240", ["BRG-6204"]),           # digits swapped: the closest spelling first
    ("XYZ", []),                          # junk: no suggestion
    ("", []),
    ("BRG-6204" * 20, []),                # too long to be a typo
])
def test_an_unknown_sku_names_the_skus_it_was_likely_meant_as(catalog: Catalog, given: str, meant: list[str]) -> None:
    assert close_skus(catalog, given)[:len(meant) or None] == meant if meant else close_skus(catalog, given) == []
    err = unknown_sku(catalog, given, field="items.0.sku")
    assert (err.code, err.field) == ("unknown_sku", "items.0.sku")
    assert err.message == f"unknown SKU {given!r}" + (f"; did you mean {', '.join(close_skus(catalog, given))}?"
                                                        if meant else "")
    with pytest.raises(UnknownSku) as info:
        lookup(catalog, given)
    assert info.value.message == unknown_sku(catalog, given).message


def test_no_conditions_lists_all_by_sku(catalog: Catalog) -> None:
    assert skus(search(catalog)) == sorted(catalog.products)


def test_limit(catalog: Catalog) -> None:
    assert len(search(catalog, limit=2)) == 2
    assert search(catalog, limit=0) == []
    assert len(search(catalog, limit=None)) == len(catalog)
    with pytest.raises(ValueError):
        search(catalog, limit=-1)


def test_text_is_case_insensitive_and_needs_every_term(catalog: Catalog) -> None:
    assert skus(search(catalog, "INDUCTION motor")) == ["MTR-100"]
    assert search(catalog, "induction bearing") == []


def test_text_matches_description_category_and_spec_values(catalog: Catalog) -> None:
    assert "BRG-6204" in skus(search(catalog, "sealed 20 mm"))  # description
    assert skus(search(catalog, "motors")) == ["MTR-100"]  # category
    assert skus(search(catalog, "zz")) == ["BRG-X20S"]  # spec value
    assert skus(search(catalog, "1.1 400")) == ["MTR-100"]  # Decimal and int spec values


def test_name_hits_rank_before_sku_order(catalog: Catalog) -> None:
    # The three X bearings have "bore" and "bearing" in their names; BRG-6204 only "bearing"
    # (its "bore" is in the description), so it comes last despite sorting first by SKU.
    assert skus(search(catalog, "bore bearing")) == ["BRG-X20D", "BRG-X20S", "BRG-XTXT", "BRG-6204"]


def test_equal_rank_is_ordered_by_sku(catalog: Catalog) -> None:
    result = skus(search(catalog, "bearing"))
    assert result == sorted(result) and len(result) == 5


def test_exact_sku_beats_name_hits(catalog: Catalog) -> None:
    # BRG-XTXT has both terms in its name, BRG-6205 only "ball"; the exact SKU still ranks first.
    assert skus(search(catalog, "ball brg-6205")) == ["BRG-6205", "BRG-XTXT"]


def test_category_is_exact(catalog: Catalog) -> None:
    assert skus(search(catalog, category="motors")) == ["MTR-100"]
    assert search(catalog, category="motor") == []
    assert search(catalog, category="MOTORS") == []


def test_numeric_equality_ignores_representation(catalog: Catalog) -> None:
    # 20 (int), "20.0" (string) and Decimal("20.0") all equal 20 and 20.0.
    expected = ["BRG-6204", "BRG-X20D", "BRG-X20S"]
    assert skus(search(catalog, specs=["bore_mm=20"])) == expected
    assert skus(search(catalog, specs=["bore_mm=20.00"])) == expected


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ("power_kw>=1.1", ["MTR-100"]),
        ("power_kw>1.1", []),
        ("power_kw<=1.1", ["MTR-100"]),
        ("power_kw<2", ["MTR-100"]),
        ("bore_mm>20", ["BRG-6205"]),
        ("bore_mm != 20", ["BRG-6205", "BRG-XTXT"]),
        ("seal=2rs", ["BRG-6204", "BRG-6205"]),
        ("seal!=2RS", ["BRG-X20S"]),
        ("bore_mm=TWENTY", ["BRG-XTXT"]),
        ("sealed=true", ["BRG-XTXT"]),
        ("BORE_MM=25", ["BRG-6205"]),
    ],
)
def test_spec_filters(catalog: Catalog, flt: str, expected: list[str]) -> None:
    assert skus(search(catalog, specs=[flt])) == expected


def test_missing_spec_key_never_matches(catalog: Catalog) -> None:
    assert search(catalog, specs=["colour=red"]) == []
    assert search(catalog, specs=["colour!=red"]) == []


def test_filters_combine_with_text_and_category(catalog: Catalog) -> None:
    assert skus(search(catalog, "bearing", category="bearings", specs=["bore_mm>=20", "seal=2rs"])) == [
        "BRG-6204", "BRG-6205",
    ]
    assert search(catalog, "motor", category="bearings") == []


def test_parsed_filters_are_accepted(catalog: Catalog) -> None:
    assert skus(search(catalog, specs=[parse_spec_filter("poles=4")])) == ["MTR-100"]


def test_parse_spec_filter_result() -> None:
    parsed = parse_spec_filter(" power_kw >= 1.10 ")
    assert parsed == SpecFilter(key="power_kw", op=">=", value="1.10", number=Decimal("1.10"))
    assert parse_spec_filter("seal=2rs").number is None
    with pytest.raises(AttributeError):
        parsed.key = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "bad",
    ["bore_mm", "=20", "bore_mm=", "bore_mm==20", "bore_mm=>20", "bore_mm~20", "seal>=2rs", "", "  "],
)
def test_malformed_filter_raises_naming_it(catalog: Catalog, bad: str) -> None:
    with pytest.raises(ValueError) as info:
        search(catalog, specs=[bad])
    assert repr(bad) in str(info.value)


def test_bad_filter_raises_even_with_no_candidates(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="bore_mm~20"):
        search(catalog, category="no-such-category", specs=["bore_mm~20"])


def test_the_best_match_is_the_one_that_names_the_words_better_than_the_rest() -> None:
    from agent.config import load_data
    from tools.catalog.search import best_match

    catalog, _ = load_data()
    # all three sensors have an M12 connector; only one has M12 in its name
    found = search(catalog, "M12 inductive", category="sensors")
    assert [p.sku for p in found][:1] == ["SNS-PRX-M12"] and len(found) == 3
    assert best_match(found, "M12 inductive").sku == "SNS-PRX-M12"
    # the words name two bearings alike: none stands out
    two = search(catalog, "deep groove", category="bearings")
    assert len(two) > 1 and best_match(two, "deep groove") is None
    # ... but a product and only its variants: the one the buyer named no variant of
    variants = search(catalog, "ball bearing 6204", category="bearings")
    assert [p.sku for p in variants] == ["BRG-6204", "BRG-6204-ZZ"]
    assert best_match(variants, "ball bearing 6204").sku == "BRG-6204"
    assert best_match(found[:1], "anything").sku == "SNS-PRX-M12" and best_match([], "x") is None
    assert best_match(found, None) is None
