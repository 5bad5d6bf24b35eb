"""Negotiations written to a database become a suite that replays and passes."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from agent.cli import app
from evals.case import load_suite
from evals.runner import run_cases
from evals.simulate import simulate


def test_export_round_trip(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    report = simulate(["conceder", "competitor", "split"], 3, seed=5, db=db)
    assert report["summary"]["violations"] == 0
    suite = tmp_path / "exported.jsonl"
    res = CliRunner().invoke(app, ["conversations", "export", "--db", db, "--out", str(suite), "--pseudonymise"])
    assert res.exit_code == 0, res.output
    cases = load_suite(suite)
    assert len(cases) == 3
    assert all(c.fixture.buyer.org.startswith("org-") for c in cases)
    assert all(any(t.role == "buyer" for t in c.turns) for c in cases)
    # text buyers come back as text (checkpoints are kept beside a --db SQLite file)
    assert any(getattr(t, "text", None) for c in cases for t in c.turns)
    results = run_cases(cases)
    failing = {r["id"]: ([s for s in r["scores"] if not s["passed"]], r["transcript"]) for r in results
               if r["status"] != "pass"}
    assert failing == {}, failing
    diverged = {r["id"]: r["transcript"] for r in results if r["metrics"]["diverged_at"] is not None}
    assert diverged == {}, diverged


def test_export_filters(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    simulate(["boulware"], 2, seed=1, db=db)
    res = CliRunner().invoke(app, ["conversations", "export", "--db", db, "--outcome", "deal", "--since", "2000-01-01"])
    assert res.exit_code == 0
    for line in res.output.splitlines():
        if line.strip():
            assert '"status:deal"' in line
    res = CliRunner().invoke(app, ["conversations", "export", "--db", db, "--buyer", "nobody"])
    assert res.exit_code == 0 and res.output.strip() == ""
