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
