"""`dealdesk eval record`: a case that cannot run through is named with the reason, left as it is in the file,
and the command exits 1; the other cases are recorded."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from agent.cli import app
from evals.case import load_suite

runner = CliRunner()
RFQ = {"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "500"}]}


def _line(case: dict) -> str:
    return json.dumps(case, separators=(",", ":"))


def test_record_names_cases_it_could_not_record_and_leaves_them(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent.yaml"
    good = _line({"id": "good", "fixture": {"buyer": {"org": "eval-eu-standard"}}, "turns": [
        {"role": "buyer", "data": RFQ, "seller": {"type": "proposal", "items": [
            {"sku": "BRG-6204", "quantity": "500", "unit_price": "3.20"}]}}]})
    bad = [
        _line({"id": "no-catalog", "fixture": {"catalog": str(missing)}, "turns": [{"role": "buyer", "data": RFQ}]}),
        _line({"id": "misspelled-override", "fixture": {"policy_overrides": {"global": {"max_discont_percent": "10"}}},
               "turns": [{"role": "buyer", "data": RFQ}]}),
        # an edit of a line the approval does not have: the seller refuses it by raising
        _line({"id": "edit-raises", "fixture": {"buyer": {"org": "eval-eu-standard"}}, "turns": [
            {"role": "buyer", "data": {"type": "rfq", "items": [{"sku": "MTR-IE3-1K1", "quantity": "5"}]}},
            {"role": "operator", "action": "edit", "prices": {"BRG-6204": "3.00"}},
            {"role": "buyer", "data": {"type": "accept", "proposal_id": "$proposal_id", "version": "$version"}}]}),
    ]
    suite = tmp_path / "s.jsonl"
    suite.write_text("// a comment stays\n" + good + "\n" + "\n".join(bad) + "\n", encoding="utf-8")

    res = runner.invoke(app, ["eval", "record", str(suite)])
    out = " ".join(res.output.split())
    assert res.exit_code == 1, res.output
    assert "recorded 4 case(s)" not in out
    assert "recorded 1 of 4 case(s)" in out
    assert "could not record no-catalog" in out and "nonexistent.yaml" in out
    assert "could not record misspelled-override" in out and "max_discont_percent" in out
    assert "could not record edit-raises" in out and "the approval has no line for BRG-6204" in out

    lines = suite.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "// a comment stays"
    assert lines[2:] == bad  # byte for byte as they were
    (recorded,) = [c for c in load_suite(suite) if c.id == "good"]
    assert recorded.turns[0].seller.items == [{"sku": "BRG-6204", "quantity": "500", "unit_price": "3.25"}]


def test_record_all_good_exits_0(tmp_path: Path) -> None:
    suite = tmp_path / "s.jsonl"
    suite.write_text(_line({"id": "good", "fixture": {"buyer": {"org": "eval-eu-standard"}},
                            "turns": [{"role": "buyer", "data": RFQ}]}) + "\n", encoding="utf-8")
    res = runner.invoke(app, ["eval", "record", str(suite)])
    assert res.exit_code == 0, res.output
    assert "recorded 1 of 1 case(s)" in res.output
    assert load_suite(suite)[0].turns[0].seller.type == "proposal"


def test_record_a_bad_suite_exits_2(tmp_path: Path) -> None:
    suite = tmp_path / "s.jsonl"
    suite.write_text('{"id": "x", "turns": []}\n', encoding="utf-8")
    res = runner.invoke(app, ["eval", "record", str(suite)])
    assert res.exit_code == 2, res.output
    assert "turns" in res.output
    assert suite.read_text() == '{"id": "x", "turns": []}\n'
