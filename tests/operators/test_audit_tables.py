"""`audit verify` checks the tables operators read against the chained records (agent/store/audit_tables.py).

QA (operators): editing dd_approvals (who decided, the outcome), dd_deals (a total) or dd_proposals (a unit price)
with plain SQL left `audit verify` saying OK, while `approvals show` and `deals list` showed the forged values.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from agent.config import load_data
from agent.service import Buyer, Seller
from agent.store import audit
from agent.store.autonomy import AutonomyStore

SKU = "BRG-6204"


def _counter(offer: dict, price: str) -> dict:
    return {"type": "counter_offer", "proposal_id": offer["proposal_id"], "version": offer["version"],
            "items": [{"sku": SKU, "quantity": offer["items"][0]["quantity"], "unit_price": price}]}


@pytest.fixture(scope="module")
def dealt(tmp_path_factory):
    """A negotiation with an approval approved and a deal, and one whose offer a shadow turn kept for review."""
    url = f"sqlite:///{tmp_path_factory.mktemp('audit-tables') / 'dd.db'}"
    seller = Seller.open(*load_data(), url)
    nid = seller.start(Buyer(org="audit-tables", region="EU"))
    offer = seller.send(nid, data={"type": "rfq", "items": [{"sku": SKU, "quantity": "500"}]}).data
    for price in ("2.40", "2.50", "2.60", "2.68", "2.70"):
        offer = seller.send(nid, data=_counter(offer, price)).data
    approval = seller.store.pending_approval(nid)
    assert approval is not None
    approved = seller.decide(approval.id, "approve", by="alice", note="key account").data
    deal = seller.send(nid, data={"type": "accept", "proposal_id": approved["proposal_id"],
                                  "version": approved["version"]}).data
    assert deal["type"] == "deal"
    AutonomyStore(seller.store.engine).set("global", "shadow", by="qa")
    shadow = seller.start(Buyer(org="audit-shadow", region="EU"))
    seller.send(shadow, data={"type": "rfq", "items": [{"sku": "BRG-6205", "quantity": "100"}]})
    seller.close()
    return url, nid, approval.id, deal, shadow


def _verify(url: str) -> audit.Report:
    from agent.store import Store

    store = Store(url)
    try:
        with store.engine.connect() as conn:
            return audit.verify(conn)
    finally:
        store.dispose()


def _tampered(url: str, tmp_path, sql: str) -> audit.Report:
    import shutil

    source = url.removeprefix("sqlite:///")
    copy = tmp_path / "copy.db"
    shutil.copy(source, copy)
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{copy}")
    with engine.begin() as conn:
        assert conn.execute(text(sql)).rowcount == 1
    engine.dispose()
    return _verify(f"sqlite:///{copy}")


def test_untouched_tables_verify_shadow_proposals_included(dealt) -> None:
    url, _, _, _, shadow = dealt
    report = _verify(url)
    assert report.ok, [str(p) for p in report.problems]
    from agent.store import Store

    store = Store(url)
    try:
        assert any(p.negotiation_id == shadow for p in store.list_proposals(negotiation_id=shadow))
    finally:
        store.dispose()


@pytest.mark.parametrize(("table", "sql", "says"), [
    ("approvals", "UPDATE dd_approvals SET decided_by = 'mallory', note = 'forged' WHERE id = '{approval}'",
     "the row says approved by 'mallory'"),
    ("approvals", "UPDATE dd_approvals SET status = 'rejected' WHERE id = '{approval}'", "the row says rejected"),
    ("deals", "UPDATE dd_deals SET total = '1.00', body = replace(body, '\"total\":\"{total}\"', '\"total\":\"1.00\"')"
              " WHERE id = '{deal}' AND instr(body, '\"total\":\"{total}\"') > 0", "its body is not the deal"),
    ("deals", "UPDATE dd_deals SET total = '1.00' WHERE id = '{deal}'", "differ from its body"),
    ("proposals", "UPDATE dd_proposals SET body = replace(body, '\"unit_price\":\"{price}\"', '\"unit_price\":\"1.70\"')"
                  " WHERE id = '{pid}' AND version = {version} AND instr(body, '\"unit_price\":\"{price}\"') > 0",
     "its body is not the proposal"),
])
def test_an_edited_row_is_reported(dealt, tmp_path, table, sql, says) -> None:
    url, nid, approval, deal, _ = dealt
    report = _tampered(url, tmp_path, sql.format(approval=approval, deal=deal["deal_id"], total=deal["total"],
                                                  pid=deal["proposal_id"], version=deal["version"],
                                                  price=deal["items"][0]["unit_price"]))
    assert not report.ok
    (problem,) = report.problems
    assert problem.kind == "table" and problem.negotiation_id == nid
    assert problem.detail.startswith(f"{table} ") and says in problem.detail, problem.detail


# --- QA (operators): a proposal's status and an approval's decided_at were not checked -----------------------------


def _versions(url: str, negotiation_id: str) -> list:
    from agent.store import Store

    store = Store(url)
    try:
        return store.proposals(negotiation_id)
    finally:
        store.dispose()


@pytest.mark.parametrize(("which", "status", "says"), [
    ("first", "offered", "but version {latest} superseded it"),  # an older, cheaper version the buyer could accept
    ("dealt", "offered", "but a deal was made on it"),
    ("first", "accepted", "but no deal was made on it"),
    ("shadow", "offered", "but it was made 'pending_approval'"),  # held for review, never shown: now acceptable
    ("shadow", "superseded", "no later version was made"),
    ("first", "won", "none a proposal version takes"),
])
def test_an_edited_proposal_status_is_reported(dealt, tmp_path, which, status, says) -> None:
    """QA (operators): `UPDATE dd_proposals SET status = 'offered'` on a superseded version, or on one held for an
    approval, let the buyer accept it, and `audit verify` said OK: the status column is held against the history
    the chain proves (the later versions' and the deals' bodies, and what each version was made as)."""
    url, nid, _, deal, shadow = dealt
    negotiation = shadow if which == "shadow" else nid
    versions = _versions(url, negotiation)
    target = {"first": versions[0], "shadow": versions[-1]}.get(which) or next(
        p for p in versions if (p.id, p.version) == (deal["proposal_id"], deal["version"]))
    assert target.status != status
    report = _tampered(url, tmp_path, f"UPDATE dd_proposals SET status = '{status}' WHERE id = '{target.id}' "
                                      f"AND version = {target.version}")
    assert not report.ok
    (problem,) = report.problems
    assert problem.kind == "table" and problem.negotiation_id == negotiation
    assert problem.detail.startswith(f"proposals {target.id} v{target.version}: "), problem.detail
    assert says.format(latest=versions[-1].version) in problem.detail, problem.detail


@pytest.mark.parametrize("shift", ["-1 day", "+10 minutes", "-2 hours"])
def test_an_edited_decided_at_is_reported(dealt, tmp_path, shift) -> None:
    """QA (operators): an approval's decided_at moved (to make a late approval look timely, or the reverse) left
    `audit verify` saying OK: it must be when the chain entry of its decision record was written."""
    url, nid, approval, _, _ = dealt
    report = _tampered(url, tmp_path, f"UPDATE dd_approvals SET decided_at = strftime('%Y-%m-%d %H:%M:%f', "
                                      f"decided_at, '{shift}') WHERE id = '{approval}'")
    assert not report.ok
    (problem,) = report.problems
    assert problem.kind == "table" and problem.negotiation_id == nid
    assert problem.detail.startswith(f"approvals {approval}: the row says decided at "), problem.detail
    # against the time the decision record says (records written before it said one: the time it was written)
    assert "the decision record says" in problem.detail or "its decision record was written" in problem.detail


def test_a_decided_at_moved_with_its_records_time_is_reported_by_the_chains_day(dealt, tmp_path) -> None:
    """The record's write time is not hashed; the day of the chain entry holding it is (the daily roots)."""
    import shutil

    from sqlalchemy import create_engine

    url, nid, approval, _, _ = dealt
    copy = tmp_path / "copy.db"
    shutil.copy(url.removeprefix("sqlite:///"), copy)
    engine = create_engine(f"sqlite:///{copy}")
    with engine.begin() as conn:
        shift = "strftime('%Y-%m-%d %H:%M:%f', {}, '-1 day')"
        assert conn.execute(text(f"UPDATE dd_approvals SET decided_at = {shift.format('decided_at')} "
                                 f"WHERE id = '{approval}'")).rowcount == 1
        assert conn.execute(text(f"UPDATE dd_decision_records SET ts = {shift.format('ts')} WHERE record LIKE "
                                 f"'%\"decide_approval\"%' AND record LIKE '%{approval}%'")).rowcount == 1
    engine.dispose()
    report = _verify(f"sqlite:///{copy}")
    (problem,) = report.problems
    assert problem.negotiation_id == nid and problem.detail.startswith(f"approvals {approval}: the row says "
                                                                       "decided at "), problem.detail


def test_a_decided_at_moved_by_seconds_is_reported_against_the_records_own_time(dealt, tmp_path) -> None:
    """The decision record says when it was decided, to the microsecond of the row: a shift within the minute the
    write time alone allows is reported too."""
    url, nid, approval, _, _ = dealt
    report = _tampered(url, tmp_path, f"UPDATE dd_approvals SET decided_at = strftime('%Y-%m-%d %H:%M:%f', "
                                      f"decided_at, '-5 seconds') WHERE id = '{approval}'")
    (problem,) = report.problems
    assert problem.negotiation_id == nid and problem.detail.startswith(f"approvals {approval}: the row says "
                                                                       "decided at "), problem.detail
    assert "the decision record says 20" in problem.detail, problem.detail
