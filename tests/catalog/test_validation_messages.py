"""QA pass: catalog validation names the line and field of every problem, suggests the field meant, and refuses a
stock-rule conflict that the catalog's own stock levels make certain."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from tools.catalog.loader import CatalogError, load_catalog, parse_catalog
from tools.datafile import parse_text

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "mini_catalog.yaml"


def mini() -> dict:
    return parse_text(FIXTURE.read_text(encoding="utf-8"), ".yaml")


def _refused(tmp_path: Path, text: str) -> list:
    path = tmp_path / "cat.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as exc:
        load_catalog(path)
    return exc.value.issues


def test_an_impossible_date_names_line_and_field(tmp_path: Path) -> None:
    text = FIXTURE.read_text(encoding="utf-8").replace("valid_from: 2026-11-20", "valid_from: 2026-13-01")
    assert "2026-13-01" in text
    issues = _refused(tmp_path, text)
    assert len(issues) == 1, issues
    assert issues[0].row.startswith("rules[1] (promo-bearings-nov, line ") and issues[0].field == "when.valid_from"


def test_one_invalid_product_is_not_also_an_empty_product_list() -> None:
    data = mini()
    data["products"] = data["products"][:1]
    data["products"][0]["inventory"] = {"on_hand": -3}
    data["price_books"] = data["price_books"][:1] + [{"id": "X", "region": "X", "currency": "EURO"}]
    data["price_books"] = [data["price_books"][1]]
    with pytest.raises(CatalogError) as exc:
        parse_catalog(data)
    assert not any("at least 1 item" in i.message for i in exc.value.issues), exc.value.issues


def test_unknown_fields_get_a_did_you_mean() -> None:
    data = mini()
    data["rules"][0]["when"] = {"segment": ["strategic"]}
    data["rules"][0]["effect"] = {"percnet": "-5"}
    data["products"][0]["prices"]["US-USD"]["tiers"][0] = {"mn": 100, "max": 499, "price": "3.20"}
    data["products"][0]["colour"] = "red"
    with pytest.raises(CatalogError) as exc:
        parse_catalog(data)
    msgs = {i.field: i.message for i in exc.value.issues}
    assert msgs["when.segment"] == "unknown field; did you mean 'segments'?", msgs
    assert msgs["effect.percnet"] == "unknown field; did you mean 'percent'?"
    assert msgs["prices.US-USD.tiers[0].mn"] == "unknown field; did you mean 'min'?"
    assert msgs["colour"] == "unknown field"


def test_a_stock_conflict_at_the_catalogs_own_stock_is_refused_naming_both_rules_and_the_product() -> None:
    data = mini()
    data["rules"] += [
        {"id": "stock-band-low", "kind": "stock", "priority": 30, "when": {"stock_below": 6000},
         "effect": {"no_discounts": True}},
        {"id": "stock-band-high", "kind": "stock", "priority": 30, "when": {"stock_at_least": 100},
         "effect": {"allowance_percent": "5"}},
    ]
    with pytest.raises(CatalogError) as exc:
        parse_catalog(data)
    texts = [str(i) for i in exc.value.issues]
    assert any("stock-band-low" in t and "stock-band-high" in t and "BRG-6204" in t and "5000" in t for t in texts), \
        texts
    assert not any("BRG-6205" in t for t in texts), texts  # 40 on hand: stock-band-high does not match


# --- search -------------------------------------------------------------------------


def test_search_with_an_unknown_category_names_the_known_ones() -> None:
    result = CliRunner().invoke(app, ["catalog", "search", "--category", "motorz"])
    assert result.exit_code == 2, result.output
    assert "motorz" in result.output and "bearings" in result.output and "motors" in result.output


def test_a_spec_filter_without_operator_says_the_expected_form() -> None:
    result = CliRunner().invoke(app, ["catalog", "search", "--spec", "bore_mm"])
    assert result.exit_code == 2
    assert "unknown operator" not in result.output and "name=value" in result.output, result.output
