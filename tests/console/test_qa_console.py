"""QA (operators): the console said percentages to one decimal, rounded half-even, where the CLI and the request
say two, half-up: a request 15.04% off (above the bot's own 15%, so it needs a manager) showed as "15.0%", and
17.48% as "17.5%" beside `approvals show`'s "17.48%"."""

from __future__ import annotations

from agent.server.console import make_env


def test_console_percentages_have_two_decimals_half_up() -> None:
    pct = make_env().filters["pct"]
    assert pct("15.04") == "15.04"
    assert pct("17.48350515463917525773195876") == "17.48"
    assert pct("0.125") == "0.13"  # half up, as `approvals show` (half-even said 0.12)
    assert pct("0") == "0.00"
    assert pct(None) == ""


def test_a_move_summary_says_the_discount_as_approvals_show_does() -> None:
    env = make_env()
    macro = env.from_string('{% from "_macros.html" import move_summary %}{{ move_summary(m) }}')
    html = macro.render(m={"quantity": "500", "sku": "BRG-6204", "unit_price": "2.76", "currency": "EUR",
                           "list_price": "3.25", "discount_percent": "15.0769230769"})
    assert "−15.08%" in html


def test_an_approval_page_names_the_policy_and_catalog_versions(console_server, flow) -> None:
    """QA (operators): "why this price?" needs the rules as they were when the request was filed; the page did not
    say which policy and catalog versions those were (`approvals show` now does)."""
    from console.conftest import login

    nid, _, approval = flow.pending_approval()
    c = login(console_server)
    try:
        page = c.get(f"/console/approvals/{approval.id}")
        assert page.status_code == 200
        seller = console_server.ctx.seller
        assert seller.policy.version in page.text and seller.catalog.version in page.text
    finally:
        c.close()
        console_server.ctx.seller.store.cancel_negotiation(nid)


def test_console_times_are_utc_with_z_as_the_cli_says_them() -> None:
    """QA (operators): the console said "2026-11-28 03:00:00Z" (a space before the time) where the CLI and REST
    say "2026-11-28T03:00:00Z" (`review.utc_text`): a time copied from one did not match the other."""
    import datetime as dt

    t = make_env().filters["t"]
    assert t(dt.datetime(2026, 11, 28, 3, 0, 0, 123456)) == "2026-11-28T03:00:00Z"
    assert t(dt.datetime(2026, 11, 28, 4, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))) == "2026-11-28T03:00:00Z"
    assert t("2026-11-28T03:00:00Z") == "2026-11-28T03:00:00Z"
    assert t(dt.date(2026, 11, 28)) == "2026-11-28"
    assert t(None) == "" and t("soon") == "soon"


def test_console_pages_say_instants_as_the_cli(console_server, flow) -> None:
    import re

    from agent.review import utc_text
    from console.conftest import login

    nid, _, approval = flow.pending_approval()
    c = login(console_server)
    try:
        for path in ("/console/approvals", f"/console/approvals/{approval.id}", f"/console/deals/{nid}"):
            page = c.get(path)
            assert page.status_code == 200
            assert utc_text(approval.requested_at) in page.text, path
            assert not re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", page.text), path
    finally:
        c.close()


def test_an_expired_request_shows_as_expired_and_is_canceled_not_decided(console_server, flow) -> None:
    """QA (operators): a request past the validity of its offers still showed `pending` with approve and reject
    until someone tried. The inbox and its page say `expired` (and when), the page offers no approval, and its one
    form cancels it (`approval_expired`): nothing is sent to the buyer."""
    import datetime as dt

    from sqlalchemy import update

    from agent.store import schema as t
    from console.conftest import csrf_of, login

    import re

    def badge(html: str) -> int:  # the nav's count of requests to decide
        found = re.search(r'class="badge" title="pending">(\d+)<', html)
        return int(found.group(1)) if found else 0

    nid, _, approval = flow.pending_approval()
    store = console_server.ctx.seller.store
    c = login(console_server)
    to_decide = badge(c.get("/console/approvals").text)
    c.close()
    with store.engine.begin() as conn:
        conn.execute(update(t.approvals).where(t.approvals.c.id == approval.id)
                     .values(requested_at=approval.requested_at - dt.timedelta(days=30)))
    turns = store.get_negotiation(nid).turn
    c = login(console_server)
    try:
        inbox = c.get("/console/approvals")
        assert badge(inbox.text) == to_decide - 1  # an expired request is no longer one to decide
        row = inbox.text.split(f'data-approval="{approval.id}"', 1)[1].split("</tr>", 1)[0]
        assert 'class="status s-expired">expired<' in row and "expired 20" in row, row
        page = c.get(f"/console/approvals/{approval.id}")
        assert page.status_code == 200 and 'id="expired"' in page.text and 'id="expires"' in page.text
        assert 'id="approve-form"' not in page.text and 'id="cancel-form"' in page.text
        deals = c.get("/console/deals").text
        row = deals.split(f'data-negotiation="{nid}"', 1)[1].split("</tr>", 1)[0]
        assert 's-expired">1 expired<' in row and "pending<" not in row, row
        done = c.post(f"/console/approvals/{approval.id}/reject", data={"csrf": csrf_of(page.text)})
        assert done.status_code == 409 and "approval_expired" in done.text and "canceled" in done.text
        assert store.get_approval(approval.id).status == "canceled"
        assert store.get_negotiation(nid).turn == turns  # no turn ran: nothing was sent
        fresh = c.get(f"/console/approvals/{approval.id}")
        assert 'class="status s-canceled">canceled<' in fresh.text and 'id="cancel-form"' not in fresh.text
    finally:
        c.close()


