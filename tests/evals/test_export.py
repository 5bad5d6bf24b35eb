"""Negotiations written to a database become a suite that replays and passes."""

from __future__ import annotations

import json
import re
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


# --- the buyer's message as sent, and what --pseudonymise scrubs -------------------------------------------

SAID = "Hi, Jane Doe from Acme GmbH here: need 500 x BRG-6204, can you do 3.10 EUR?"
CONTACT = ("Reach me at jane.doe@acme-gmbh.de or +49 30 1234567, (030) 7654321 or 555-123-4567; "
           "acme-gmbh can sign by 01/12/2026 for 500 x BRG-6204.")


def _negotiate(db: str, org: str) -> list[tuple[dict, str]]:
    """A negotiation of text turns (and one data part with text beside it) written to `db`; the messages sent."""
    from agent.config import load_data
    from agent.service import Buyer, Seller

    seller = Seller.open(*load_data(), db)
    try:
        nid = seller.start(Buyer(org=org, region="EU"))
        first = seller.send(nid, text=SAID)
        assert first.type == "proposal", first.text
        rfq = {"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "500"}]}
        seller.send(nid, data=rfq, text=CONTACT)
        seller.send(nid, text="Tel.: 30 9988776, call ACME_GMBH back")
        return [({}, SAID), (rfq, CONTACT), ({}, "Tel.: 30 9988776, call ACME_GMBH back")]
    finally:
        seller.close()


def _export(db: str, *args: str) -> list:
    res = CliRunner().invoke(app, ["conversations", "export", "--db", db, *args])
    assert res.exit_code == 0, res.output
    from evals.case import Case

    return [Case.model_validate_json(line) for line in res.stdout.splitlines() if line.strip()]


def test_export_writes_the_buyer_text_as_sent(tmp_path: Path) -> None:
    """Not wrapped in the seller's <buyer_message> delimiters (a replay stored the tags as the buyer's words);
    a data part with text beside it comes back as both."""
    db = f"sqlite:///{tmp_path / 'sent.db'}"
    sent = _negotiate(db, "acme-gmbh")
    (case,) = _export(db)
    buyer = [t for t in case.turns if t.role == "buyer"]
    assert [(t.data or {}, t.text) for t in buyer] == sent
    assert not any("buyer_message" in (t.text or "") for t in buyer)
    assert case.fixture.buyer.org == "acme-gmbh"


def test_export_from_checkpoints_strips_the_delimiters() -> None:
    """Where the decision records are gone (pruned), the checkpointed message is read back as sent."""
    from agent.prompts import delimit_buyer_text
    from evals.export import _from_checkpoint

    assert _from_checkpoint(delimit_buyer_text(SAID)) == {"text": SAID}
    data = {"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "500"}]}
    both = json.dumps(data) + "\n" + delimit_buyer_text(CONTACT)
    assert _from_checkpoint(both) == {"data": data, "text": CONTACT}
    assert _from_checkpoint(json.dumps(data)) == {"data": data}


def test_pseudonymise_scrubs_emails_phones_and_the_org_name(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'pii.db'}"
    _negotiate(db, "acme-gmbh")
    _negotiate(db, "acme-gmbh")
    cases = _export(db, "--pseudonymise")
    assert len(cases) == 2
    org = cases[0].fixture.buyer.org
    assert org.startswith("org-") and cases[1].fixture.buyer.org == org
    texts = [[t.text for t in c.turns if t.role == "buyer"] for c in cases]
    assert texts[0] == texts[1]  # stable within the export: the same words, the same placeholders
    joined = "\n".join(texts[0])
    for secret in ("jane.doe@acme-gmbh.de", "acme-gmbh", "Acme GmbH", "ACME_GMBH", "Acme", "1234567", "7654321",
                   "555-123-4567", "9988776"):
        assert secret.lower() not in joined.lower(), (secret, joined)
    said, contact, tel = texts[0]
    assert said == f"Hi, Jane Doe from {org} here: need 500 x BRG-6204, can you do 3.10 EUR?"  # names stay (documented)
    assert re.fullmatch(rf"Reach me at email-[a-z]{{8}}@example\.invalid or phone-[a-z]{{8}}, phone-[a-z]{{8}} or "
                        rf"phone-[a-z]{{8}}; {org} can sign by 01/12/2026 for 500 x BRG-6204\.", contact), contact
    assert re.fullmatch(rf"Tel\.: phone-[a-z]{{8}}, call {org} back", tel), tel
    # the figures stay, so the scrubbed case still replays as the buyer negotiated
    results = run_cases(cases[:1])
    assert results[0]["metrics"]["diverged_at"] is None, results[0]["transcript"]


def test_pseudonymise_help_says_what_is_not_scrubbed() -> None:
    res = CliRunner().invoke(app, ["conversations", "export", "--help"], env={"COLUMNS": "400"})
    text = " ".join(res.output.split())
    assert "e-mail addresses" in text and "phone numbers" in text and "names of people" in text
    assert "NOT scrubbed" in text


def test_scrubber_leaves_figures_and_catalog_words() -> None:
    from evals.export import Scrubber

    s = Scrubber("k", "bearings-ltd", "org-abc", words=frozenset({"bearings"}))
    assert s.text("Bearings Ltd needs bearings: 1000 2000 3000 units at 12.50, by 2026-12-01") == \
        "org-abc needs bearings: 1000 2000 3000 units at 12.50, by 2026-12-01"
