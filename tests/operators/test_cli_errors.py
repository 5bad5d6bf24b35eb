"""Operator commands refuse what they cannot act on, with a clear error and a non-zero exit.

- `autonomy pause` names a category or SKU the catalog has (a typo used to pause nothing, silently);
  `autonomy resume` still clears a switch whose product has since left the catalog.
- `audit prune --older-than abc` names --older-than (it said --before).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from agent.cli import app
from agent.config import catalog_path
from agent.store import Store
from agent.store.autonomy import AutonomyStore


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """invoke(*args) -> the CliRunner result against a fresh SQLite file (and the demo catalog)."""
    for var in ("DEALDESK_CATALOG", "DEALDESK_POLICY", "DEALDESK_DB", "DEALDESK_RETENTION_DAYS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("COLUMNS", "400")
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [*args, "--db", url], catch_exceptions=False)

    invoke.url = url  # type: ignore[attr-defined]
    return invoke


def switches(url: str) -> dict[str, str]:
    store = Store(url)
    try:
        return AutonomyStore(store.engine).switches()
    finally:
        store.dispose()


@pytest.mark.parametrize(("option", "value", "code"), [("--category", "nonexistent", "unknown_category"),
                                                        ("--sku", "NOPE-1", "unknown_sku")])
def test_autonomy_pause_refuses_an_unknown_scope(cli, option, value, code) -> None:
    result = cli("autonomy", "pause", "--mode", "shadow", option, value)
    assert result.exit_code == 2, result.output
    assert code in result.output and repr(value) in result.output
    assert switches(cli.url) == {}  # nothing paused, nothing claimed


def test_autonomy_pause_names_the_categories_and_close_skus(cli) -> None:
    out = cli("autonomy", "pause", "--category", "motor").output
    assert "motors" in out and "bearings" in out
    out = cli("autonomy", "pause", "--sku", "BRG-62O4").output
    assert "did you mean BRG-6204" in out


def test_autonomy_pause_and_resume_known_scopes(cli) -> None:
    assert cli("autonomy", "pause", "--mode", "shadow", "--category", "motors").exit_code == 0
    assert cli("autonomy", "pause", "--sku", "BRG-6204").exit_code == 0
    assert cli("autonomy", "pause", "--mode", "shadow").exit_code == 0
    assert switches(cli.url) == {"category:motors": "shadow", "product:BRG-6204": "approval_only", "global": "shadow"}
    for args in (("--category", "motors"), ("--sku", "BRG-6204"), ()):
        assert cli("autonomy", "resume", *args).exit_code == 0
    assert switches(cli.url) == {}


def test_autonomy_resume_clears_a_switch_of_a_product_gone_from_the_catalog(cli, tmp_path) -> None:
    text = catalog_path().read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    # a product nothing else in the catalog refers to, so the catalog without it is still valid
    gone = next(p["sku"] for p in doc["products"] if text.count(p["sku"]) == 1)
    assert cli("autonomy", "pause", "--sku", gone).exit_code == 0
    doc["products"] = [p for p in doc["products"] if p["sku"] != gone]
    smaller = tmp_path / "catalog.yaml"
    smaller.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")

    refused = cli("autonomy", "pause", "--sku", gone, "--catalog", str(smaller))
    assert refused.exit_code == 2 and "unknown_sku" in refused.output, refused.output
    resumed = cli("autonomy", "resume", "--sku", gone, "--catalog", str(smaller))
    assert resumed.exit_code == 0, resumed.output
    assert switches(cli.url) == {}
    # with no switch left, the same name is a typo again
    again = cli("autonomy", "resume", "--sku", gone, "--catalog", str(smaller))
    assert again.exit_code == 2 and f"no switch is set for product:{gone}" in again.output


def test_autonomy_store_checks_the_scope_against_the_given_names(tmp_path: Path) -> None:
    from tools.errors import DealdeskError

    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        s = AutonomyStore(store.engine)
        known = {"categories": {"motors"}, "skus": {"MTR-1"}}
        with pytest.raises(DealdeskError) as bad:
            s.set("category:motorz", "shadow", by="x", **known)
        assert bad.value.code == "unknown_category" and bad.value.field == "category"
        with pytest.raises(DealdeskError) as bad:
            s.set("product:MTR-2", "approval_only", by="x", **known)
        assert bad.value.code == "unknown_sku" and bad.value.field == "sku"
        s.set("product:MTR-1", "shadow", by="x", **known)
        s.set("global", "shadow", by="x", **known)
        s.set("product:GONE", "shadow", by="x")  # without the names: not checked (as before)
        s.set("product:GONE", "auto", by="x", **known)  # a switch that is set can always be cleared
        assert s.switches() == {"product:MTR-1": "shadow", "global": "shadow"}
    finally:
        store.dispose()


def test_audit_prune_names_the_option_given(cli, monkeypatch) -> None:
    result = cli("audit", "prune", "--older-than", "abc")
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "--older-than" in text and "--before" not in text and "'abc'" in text
    result = cli("audit", "prune", "--before", "abc")
    assert result.exit_code == 2 and "--before" in " ".join(result.output.split())
    monkeypatch.setenv("DEALDESK_RETENTION_DAYS", "abc")
    result = cli("audit", "prune")
    assert result.exit_code == 2 and "DEALDESK_RETENTION_DAYS" in " ".join(result.output.split())


@pytest.mark.parametrize(("given", "stored"), [("approval-only", "approval_only"), ("approval_only", "approval_only"),
                                               ("shadow", "shadow"), ("Shadow", "shadow")])
def test_autonomy_pause_takes_the_modes_its_help_names(cli, given, stored) -> None:
    result = cli("autonomy", "pause", "--mode", given, "--sku", "BRG-6205")
    assert result.exit_code == 0, result.output
    assert switches(cli.url) == {"product:BRG-6205": stored}


def test_autonomy_pause_help_and_refusal_name_the_same_modes(cli) -> None:
    helped = " ".join(CliRunner().invoke(app, ["autonomy", "pause", "--help"], terminal_width=200).output.split())
    assert "approval-only | shadow" in helped
    result = cli("autonomy", "pause", "--mode", "bogus")
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "error malformed_message (field --mode):" in text and "approval-only | shadow" in text, text
    assert "approval_only, shadow" not in text and "auto," not in text
    assert switches(cli.url) == {}


@pytest.mark.parametrize("scope", [(), ("--sku", "BRG-6205"), ("--category", "motors")])
def test_autonomy_pause_with_mode_auto_is_refused_pointing_to_resume(cli, scope) -> None:
    result = cli("autonomy", "pause", "--mode", "auto", *scope)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "error malformed_message (field --mode):" in text and f"dealdesk autonomy resume {' '.join(scope)}" \
        .rstrip() in text, text
    assert switches(cli.url) == {}
    assert "auto everywhere" in cli("autonomy", "show").output