def test_the_deals_page_says_no_first_offer_as_a_dash() -> None:
    """A negotiation whose only version awaits an operator (held, in shadow mode never shown) has no first offer
    (`review.DealSummary.first_total` None): the column said a bare currency, " EUR"."""
    import datetime as dt

    from agent.review import DealSummary

    at = dt.datetime(2026, 11, 28, 3, 0)
    held = DealSummary(negotiation_id="neg-held", buyer_org="org", region="EU", segment="standard", status="open",
                       outcome="open", turns=1, created_at=at, updated_at=at, currency="EUR", skus=["BRG-6205"],
                       proposal_id="P-1", proposal_version=1, proposal_status="pending_approval",
                       last_total="325.00")
    html = make_env().get_template("deals.html").render(
        op=None, pending_count=None, prefix="/console", path="/console/deals", rows=[held], errors=[],
        outcomes=("deal", "no_deal", "open"), buyers=["org"],
        f={"buyer": "", "outcome": "", "since": "", "blocked": ""})
    row = html.split('neg-held', 1)[1].split("</tr>", 1)[0]
    turns, first, now = [c.split("</td>", 1)[0].strip() for c in row.split('<td class="num">')[1:]]
    assert turns == "1" and first.startswith('<span class="muted"') and first.endswith(">-</span>"), row
    assert "325.00 EUR" in now, row


def test_rejecting_a_held_offer_does_not_promise_a_standing_offer(console_server, flow) -> None:
    """QA (operators): with autonomy paused the first offer is held for approval and nothing stands; the reject
    button still said "the standing offer stays", while rejecting withdraws the held version and tells the buyer
    it was not approved."""
    from agent.store.autonomy import AutonomyStore
    from console.conftest import login

    store = console_server.ctx.seller.store
    switches = AutonomyStore(store.engine)
    switches.set("product:BRG-6205", "approval_only", by="qa")
    try:
        buyer, _ = flow.new_buyer()
        nid, held = flow.rfq(buyer, sku="BRG-6205", quantity=100)
    finally:
        switches.set("product:BRG-6205", "auto", by="qa")
    assert held["status"] == "pending_approval"
    approval = store.pending_approval(nid)
    c = login(console_server)
    try:
        page = c.get(f"/console/approvals/{approval.id}").text
        button = page.split('id="reject"', 1)[1].split("</button>", 1)[0]
        assert "standing offer stays" not in button and "nothing is offered" in button, button
    finally:
        c.close()
    _, _, standing = flow.pending_approval()  # a request beside an offer the buyer may accept
    c = login(console_server)
    try:
        page = c.get(f"/console/approvals/{standing.id}").text
        assert "Reject: the standing offer stays" in page
    finally:
        c.close()


def test_the_inbox_has_an_expired_tab_listing_only_expired_requests(console_server, flow) -> None:
    """QA (session 21): `approvals list --status expired` and REST's `?status=expired` list only the requests past
    their offers' validity; the console had no such tab, and `?status=expired` silently showed every pending one
    (those still to decide among them) under the pending tab."""
    import datetime as dt

    from sqlalchemy import update

    from agent.store import schema as t
    from console.conftest import login

    _, _, fresh = flow.pending_approval()
    _, _, old = flow.pending_approval()
    store = console_server.ctx.seller.store
    with store.engine.begin() as conn:
        conn.execute(update(t.approvals).where(t.approvals.c.id == old.id)
                     .values(requested_at=old.requested_at - dt.timedelta(days=30)))
    c = login(console_server)
    try:
        page = c.get("/console/approvals", params={"status": "expired"})
        assert page.status_code == 200
        assert 'class="here">expired<' in page.text  # the tab chosen is the one asked for
        assert f'data-approval="{old.id}"' in page.text and f'data-approval="{fresh.id}"' not in page.text
        assert 'class="status s-pending">' not in page.text
        pending = c.get("/console/approvals").text  # pending: every request not decided, each saying which
        assert f'data-approval="{old.id}"' in pending and f'data-approval="{fresh.id}"' in pending
        assert 'class="here">pending<' in pending
    finally:
        c.close()
