"""A bad suite is reported whole: every bad line with file:line, the case id when it can be read and the field
path, without pydantic's documentation URLs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from evals.case import SuiteError, load_suite, load_suites

RFQ = {"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "500"}]}


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _bad_suite(tmp_path: Path) -> Path:
    return _write(tmp_path / "bad.jsonl", [
        "// a comment",
        json.dumps({"id": "fine", "turns": [{"role": "buyer", "data": RFQ}]}),                          # 2
        json.dumps({"id": "bad-action", "turns": [{"role": "buyer", "data": RFQ},
                                                   {"role": "operator", "action": "aprove"}]}),          # 3
        "",
        '{"id": "broken", "turns": [',                                                                  # 5
        json.dumps({"id": "bad-expect", "turns": [{"role": "buyer", "text": "hi"}],
                    "expect": {"outcome": "won", "must_not": ["violation", "typo"]}}),                   # 6
        json.dumps({"turns": [{"role": "buyer"}]}),                                                     # 7
        json.dumps({"id": "extra", "fixture": {"buyer": {"org": "x", "regoin": "EU"}},
                    "turns": [{"role": "buyer", "data": RFQ}]}),                                        # 8
    ])


def test_every_bad_line_is_reported(tmp_path: Path) -> None:
    suite = _bad_suite(tmp_path)
    with pytest.raises(SuiteError) as info:
        load_suite(suite)
    text = str(info.value)
    problems = text.splitlines()  # one problem a line
    assert "errors.pydantic.dev" not in text and "For further information" not in text
    assert problems[0] == \
        f"{suite}:3: case 'bad-action': turns[1].action: Input should be 'approve', 'reject' or 'edit'"
    assert problems[1].startswith(f"{suite}:5: Invalid JSON")
    assert f"{suite}:6: case 'bad-expect': expect.outcome: Input should be 'deal', 'no_deal' or 'error'" in problems
    assert any(p.startswith(f"{suite}:6: case 'bad-expect': expect.must_not[1]: Input should be") for p in problems)
    assert f"{suite}:7: id: Field required" in problems
    assert f"{suite}:7: turns[0]: a buyer turn needs data, text or both" in problems
    assert f"{suite}:8: case 'extra': fixture.buyer.regoin: Extra inputs are not permitted" in problems
    assert not any(":2:" in p for p in problems)
    assert len(problems) == 7, problems
    assert info.value.problems == problems


def test_duplicates_across_files_and_bad_lines_together(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.jsonl", [json.dumps({"id": "same", "turns": [{"role": "buyer", "text": "hi"}]})])
    b = _write(tmp_path / "b.jsonl", [json.dumps({"id": "same", "turns": [{"role": "buyer", "text": "hi"}]}),
                                      json.dumps({"id": "empty", "turns": []})])
    with pytest.raises(SuiteError) as info:
        load_suites([tmp_path])
    assert str(info.value).splitlines() == [
        f"{b}:1: case 'same': id: duplicate case id (first at {a}:1)",
        f"{b}:2: case 'empty': turns: List should have at least 1 item after validation, not 0"]


def test_eval_run_prints_every_problem_and_exits_2(tmp_path: Path) -> None:
    suite = _bad_suite(tmp_path)
    res = CliRunner().invoke(app, ["eval", "run", str(suite)])
    assert res.exit_code == 2, res.output
    out = " ".join(res.output.split())
    for where in (":3: case 'bad-action': turns[1].action", ":5: Invalid JSON", ":6: case 'bad-expect'",
                  ":7: id: Field required", ":8: case 'extra': fixture.buyer.regoin"):
        assert f"{suite}{where}" in out, where
    assert "errors.pydantic.dev" not in out


def test_an_unknown_case_id_names_the_cases_there_are() -> None:
    """`eval run --case nope` said only 'no cases to run'."""
    suite = str(Path(__file__).resolve().parents[2] / "evals" / "suites" / "errors.jsonl")
    result = CliRunner().invoke(app, ["eval", "run", "--case", "nope", suite])
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert "no case 'nope' in" in out and "unknown-sku" in out and "wrong-region" in out
    tagged = CliRunner().invoke(app, ["eval", "run", "--tag", "nope", suite])
    assert tagged.exit_code == 2 and "with tag nope" in " ".join(tagged.output.split())


def test_a_model_that_cannot_be_built_is_refused_before_any_case_runs(monkeypatch) -> None:
    """`--model openai` with no key ran every case into an error; it is refused once, with exit 2."""
    for var in ("OPENAI_API_KEY", "DEALDESK_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DEALDESK_MODEL", "openai:gpt-4o-mini")
    suite = str(Path(__file__).resolve().parents[2] / "evals" / "suites" / "errors.jsonl")
    result = CliRunner().invoke(app, ["eval", "run", "--model", "openai", suite])
    assert result.exit_code == 2 and "needs OPENAI_API_KEY" in " ".join(result.output.split())


def test_booleans_and_numbers_are_not_read_from_strings(tmp_path: Path) -> None:
    # The schema says boolean and number: "yes" was taken as true and "2" as 2, so a typo passed unseen.
    suite = _write(tmp_path / "types.jsonl", [
        json.dumps({"id": "approval-yes", "turns": [{"role": "buyer", "data": RFQ}], "expect": {"approval": "yes"}}),
        json.dumps({"id": "days-text", "turns": [{"role": "buyer", "data": RFQ},
                                                  {"role": "clock", "advance_days": "2"}]}),
        json.dumps({"id": "revisions-text", "fixture": {"max_revisions": "1"},
                    "turns": [{"role": "buyer", "data": RFQ}]}),
        json.dumps({"id": "fine", "turns": [{"role": "buyer", "data": RFQ}, {"role": "clock", "advance_days": 2}],
                    "expect": {"approval": False}, "fixture": {"max_revisions": 1}}),
    ])
    with pytest.raises(SuiteError) as info:
        load_suite(suite)
    problems = info.value.problems
    assert problems == [f"{suite}:1: case 'approval-yes': expect.approval: Input should be a valid boolean",
                        f"{suite}:2: case 'days-text': turns[1].advance_days: Input should be a valid number",
                        f"{suite}:3: case 'revisions-text': fixture.max_revisions: Input should be a valid integer"], \
        problems
