"""The vendor's own catalog and policy files on the agent's commands, and refused files said plainly.

- `dealdesk negotiate` and `dealdesk chat` take `--catalog` and `--policy`, as `dealdesk price` does
  (else DEALDESK_CATALOG / DEALDESK_POLICY, else the demo files).
- A refused file is one line per issue under `refused (N issue(s)):`, exit 1, never a traceback: on
  negotiate, chat, approvals and keys create as on price.
- `policy validate` says which catalog (the resolved path, and where it came from) a refused policy was
  checked against: `unknown SKU 'BRG-6304'` alone did not say which catalog lacks it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CHAIN = ('    - {name: manager, max_discount_percent: "25"}\n'
         '    - {name: director, max_discount_percent: "30"}\n')
SWAPPED = ('    - {name: director, max_discount_percent: "30"}\n'
           '    - {name: manager, max_discount_percent: "25"}\n')
CHAIN_ISSUE = "approval_chain: level 'manager' must allow more than 'director' (25 <= 30)"




def _copy(tmp_path: Path, name: str, source: str, old: str, new: str) -> Path:
    text = (EXAMPLES / source).read_text(encoding="utf-8")
    assert text.count(old) >= 1, old
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.fixture
def bad_policy(tmp_path) -> Path:
    """The demo policy with its global approval chain out of order (director before manager)."""
    return _copy(tmp_path, "bad-policy.yaml", "policy.yaml", CHAIN, SWAPPED)


@pytest.fixture
def bad_catalog(tmp_path) -> Path:
    """The demo catalog with a pricing rule naming a category it does not have."""
    return _copy(tmp_path, "bad-catalog.yaml", "catalog.yaml", "when: {segments: [strategic]}",
                 "when: {segments: [strategic], categories: [motor]}")


def _refused(result, path: Path, issue: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert lines[0] == "refused (1 issue):", result.output
    assert len(lines) == 2 and lines[1].startswith(f"  {path}") and issue in lines[1], result.output


@pytest.mark.parametrize("command", [("negotiate",), ("chat",)])
@pytest.mark.parametrize("how", ["option", "env"])
def test_negotiate_and_chat_report_a_refused_policy(cli, bad_policy, monkeypatch, command, how) -> None:
    if how == "env":
        monkeypatch.setenv("DEALDESK_POLICY", str(bad_policy))
        result = cli(*command, input="")
    else:
        result = cli(*command, "--policy", str(bad_policy), input="")
    _refused(result, bad_policy, CHAIN_ISSUE)


@pytest.mark.parametrize("command", [("negotiate",), ("chat",)])
def test_negotiate_and_chat_report_a_refused_catalog(cli, bad_catalog, command) -> None:
    _refused(cli(*command, "--catalog", str(bad_catalog), input=""), bad_catalog, "field when.categories")


@pytest.mark.parametrize("command", [("approvals", "list"), ("approvals", "approve", "A-NOPE"),
                                     ("approvals", "reject", "A-NOPE"),
                                     ("approvals", "edit", "A-NOPE", "--price", "BRG-6204=2.90")])
@pytest.mark.parametrize("how", ["option", "env"])
def test_approvals_report_a_refused_policy(cli, bad_policy, monkeypatch, command, how) -> None:
    """The approvals commands take --policy / --catalog as negotiate does (an operator's decision is a priced,
    guarded turn on those files), else the environment."""
    if how == "env":
        monkeypatch.setenv("DEALDESK_POLICY", str(bad_policy))
        _refused(cli(*command), bad_policy, CHAIN_ISSUE)
    else:
        _refused(cli(*command, "--policy", str(bad_policy)), bad_policy, CHAIN_ISSUE)


@pytest.mark.parametrize("command", [("approvals", "list"), ("approvals", "approve", "A-NOPE")])
def test_approvals_report_a_refused_catalog(cli, bad_catalog, command) -> None:
    _refused(cli(*command, "--catalog", str(bad_catalog)), bad_catalog, "field when.categories")


def test_keys_create_reports_a_refused_catalog(cli, bad_catalog) -> None:
    result = cli("keys", "create", "--scope", "buyer", "--org", "acme", "--region", "EU", "--catalog", str(bad_catalog))
    _refused(result, bad_catalog, "field when.categories")


def test_negotiate_with_a_refused_policy_prints_no_traceback(bad_policy, tmp_path) -> None:
    """The QA report, as a user runs it: DEALDESK_POLICY at a refused policy printed ~70 lines of traceback."""
    env = {**os.environ, "DEALDESK_POLICY": str(bad_policy), "DEALDESK_DB": f"sqlite:///{tmp_path / 'db.sqlite'}",
           "DEALDESK_LOG": str(tmp_path / "decisions.log"), "COLUMNS": "200"}
    env.pop("DEALDESK_CATALOG", None)
    done = subprocess.run([sys.executable, "-m", "agent.cli", "negotiate"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0] == "refused (1 issue):" and len(lines) == 2, done.stderr
    assert "approval_chain: level" in lines[1], done.stderr


def test_negotiate_and_chat_use_the_catalog_and_policy_given(cli, tmp_path) -> None:
    catalog = _copy(tmp_path, "catalog.yaml", "catalog.yaml", '{min: 500, max: 1999, price: "3.25"}',
                    '{min: 500, max: 1999, price: "3.30"}')  # BRG-6204, EU-EUR: the first one in the file
    policy = _copy(tmp_path, "policy.yaml", "policy.yaml", "  autonomous: true\n", "  autonomous: false\n")
    demo = cli("negotiate", "--buyer", "eager")
    assert demo.exit_code == 0, demo.output
    assert "500 x BRG-6204 at 3.25 EUR each" in demo.output and "operator: approve" not in demo.output

    priced = cli("negotiate", "--buyer", "eager", "--catalog", str(catalog))
    assert priced.exit_code == 0, priced.output
    assert "500 x BRG-6204 at 3.30 EUR each" in priced.output
    held = cli("negotiate", "--buyer", "eager", "--policy", str(policy))
    assert held.exit_code == 0, held.output
    assert "operator: approve" in held.output  # nothing is the bot's alone under that policy

    chatted = cli("chat", "--catalog", str(catalog), "--policy", str(policy), input="need 500 x BRG-6204\n")
    assert chatted.exit_code == 0, chatted.output
    assert "500 x BRG-6204 at 3.30 EUR each" in chatted.output


def test_policy_validate_names_the_catalog_it_checked_against(cli, tmp_path, monkeypatch) -> None:
    policy = _copy(tmp_path, "policy.yaml", "policy.yaml", "\nproducts:\n", "\nproducts:\n  BRG-6304: {moq: 2}\n")
    default = cli("policy", "validate", str(policy))
    assert default.exit_code == 1, default.output
    assert "unknown SKU 'BRG-6304'" in default.output
    assert (f"catalog used: {(EXAMPLES / 'catalog.yaml').resolve()} (the default; choose another with --catalog "
            "or DEALDESK_CATALOG)") in default.output

    mine = tmp_path / "mine.yaml"
    mine.write_text((EXAMPLES / "catalog.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("DEALDESK_CATALOG", str(mine))
    from_env = cli("policy", "validate", str(policy))
    assert from_env.exit_code == 1 and f"catalog used: {mine.resolve()} (env DEALDESK_CATALOG)" in from_env.output
    monkeypatch.chdir(tmp_path)
    given = cli("policy", "validate", str(policy), "--catalog", "mine.yaml")
    assert given.exit_code == 1 and f"catalog used: {mine.resolve()} (--catalog)" in given.output
    assert cli("policy", "validate", str(EXAMPLES / "policy.yaml")).exit_code == 0
