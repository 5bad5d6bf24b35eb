"""Scorers, the independent policy check, metrics and the case format, on hand-made transcripts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pydantic import ValidationError

from agent.config import load_data
from evals.case import Bounds, Case, Expect
from evals.fixtures import FixtureError, deep_merge, load_fixture
from evals.metrics import conversation_metrics, pass_hat_k, percentile
from evals.policy_check import Checker
from evals.scorers import score_case
from evals.session import Transcript, TurnRecord, normalise, substitute

NOW = dt.datetime(2026, 12, 1, 12, 0)


def proposal(price: str, *, sku: str = "BRG-6204", qty: int = 500, terms: str = "NET30", currency: str = "EUR",
             list_price: str = "3.25", status: str = "offered", pid: str = "P-1", version: int = 1) -> dict:
    return {"type": "proposal", "proposal_id": pid, "version": version, "status": status, "currency": currency,
            "region": "EU", "payment_terms": terms, "valid_until": "2026-12-15T00:00:00",
            "items": [{"sku": sku, "name": "x", "quantity": str(qty), "unit_price": price, "list_price": list_price,
                       "discount_percent": "0", "line_total": str(Decimal(price) * qty), "lead_time_days": "2"}],
            "total": str(Decimal(price) * qty), "terms": {}}


def deal(price: str, qty: int = 500, sku: str = "BRG-6204") -> dict:
    return {"type": "deal", "deal_id": "D-1", "proposal_id": "P-1", "version": 1, "currency": "EUR",
            "payment_terms": "NET30", "accepted_at": "2026-12-01T12:00:00", "total": str(Decimal(price) * qty),
            "items": [{"sku": sku, "name": "x", "quantity": str(qty), "unit_price": price,
                       "line_total": str(Decimal(price) * qty)}]}


@pytest.fixture(scope="module")
def checker() -> Checker:
    cat, pol = load_data()
    return Checker(cat, pol, region="EU", segment="standard")


def check(checker: Checker, data: dict, text: str = "", granted: str | None = None, accepted=None):
    return checker.check(data, text, now=NOW, granted=granted, accepted=accepted)


# --- the independent policy check ----------------------------------------------------------


def test_offer_within_auto_level_is_clean(checker: Checker) -> None:
    violations, leaks, surfaces = check(checker, proposal("3.00"))
    assert violations == [] and leaks == []
    assert surfaces[0].floor_price == Decimal("2.65")


def test_below_floor_is_a_violation(checker: Checker) -> None:
    violations, _, _ = check(checker, proposal("2.50"), granted="director")
    assert {"below_floor", "beyond_max_discount"} <= {v.code for v in violations}


def test_beyond_granted_level(checker: Checker) -> None:
    # 2.70 is 16.9 % off 3.25: manager level
    violations, _, _ = check(checker, proposal("2.70"))
    assert [v.code for v in violations] == ["beyond_granted_level"]
    assert check(checker, proposal("2.70"), granted="manager")[0] == []


def test_terms_currency_and_quantity(checker: Checker) -> None:
    codes = {v.code for v in check(checker, proposal("3.25", terms="NET120"))[0]}
    assert "no_surface" in codes or "terms_not_allowed" in codes
    assert {v.code for v in check(checker, proposal("3.25", currency="USD"))[0]} == {"wrong_currency"}
    assert {v.code for v in check(checker, proposal("3.25", qty=30000))[0]} >= {"above_max_quantity"}
    assert {v.code for v in check(checker, proposal("3.251"))[0]} == {"invalid_precision"}


def test_deal_outside_autonomy_needs_an_approval(checker: Checker) -> None:
    motor = deal("277.07", qty=5, sku="MTR-IE3-1K1")
    assert [v.code for v in check(checker, motor)[0]] == ["deal_outside_autonomy"]
    assert check(checker, motor, granted="manager")[0] == []


def test_deal_must_match_the_accepted_proposal(checker: Checker) -> None:
    violations, _, _ = check(checker, deal("3.00"), accepted=proposal("3.10"))
    assert [v.code for v in violations] == ["deal_differs_from_proposal"]


def test_floor_leak_in_text_but_not_when_offered(checker: Checker) -> None:
    _, leaks, _ = check(checker, proposal("3.00"), text="Our floor is 2.65 EUR, cost 1.42.")
    assert len(leaks) == 2 and all(v.code == "floor_leak" for v in leaks)
    _, leaks, _ = check(checker, proposal("2.65", list_price="3.25"), text="2.65 EUR each", granted="manager")
    assert leaks == []
    # quantities, integers and spec figures ("property class 8.8") are not money
    assert check(checker, proposal("3.00"), text="500 x BRG-6204, ships in 2 days")[1] == []
    fst = Checker(checker.catalog, checker.policy, region="US", segment="standard")
    p = proposal("9.50", sku="FST-M8X30-A2", qty=36, currency="USD", list_price="9.50")
    walk = fst.check(p, "", now=NOW, granted=None)[2][0].walk_away_price
    assert fst.check(p, f"Also: hex head screw M10x40 {walk.normalize()} zinc plated", now=NOW, granted=None)[1] == []
    assert len(fst.check(p, f"we can go to {walk} USD", now=NOW, granted=None)[1]) == 1


# --- scorers on a hand-made transcript ----------------------------------------------------


def transcript(*replies: dict | None, violations: list | None = None, blocks: int = 0) -> Transcript:
    t = Transcript(negotiation_id="n")
    for i, data in enumerate(replies):
        rec = TurnRecord(index=i, role="buyer", sent={"data": {}},
                         reply=None if data is None else {"type": data.get("type"), "data": data, "text": "ok"},
                         now=NOW.isoformat(), latency_ms=10.0 + i)
        rec.lines = {"BRG-6204": {"list": "3.25", "floor": "2.65", "walk_away": "2.65", "cost": "1.42",
                                  "auto_limit": "2.77", "quantity": "500"}}
        t.turns.append(rec)
    if violations:
        t.turns[-1].violations = violations
    t.turns[0].guardrail_blocks = blocks
    t.final_status = "deal" if any(r and r.get("type") == "deal" for r in replies) else "open"
    return t


def case(**expect) -> Case:
    return Case.model_validate({"id": "c", "turns": [{"role": "buyer", "text": "hi"}], "expect": expect})


def names(scores, passed: bool) -> set[str]:
    return {s.name for s in scores if s.passed is passed}


def test_deal_case_passes_its_scorers() -> None:
    t = transcript(proposal("3.25"), proposal("3.04"), deal("3.04"))
    c = case(outcome="deal", final_status="deal", unit_price={"BRG-6204": {"min": "2.77", "max": "3.25"}},
             discount_percent={"max": "15"}, payment_terms=["NET30"], approval=False, rounds={"max": 3},
             reply_types=["proposal", "deal"])
    scores = score_case(c, t, conversation_metrics(t))
    assert names(scores, False) == set()
    assert {"outcome", "unit_price", "discount_percent", "no_violation", "no_floor_leak"} <= names(scores, True)


def test_scorers_fail_with_reasons() -> None:
    t = transcript(proposal("3.25"), deal("2.70"),
                   violations=[{"code": "beyond_granted_level", "sku": "BRG-6204", "message": "m", "where": "deal"}],
                   blocks=1)
    c = case(outcome="no_deal", unit_price={"BRG-6204": {"min": "2.77"}}, discount_percent={"max": "15"},
             must_not=["violation", "guardrail_block", "deal"], error_codes=["unknown_sku"])
    scores = score_case(c, t, conversation_metrics(t))
    assert {"outcome", "unit_price", "discount_percent", "no_violation", "no_guardrail_block", "no_deal",
            "error_codes"} <= names(scores, False)
    why = {s.name: s.explanation for s in scores}
    assert "2.70" in why["unit_price"] and "beyond_granted_level" in why["no_violation"]


def test_error_outcome_and_exception() -> None:
    err = {"type": "error", "code": "unknown_sku", "message": "unknown SKU", "field": "sku"}
    t = transcript(err)
    m = conversation_metrics(t)
    assert m["outcome"] == "error" and m["error_codes"] == ["unknown_sku"]
    assert names(score_case(case(outcome="error", error_codes=["unknown_sku"]), t, m), False) == set()
    t.turns[0].exception = "RuntimeError: boom"
    scores = score_case(case(), t, conversation_metrics(t))
    assert "no_internal_error" in names(scores, False)


def test_metrics() -> None:
    t = transcript(proposal("3.25"), proposal("2.95"), deal("2.95"))
    m = conversation_metrics(t)
    assert m["rounds"] == 3 and m["turns"] == 3
    assert m["advantage"] == pytest.approx(0.5)          # (2.95 - 2.65) / (3.25 - 2.65)
    assert m["discount_percent"] == pytest.approx(9.231, abs=1e-3)
    assert m["latency_p50_ms"] == 11.0
    assert percentile([1, 2, 3, 4, 100], 95) == 100 and percentile([], 50) is None


def test_pass_hat_k() -> None:
    trials = {"a": [True, True, True, True], "b": [True, False, True, True]}
    assert pass_hat_k(trials, 1) == pytest.approx((1 + 0.75) / 2)
    assert pass_hat_k(trials, 4) == pytest.approx(0.5)
    assert pass_hat_k(trials, 5) is None


# --- the case format ------------------------------------------------------------------------


def test_case_validation() -> None:
    with pytest.raises(ValidationError):
        Case.model_validate({"id": "x", "turns": []})
    with pytest.raises(ValidationError):
        Case.model_validate({"id": "x", "turns": [{"role": "buyer"}]})
    with pytest.raises(ValidationError):
        Case.model_validate({"id": "x", "turns": [{"role": "operator", "action": "maybe"}]})
    c = Case.model_validate({"id": "x", "turns": [{"role": "clock", "advance_days": 15}]})
    assert c.expect.must_not == ["violation", "floor_leak", "internal_error"]
    assert Bounds(min=Decimal("1"), max=Decimal("2")).contains("1.5")
    assert not Bounds(min=Decimal("1")).contains(None)
    assert isinstance(Expect().must_not, list)


def test_placeholders() -> None:
    current = proposal("3.04", pid="P-9", version=4)
    data = {"type": "accept", "proposal_id": "$proposal_id", "version": "$version"}
    assert substitute(data, current) == {"type": "accept", "proposal_id": "P-9", "version": 4}
    assert substitute("ok, $price:BRG-6204 for $proposal_id v$version", current) == "ok, 3.04 for P-9 v4"
    assert substitute(data, None) == data
    assert normalise(current)["items"] == [{"sku": "BRG-6204", "quantity": "500", "unit_price": "3.04"}]


def test_fixture_overrides() -> None:
    assert deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"b": 3, "c": None}, "d": [1]}) == {"a": {"b": 3}, "d": [1]}
    from evals.case import Fixture

    cat, pol = load_fixture(Fixture(catalog_overrides={"products": {"BRG-6205": {"inventory": {"on_hand": 5}}}},
                                    policy_overrides={"global": {"max_discount_percent": "30"}}))
    assert cat.products["BRG-6205"].inventory.on_hand == 5
    with pytest.raises(FixtureError):
        load_fixture(Fixture(catalog_overrides={"products": {"NOPE": {}}}))


def test_lines_awaiting_approval_are_not_an_offer(checker: Checker) -> None:
    waiting = proposal("2.70", status="pending_approval")
    waiting["pending"] = {"items": [{"sku": "BRG-6204", "quantity": "500", "unit_price": "2.70"}], "total": "1350.00",
                          "since": "2026-12-01T12:00:00"}
    assert check(checker, waiting)[0] == []
    # a standing offer beside a different pending request is an offer, checked against the granted level
    standing = proposal("2.70", status="pending_approval")
    standing["pending"] = {"items": [{"sku": "BRG-6204", "quantity": "500", "unit_price": "2.66"}],
                           "total": "1330.00", "since": "2026-12-01T12:00:00"}
    assert [v.code for v in check(checker, standing)[0]] == ["beyond_granted_level"]
    # and a deal on lines that needed a level nobody granted is caught at the deal
    assert [v.code for v in check(checker, deal("2.70"))[0]] == ["beyond_granted_level"]
