"""QA pass: `dealdesk price` (and `policy explain`) as an operator reads them: usage errors, terms the policy does not
allow, the floor lift, and explanations that show the figures behind each rule."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from tools.catalog.loader import load_catalog, parse_catalog
from tools.datafile import parse_text
from tools.errors import RuleConflict
from tools.pricing.engine import explain_lines, price
from tools.pricing.models import PriceRequest

D = Decimal
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "mini_catalog.yaml"
PLAIN_DAY = dt.date(2026, 6, 1)


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_an_impossible_date_is_a_one_line_usage_error_naming_date() -> None:
    result = run("price", "BRG-6204", "--qty", "5", "--date", "2026-02-30")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--date" in lines[0] and "2026-02-30" in lines[0], result.output


def test_terms_the_policy_does_not_allow_are_refused_naming_the_allowed_ones() -> None:
    result = run("price", "BRG-6204", "--qty", "5", "--terms", "NET45")
    assert result.exit_code == 2, result.output
    assert "payment_terms_not_allowed" in result.output and "NET30, NET60, NET90, PREPAY" in result.output
    safety = run("price", "SAF-GLV-CUT5", "--qty", "120", "--region", "EU", "--terms", "NET90")
    assert safety.exit_code == 2 and "NET30, NET60, PREPAY" in safety.output, safety.output


def test_price_says_when_the_price_is_lifted_to_the_vendors_minimum() -> None:
    args = ("price", "BRG-6204", "--qty", "2000", "--region", "US", "--segment", "distributor", "--terms", "PREPAY",
            "--date", "2026-06-01")
    text = run(*args).output
    assert "2000 x 2.90 USD = 5800.00 USD" in text, text
    assert "-> 2.86650" in text and "lifted to the vendor's minimum for this buyer (floor): 2.90 USD/unit" in text
    data = json.loads(run(*args, "--json").output)
    assert data["unit_price"] == "2.87" and data["quoted_unit_price"] == "2.90"
    assert data["quoted_line_total"] == "5800.00" and data["lifted_to_floor"] is True
    assert any("lifted to the vendor's minimum" in ln for ln in data["explanation"])


def test_cli_json_percentages_are_rounded_for_display() -> None:
    data = json.loads(run("price", "BRG-6204", "--qty", "14", "--region", "US", "--segment", "strategic",
                          "--date", "2026-06-01", "--json").output)
    assert data["discount_from_list_percent"] == "4.94", data["discount_from_list_percent"]  # 0.19 / 3.85
    text = run("price", "SAF-GLV-CUT5", "--qty", "120", "--region", "EU", "--date", "2026-12-01", "--json").output
    for key, value in json.loads(text).items():
        if key.endswith("_percent") and isinstance(value, str):
            assert len(value.partition(".")[2]) <= 2, (key, value)


# --- explanations --------------------------------------------------------------------


@pytest.fixture(scope="module")
def cat():
    return load_catalog(FIXTURE)


def test_a_quantity_below_the_first_tier_reads_no_volume_tier(cat) -> None:
    text = explain_lines(price(cat, PriceRequest(sku="BRG-6204", quantity=5, on=PLAIN_DAY)))
    assert not any("volume tier 0" in ln for ln in text), text
    assert any(ln.startswith("no volume tier (under 100 units): list price 3.50 USD/unit") for ln in text), text


def test_deal_size_and_stock_rule_lines_show_their_figures(cat) -> None:
    deal = explain_lines(price(cat, PriceRequest(sku="BRG-6204", quantity=4000, on=PLAIN_DAY)))
    assert any("rule deal-large (deal_size): deal value 11600.00 USD >= 10000 USD: -3%" in ln for ln in deal), deal
    low = explain_lines(price(cat, PriceRequest(sku="BRG-6205", quantity=3, segment="strategic", on=PLAIN_DAY)))
    assert any("rule stock-low (stock): stock 40 < 50" in ln for ln in low), low


def test_a_stock_conflict_at_pricing_time_names_the_stock_field() -> None:
    data = parse_text(FIXTURE.read_text(encoding="utf-8"), ".yaml")
    data["rules"] += [
        {"id": "band-low", "kind": "stock", "priority": 30, "when": {"stock_below": 100}, "effect": {"percent": "-1"}},
        {"id": "band-high", "kind": "stock", "priority": 30, "when": {"stock_at_least": 60},
         "effect": {"percent": "-2"}},
    ]
    with pytest.raises(RuleConflict) as exc:
        price(parse_catalog(data), PriceRequest(sku="BRG-6204", quantity=1, stock=80, on=PLAIN_DAY))
    assert exc.value.field == "stock" and "80" in exc.value.message
