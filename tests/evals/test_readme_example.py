"""The example case of evals/README.md passes as written; an operator turn with no approval to decide is a harness
error that says so, not a silent no-op."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from agent.cli import app
from evals.case import Case, write_suite
from evals.runner import run_cases

README = Path(__file__).resolve().parents[2] / "evals" / "README.md"
runner = CliRunner()


def _example() -> Case:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## A case"):]
    block = re.search(r"```json\n(.*?)```", section, re.S)
    assert block is not None
    # pasted into a suite: one JSON object a line
    line = json.dumps(json.loads(block.group(1)), separators=(",", ":"))
    return Case.model_validate_json(line)


def test_readme_example_passes(tmp_path: Path) -> None:
    case = _example()
    assert any(t.role == "operator" for t in case.turns) and case.expect.approval_level
    (result,) = run_cases([case])
    assert result["status"] == "pass", [s for s in result["scores"] if not s["passed"]]
    # the operator turn decided a real request (it is not a no-op), and nothing diverged from what it records
    assert result["metrics"]["approvals_decided"] == 1
    assert result["metrics"]["divergences"] == []
    suite = tmp_path / "readme.jsonl"
    write_suite(suite, [case])
    res = runner.invoke(app, ["eval", "run", str(suite)])
    assert res.exit_code == 0, res.output


def _no_pending(action: str) -> Case:
    return Case.model_validate({"id": f"no-pending-{action}", "fixture": {"buyer": {"org": "eval-eu-standard"}},
                                "turns": [{"role": "buyer", "data": {"type": "rfq", "items": [
                                    {"sku": "BRG-6204", "quantity": "500"}]}},
                                          {"role": "operator", "action": action,
                                           **({"prices": {"BRG-6204": "3.20"}} if action == "edit" else {})}],
                                "expect": {"outcome": "no_deal"}})


def test_operator_turn_without_pending_approval_is_a_harness_error(tmp_path: Path) -> None:
    results = run_cases([_no_pending(a) for a in ("approve", "reject", "edit")])
    for r, action in zip(results, ("approve", "reject", "edit")):
        assert r["status"] == "error", r
        assert [s["explanation"] for s in r["scores"] if not s["passed"]] == \
            [f"turn 1: no pending approval to {action}"]
    suite = tmp_path / "s.jsonl"
    write_suite(suite, [_no_pending("approve")])
    res = runner.invoke(app, ["eval", "run", str(suite)])
    assert res.exit_code == 1
    assert "turn 1: no pending approval to approve" in " ".join(res.output.split())


def test_a_placeholder_before_any_proposal_is_a_harness_error() -> None:
    """A `$proposal_id` sent before the seller made a proposal went out literally; it is the case's own mistake."""
    case = Case.model_validate({
        "id": "placeholder-too-early",
        "turns": [{"role": "buyer", "data": {"type": "accept", "proposal_id": "$proposal_id", "version": "$version"}}],
        "expect": {"outcome": "no_deal"}})
    (result,) = run_cases([case])
    assert result["status"] == "error", result
    assert [s["explanation"] for s in result["scores"] if not s["passed"]] == \
        ["turn 0: $proposal_id, $version used before the seller made any proposal"]
