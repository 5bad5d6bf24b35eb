"""QA of the eval tooling as an engineer uses it: a policy change shows up, bad input exits 2, metrics are right."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from agent.cli import app
from evals.case import Case, load_suite, write_suite
from evals.runner import run_case

ROOT = Path(__file__).resolve().parents[2]
SUITES = ROOT / "evals" / "suites"
runner = CliRunner()

RFQ_500 = {"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "500"}]}


def _out(res) -> str:
    return " ".join((res.output or "").split())


def _case(**kw) -> Case:
    return Case.model_validate(kw)


def _suite(tmp_path: Path, cases: list[Case], name: str = "s.jsonl") -> Path:
    path = tmp_path / name
    write_suite(path, cases)
    return path


def _known() -> Case:
    return next(c for c in load_suite(SUITES / "haggling.jsonl") if c.id == "haggle-deal-eu")


# --- metrics: the final line is measured against its own quantity's list price -------------------


def test_final_line_discount_is_measured_at_its_own_quantity() -> None:
    """An rfq at 100, then at 500 (offered at 500's list price, 0 % off), then one refused: the metrics took the
    list price of the first quantity asked (100's, 3.40) and reported a 4.4 % discount that was never given."""
    case = _case(id="qty-then-refused", turns=[
        {"role": "buyer", "data": {"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "100"}]}},
        {"role": "buyer", "data": RFQ_500},
        {"role": "buyer", "data": {"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "99999"}]}}],
        expect={"discount_percent": {"max": "0"}})
    result = run_case(case)
    line = result["metrics"]["lines"][0]
    assert line["quantity"] == "500"
    assert line["list"] == line["unit_price"], line
    assert line["discount_percent"] == 0
    assert result["status"] == "pass", result["scores"]


# --- a policy file for the whole run ------------------------------------------------------------


def _tight_policy(tmp_path: Path) -> Path:
    text = (ROOT / "examples" / "policy.yaml").read_text(encoding="utf-8")
    tight = text.replace('- {name: auto, max_discount_percent: "15"}', '- {name: auto, max_discount_percent: "5"}')
    assert tight != text
    path = tmp_path / "policy.yaml"
    path.write_text(tight, encoding="utf-8")
    return path


def test_eval_run_policy_option_runs_the_cases_on_that_policy(tmp_path: Path) -> None:
    """`eval run` had no way to use a policy other than examples/policy.yaml (DEALDESK_POLICY was ignored, unlike
    in `eval simulate`): a tightened auto level showed every case passing. `--policy FILE` runs on it, and the
    report says which policy (and catalog) it ran on."""
    suite = _suite(tmp_path, [_known()])
    base = tmp_path / "base.json"
    res = runner.invoke(app, ["eval", "run", str(suite), "--report", str(base)])
    assert res.exit_code == 0, res.output
    policy = _tight_policy(tmp_path)
    after = tmp_path / "after.json"
    res = runner.invoke(app, ["eval", "run", str(suite), "--policy", str(policy), "--baseline", str(base),
                              "--report", str(after)])
    assert res.exit_code == 1, res.output
    doc = json.loads(after.read_text())
    assert doc["cases"][0]["status"] == "fail"
    assert doc["meta"]["policy"]["path"] == str(policy)
    assert doc["meta"]["policy"]["version"].startswith("sha256:")
    assert doc["meta"]["policy"]["version"] != json.loads(base.read_text())["meta"]["policy"]["version"]
    assert doc["baseline"]["regressions"] == ["haggle-deal-eu"]
    out = _out(res)
    assert "policy" in out and str(policy) in out  # the baseline diff says the policy changed


def test_eval_run_honours_dealdesk_policy(tmp_path: Path) -> None:
    suite = _suite(tmp_path, [_known()])
    policy = _tight_policy(tmp_path)
    res = runner.invoke(app, ["eval", "run", str(suite)], env={"DEALDESK_POLICY": str(policy)})
    assert res.exit_code == 1, res.output


def test_a_case_that_names_its_own_policy_keeps_it(tmp_path: Path) -> None:
    case = _known()
    pinned = case.model_copy(update={"fixture": case.fixture.model_copy(update={"policy": "examples/policy.yaml"})})
    suite = _suite(tmp_path, [pinned])
    res = runner.invoke(app, ["eval", "run", str(suite), "--policy", str(_tight_policy(tmp_path))])
    assert res.exit_code == 0, res.output


def test_a_bad_policy_file_is_bad_input(tmp_path: Path) -> None:
    suite = _suite(tmp_path, [_known()])
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nglobal: {max_discont_percent: '10'}\n", encoding="utf-8")
    res = runner.invoke(app, ["eval", "run", str(suite), "--policy", str(bad)])
    assert res.exit_code == 2, res.output
    assert "max_discont_percent" in _out(res)
    res = runner.invoke(app, ["eval", "simulate", "--n", "2", "--policy", str(tmp_path / "missing.yaml")])
    assert res.exit_code == 2, res.output
    assert "missing.yaml" in _out(res) and "Traceback" not in res.output
    res = runner.invoke(app, ["eval", "simulate", "--n", "2"], env={"DEALDESK_POLICY": str(bad)})
    assert res.exit_code == 2, res.output


def test_simulate_policy_option_and_report_meta(tmp_path: Path) -> None:
    report = tmp_path / "sim.json"
    policy = _tight_policy(tmp_path)
    res = runner.invoke(app, ["eval", "simulate", "--n", "3", "--policy", str(policy), "--report", str(report)])
    assert res.exit_code == 0, res.output
    meta = json.loads(report.read_text())["meta"]
    assert meta["policy"]["path"] == str(policy) and meta["policy"]["version"].startswith("sha256:")
    assert meta["catalog"]["version"].startswith("sha256:")


# --- bad options are bad input (exit 2), found before any case runs ----------------------------------


def test_a_baseline_that_is_not_an_eval_report_is_refused(tmp_path: Path) -> None:
    """A JSON list crashed with a traceback after every case had run (exit 1); a simulation report was read as
    an empty baseline (every case "new")."""
    suite = _suite(tmp_path, [_known()])
    for i, content in enumerate(([1, 2], {"meta": {}, "negotiations": []}, {"cases": [{"status": "pass"}]},
                                 {"cases": "x"})):
        path = tmp_path / f"b{i}.json"
        path.write_text(json.dumps(content), encoding="utf-8")
        res = runner.invoke(app, ["eval", "run", str(suite), "--baseline", str(path)])
        assert res.exit_code == 2, (content, res.output)
        assert "bad baseline" in _out(res) and "Traceback" not in res.output


def test_report_into_a_missing_directory(tmp_path: Path) -> None:
    """--report into a directory that does not exist crashed after the run (FileNotFoundError, exit 1)."""
    suite = _suite(tmp_path, [_known()])
    report = tmp_path / "out" / "deeper" / "r.json"
    page = tmp_path / "out" / "r.html"
    res = runner.invoke(app, ["eval", "run", str(suite), "--report", str(report), "--html", str(page)])
    assert res.exit_code == 0, res.output
    assert json.loads(report.read_text())["cases"][0]["status"] == "pass"
    assert page.exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = runner.invoke(app, ["eval", "run", str(suite), "--report", str(blocker / "r.json")])
    assert res.exit_code == 2, res.output
    sim = tmp_path / "sim" / "s.json"
    res = runner.invoke(app, ["eval", "simulate", "--n", "2", "--report", str(sim)])
    assert res.exit_code == 0, res.output
    assert sim.exists()


# --- an operator action the seller refuses is the case's problem, not a seller crash ------------------


def test_a_refused_operator_edit_is_a_harness_error_not_an_internal_error() -> None:
    """An edit below the requested price is refused by the seller (a typed error, as REST answers it); the case
    was scored `no_internal_error` failed, as if the seller had crashed."""
    case = next(c for c in load_suite(SUITES / "approvals.jsonl") if c.id == "approval-edited")
    tight = case.fixture.model_copy(update={"policy_overrides": {"global": {"approval_chain": [
        {"name": "auto", "max_discount_percent": "5"}, {"name": "manager", "max_discount_percent": "25"},
        {"name": "director", "max_discount_percent": "30"}]}}})
    from evals.runner import run_cases

    result = run_cases([case.model_copy(update={"fixture": tight})])[0]
    assert result["status"] == "error", result["scores"]
    why = result["scores"][0]["explanation"]
    assert why.startswith("turn ") and "operator edit refused" in why and "may only raise" in why, why


# --- scorer explanations say what was expected ------------------------------------------------------


def test_approval_score_says_what_was_expected() -> None:
    from evals.scorers import approval
    from evals.session import Transcript, TurnRecord

    t = Transcript("n", turns=[TurnRecord(index=0, role="buyer", sent={}, reply=None, now="", escalation="manager")])
    s = approval(Case.model_validate({"id": "x", "turns": [{"role": "buyer", "text": "hi"}],
                                      "expect": {"approval": False}}).expect, t, {})
    assert not s.passed and "expected no approval request" in s.explanation and "manager" in s.explanation
    t2 = Transcript("n", turns=[TurnRecord(index=0, role="buyer", sent={}, reply=None, now="")])
    s2 = approval(Case.model_validate({"id": "x", "turns": [{"role": "buyer", "text": "hi"}],
                                       "expect": {"approval": True}}).expect, t2, {})
    assert not s2.passed and "expected an approval request" in s2.explanation


# --- eval record keeps a hand-written bound as it was written --------------------------------------


def test_a_recorded_case_keeps_open_bounds_out() -> None:
    """`eval record` rewrote `{"max": "5"}` as `{"min": null, "max": "5"}` in every case it re-recorded."""
    from evals.case import dump_case

    case = _case(id="b", turns=[{"role": "buyer", "text": "hi"}],
                 expect={"discount_percent": {"max": "5"}, "unit_price": {"BRG-6204": {"min": "3.00"}}})
    line = dump_case(case)
    assert "null" not in line, line
    assert json.loads(line)["expect"] == {"unit_price": {"BRG-6204": {"min": "3.00"}}, "discount_percent": {"max": "5"}}
    assert Case.model_validate_json(line) == case
