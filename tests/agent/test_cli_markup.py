"""Bracketed text in the CLI's rich output is printed as it is, never read as rich markup.

Rule ids such as `policy.categories[motors].approval_chain`, SKUs, product names, file paths, notes,
labels, organisations and buyer text are data: rich used to read `[motors]` as a style tag and drop it
(and a `[/x]` in a note could crash the command). The intended styling (`[red]`, `[bold]`) stays.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NAME = "Deep groove ball bearing 6204-2RS"




def flat(text: str) -> str:
    return " ".join(text.split())


def test_policy_explain_prints_bracketed_rule_ids_whole(cli) -> None:
    """The QA report: `policy explain MTR-IE3-2K2 --qty 4 --region EU` showed policy.categories.approval_chain."""
    args = ("policy", "explain", "MTR-IE3-2K2", "--qty", "4", "--region", "EU")
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert "policy.categories[motors].approval_chain" in result.output
    assert "policy.categories[motors].autonomous" in result.output
    assert not re.search(r"policy\.(categories|products)\.", result.output), result.output
    rule_ids = json.loads(cli(*args, "--json").output)["rule_ids"]
    for rule_id in rule_ids.values():  # every rule id of the --json output, as it is
        for part in rule_id.split(", "):
            assert part in result.output, part


def test_negotiate_explain_prints_bracketed_rule_ids_whole(cli) -> None:
    """The QA report: `negotiate --explain` showed policy.categories.autonomous."""
    result = cli("negotiate", "--sku", "MTR-IE3-2K2", "--qty", "4", "--explain", "--operator", "approve")
    assert result.exit_code == 0, result.output
    assert "rules " in result.output and "policy.categories[motors].autonomous" in result.output
    assert not re.search(r"policy\.(categories|products)\.", result.output), result.output
    assert "[dim]" not in result.output  # the intended styling is still markup, not text


def _catalog_with_a_bracketed_name(tmp_path: Path) -> Path:
    text = (EXAMPLES / "catalog.yaml").read_text(encoding="utf-8")
    assert f"name: {NAME}\n" in text
    path = tmp_path / "catalog[v2].yaml"
    path.write_text(text.replace(f"name: {NAME}\n", f"name: '{NAME} [sealed]'\n", 1), encoding="utf-8")
    return path


def test_catalog_and_price_print_bracketed_names_and_paths(cli, tmp_path) -> None:
    catalog = _catalog_with_a_bracketed_name(tmp_path)
    valid = cli("catalog", "validate", str(catalog))
    assert valid.exit_code == 0, valid.output
    assert str(catalog) in flat(valid.output)
    found = cli("catalog", "search", "6204-2RS", "--catalog", str(catalog))
    assert found.exit_code == 0, found.output
    assert f"{NAME} [sealed]" in found.output
    priced = cli("price", "BRG-6204", "--qty", "500", "--region", "EU", "--catalog", str(catalog))
    assert priced.exit_code == 0, priced.output
    assert f"BRG-6204 {NAME} [sealed]: 500 x 3.25 EUR" in priced.output
    explained = cli("policy", "explain", "BRG-6204", "--qty", "500", "--region", "EU", "--catalog", str(catalog))
    assert explained.exit_code == 0, explained.output
    assert "policy.products[BRG-6204].floor_price" in explained.output
    policy = tmp_path / "policy[v2].yaml"
    policy.write_text((EXAMPLES / "policy.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    checked = cli("policy", "validate", str(policy), "--catalog", str(catalog))
    assert checked.exit_code == 0, checked.output
    assert str(policy) in flat(checked.output)
    exported = cli("catalog", "export-jsonld", "--catalog", str(catalog), "--out", str(tmp_path / "out[v2].jsonld"))
    assert exported.exit_code == 0, exported.output
    assert "out[v2].jsonld" in exported.output
    schemas = cli("schemas", "--out", str(tmp_path / "schemas[v2]"))
    assert schemas.exit_code == 0, schemas.output
    assert "schemas[v2]" in schemas.output


def test_chat_prints_bracketed_buyer_text_and_errors(cli) -> None:
    lines = ['{"type": "rfq", "items": [{"sku": "[nope]", "quantity": "5"}]}']
    result = cli("chat", "--org", "acme[eu]", input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    assert re.search(r"^negotiation neg-\w+ as acme\[eu\] \(EU, standard\)", result.output, re.M), result.output
    assert "unknown SKU '[nope]'" in result.output


def test_approvals_list_and_decide_print_bracketed_orgs_and_names(cli, dd_demo) -> None:
    from agent.service import Buyer, Seller

    seller = Seller.open(*dd_demo, os.environ["DEALDESK_DB"])
    try:
        nid = seller.start(Buyer(org="acme[eu]", region="EU"))
        seller.send(nid, data={"type": "rfq", "items": [{"sku": "MTR-IE3-2K2", "quantity": "4"}]})
        approval = seller.store.pending_approval(nid).id  # motors are outside the bot's autonomy
    finally:
        seller.close()
    listed = cli("approvals", "list")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if approval in line)
    assert "acme[eu]" in row
    decided = cli("approvals", "approve", approval, "--by", "alice[ops]")
    assert decided.exit_code == 0, decided.output
    assert f"{approval}: approve by alice[ops]" in decided.output


def test_autonomy_prints_bracketed_notes_and_names(cli) -> None:
    paused = cli("autonomy", "pause", "--category", "motors", "--by", "ops[bot]", "--note", "see [ticket 42] [/x]")
    assert paused.exit_code == 0, paused.output
    assert "set by ops[bot]" in paused.output
    shown = cli("autonomy", "show")
    assert shown.exit_code == 0, shown.output
    assert "see [ticket 42] [/x]" in shown.output and "ops[bot]" in shown.output


def test_keys_print_bracketed_orgs_and_labels(cli) -> None:
    made = cli("keys", "create", "--scope", "buyer", "--org", "acme[eu]", "--region", "EU", "--label", "[vip] key")
    assert made.exit_code == 0, made.output
    assert "(buyer, acme[eu])" in made.output
    listed = cli("keys", "list")
    assert listed.exit_code == 0, listed.output
    assert "acme[eu]" in listed.output and "[vip] key" in listed.output
    bad = cli("keys", "create", "--scope", "buyer", "--org", "acme", "--region", "[mars]")
    assert bad.exit_code == 2 and "region '[mars]' is not served" in bad.output


def test_doctor_prints_bracketed_details(cli, monkeypatch) -> None:
    found = {"model": "openai:gpt[x]", "kind": "openai-compatible", "base_url": "http://host/[v1]", "api_key": "set",
             "source": "environment", "understanding": "cascade", "structured_output": "auto",
             "limits": {"timeout_s": 30, "attempts": 1, "budget_calls": 60, "budget_tokens": 200000}, "ok": False,
             "checks": [{"check": "answers", "ok": False, "detail": "timeout: read [timed out]", "ms": 5}]}
    monkeypatch.setattr("agent.cli_doctor.diagnose", lambda: found)
    result = cli("doctor")
    assert result.exit_code == 1, result.output
    assert "model: openai:gpt[x]" in result.output and "http://host/[v1]" in result.output
    assert "timeout: read [timed out]" in result.output
    assert "failed" in result.output and "[red]" not in result.output  # the intended styling stays markup


@pytest.mark.parametrize(("command", "texts"), [
    (("price",), ("Catalog file (env DEALDESK_CATALOG)", "Policy file (env DEALDESK_POLICY)")),
    (("negotiate",), ("Catalog file (env DEALDESK_CATALOG)", "Policy file (env DEALDESK_POLICY)",
                      "Database URL (env DEALDESK_DB)")),
    (("chat",), ("Catalog file (env DEALDESK_CATALOG)", "Policy file (env DEALDESK_POLICY)")),
    (("serve",), ("Catalog file (env DEALDESK_CATALOG)", "(env DEALDESK_DB)")),
    (("autonomy", "pause"), ("(env DEALDESK_CATALOG)",)),
    (("deals", "list"), ("Database URL (env DEALDESK_DB)",)),
    (("log", "tail"), ("Log file (env DEALDESK_LOG)",)),
])
def test_help_names_the_environment_variables(cli, command, texts) -> None:
    """Typer reads option help as rich markup: "[env DEALDESK_CATALOG]" was dropped from every --help."""
    text = flat(cli(*command, "--help").output)
    for expected in texts:
        assert expected in text, (expected, text)


def test_eval_help_keeps_its_defaults(cli) -> None:
    """Typer reads help as rich markup: '[evals/suites]' and '[all]' vanished from `eval run/simulate --help`."""
    run = " ".join(cli("eval", "run", "--help").output.split())
    assert "evals/suites" in run and "the demo key" in run
    assert "(default: all)" in " ".join(cli("eval", "simulate", "--help").output.split())
    assert "(env DEALDESK_DB)" in " ".join(cli("conversations", "export", "--help").output.split())
