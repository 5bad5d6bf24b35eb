"""`dealdesk conversations export --limit N` writes the N newest negotiations that match the filters: the
filters (outcome, buyer, since) apply before the limit, not after it."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from agent.cli import app
from evals.case import Case

RFQ = {"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "500"}]}


def _fill(db: str, *, deals_last: bool = False) -> None:
    """Five deals (deal-0 oldest), then four open negotiations (open-0 oldest): the newest are not deals. With
    `deals_last` the open ones come first."""
    from agent.config import load_data
    from agent.service import Buyer, Seller

    seller = Seller.open(*load_data(), db)

    def deals() -> None:
        for i in range(5):
            nid = seller.start(Buyer(org=f"deal-{i}", region="EU"))
            offer = seller.send(nid, data=RFQ)
            done = seller.send(nid, data={"type": "accept", "proposal_id": offer.data["proposal_id"],
                                          "version": offer.data["version"]})
            assert done.type == "deal", done.text

    def opened() -> None:
        for i in range(4):
            nid = seller.start(Buyer(org=f"open-{i}", region="EU"))
            assert seller.send(nid, data=RFQ).type == "proposal"

    try:
        for step in ((opened, deals) if deals_last else (deals, opened)):
            step()
    finally:
        seller.close()


def _export(db: str, *args: str) -> list[str]:
    res = CliRunner().invoke(app, ["conversations", "export", "--db", db, *args])
    assert res.exit_code == 0, res.output
    return [Case.model_validate_json(line).fixture.buyer.org for line in res.stdout.splitlines() if line.strip()]


def test_limit_applies_after_the_outcome_filter(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'many.db'}"
    _fill(db)
    assert _export(db, "--outcome", "deal", "--limit", "3") == ["deal-2", "deal-3", "deal-4"]
    assert _export(db, "--outcome", "deal", "--limit", "50") == [f"deal-{i}" for i in range(5)]
    assert _export(db, "--outcome", "no_deal", "--limit", "2") == ["open-2", "open-3"]
    assert _export(db, "--outcome", "open", "--limit", "1") == ["open-3"]
    assert _export(db, "--buyer", "deal-1", "--limit", "1") == ["deal-1"]
    assert _export(db, "--limit", "2") == ["open-2", "open-3"]


def test_limit_pages_past_a_first_page_of_non_matching(tmp_path: Path, monkeypatch) -> None:
    """More non-matching negotiations than the first page the export reads: it reads on (growing pages)."""
    from agent.config import load_data
    from agent.service import Seller
    from evals import export as ex

    db = f"sqlite:///{tmp_path / 'paged.db'}"
    _fill(db, deals_last=True)
    monkeypatch.setattr(ex, "FIRST_PAGE", 1)
    seller = Seller.open(*load_data(), db)
    pages: list[int] = []
    real = seller.store.list_negotiations

    def spy(**kw):
        pages.append(kw["limit"])
        return real(**kw)

    seller.store.list_negotiations = spy  # type: ignore[method-assign]
    try:
        cases = ex.export(seller, outcome="no_deal", limit=2)  # the first page (2) holds only deals
        assert [c.fixture.buyer.org for c in cases] == ["open-2", "open-3"]
        assert pages == [2, 8]
    finally:
        seller.close()
