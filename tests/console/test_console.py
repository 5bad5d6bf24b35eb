"""The console over plain HTTP (no browser): sessions, CSRF, escaping, filters, errors, the chart."""

from __future__ import annotations

import fnmatch
import time
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from agent.server import console
from agent.service import Buyer
from agent.server.console import SESSION_COOKIE, Signer, charts_for, concession_chart

from .conftest import csrf_of, login, new_operator, seed_block

PAGES = ("/console/deals", "/console/approvals", "/console/blocks", "/console/autonomy", "/console/deals/neg-x",
         "/console/approvals/A-X")


def anon(server: Any) -> httpx.Client:
    return httpx.Client(base_url=server.url, follow_redirects=False, timeout=30)


def post_login(c: httpx.Client, key: str, next_url: str = "/console/approvals", csrf: str | None = None
               ) -> httpx.Response:
    page = c.get("/console/login")
    return c.post("/console/login", data={"csrf": csrf if csrf is not None else csrf_of(page.text), "api_key": key,
                                          "next": next_url})


# --- sessions -----------------------------------------------------------------------------------


def test_pages_need_a_session(console_server: Any) -> None:
    with anon(console_server) as c:
        for path in PAGES:
            r = c.get(path + "?x=1")
            assert r.status_code == 303, path
            to = urlsplit(r.headers["location"])
            assert to.path == "/console/login" and parse_qs(to.query)["next"] == [path + "?x=1"]
        r = c.post("/console/approvals/A-X/approve", data={"csrf": "x"})
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
        assert c.get("/console").headers["location"] == "/console/approvals"


def test_login_with_operator_admin_buyer_and_bad_keys(console_server: Any) -> None:
    keys = console_server.keys
    with anon(console_server) as c:
        r = post_login(c, keys["buyer_eu"])
        assert r.status_code == 403 and "No access" in r.text and "buyer key" in r.text
        assert SESSION_COOKIE not in c.cookies
        r = post_login(c, "dd_operator_nope_0000000000000000000000")
        assert r.status_code == 401 and "not valid" in r.text and SESSION_COOKIE not in c.cookies
        r = post_login(c, keys["operator"], csrf="forged")
        assert r.status_code == 400 and SESSION_COOKIE not in c.cookies
        c.cookies.clear()  # no pre-session cookie: the form's token is worth nothing
        r = c.post("/console/login", data={"csrf": "x", "api_key": keys["operator"]})
        assert r.status_code == 400 and SESSION_COOKIE not in c.cookies

        r = post_login(c, keys["operator"], next_url="/console/deals?outcome=open")
        assert r.status_code == 303 and r.headers["location"] == "/console/deals?outcome=open"
        cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "="))
        attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
        assert {"httponly", "path", "samesite", "max-age"} <= attrs and "samesite=strict" in cookie.lower()
        assert "path=/console" in cookie.lower()
        assert keys["operator"] not in cookie  # the key is never in the cookie
        assert c.get("/console/deals").status_code == 200
    with anon(console_server) as c:
        assert post_login(c, keys["admin"]).status_code == 303  # admin > operator


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/console", "/v1/approvals",
                                    "/console\\@evil.example", ""])
def test_after_login_only_a_console_path(console_server: Any, target: str) -> None:
    with anon(console_server) as c:
        r = post_login(c, console_server.keys["operator"], next_url=target)
        assert r.status_code == 303 and r.headers["location"] == "/console/approvals"


def test_forged_expired_and_revoked_sessions_are_refused(console_server: Any) -> None:
    key, text = new_operator(console_server, "short-lived operator")
    c = login(console_server, text)
    assert c.get("/console/approvals").status_code == 200
    good = c.cookies[SESSION_COOKIE]
    payload, mac = good.split(".")
    other = Signer(b"another-secret-another-secret!!")
    for forged in (payload + "." + mac[:-2] + "AA", payload[:-4] + "AAAA." + mac, "garbage", other.session(key.id)[0],
                   other.session(key.id, now=time.time() - 10 * 3600)[0]):
        c.cookies.set(SESSION_COOKIE, forged, path="/console")
        assert c.get("/console/approvals").status_code == 303, forged
    c.cookies.set(SESSION_COOKIE, good, path="/console")
    assert c.get("/console/approvals").status_code == 200
    console_server.ctx.keys.revoke(key.id)  # revoking the key ends its sessions
    assert c.get("/console/approvals").status_code == 303
    c.close()


def test_signer() -> None:
    s = Signer(b"0123456789abcdef0123")
    value, nonce = s.session("key_1", now=1000.0)
    assert s.read_session(value, now=1001.0) == ("key_1", nonce)
    assert s.read_session(value, now=1000.0 + console.SESSION_SECONDS) is None  # expired
    assert s.read_session(value.replace(".", ".x"), now=1001.0) is None
    assert not s.verify("csrf", nonce, s.mac("login", nonce))  # one purpose's token is not another's
    with pytest.raises(ValueError):
        Signer(b"short")


def test_logout_needs_the_token(console_server: Any) -> None:
    c = login(console_server)
    r = c.post("/console/logout", data={"csrf": "forged"})
    assert r.status_code == 403 and c.get("/console/deals").status_code == 200
    token = csrf_of(c.get("/console/deals").text)
    r = c.post("/console/logout", data={"csrf": token})
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    assert c.get("/console/deals").status_code == 303
    c.close()


# --- decisions --------------------------------------------------------------------------------------


def test_decisions_need_the_token_and_the_origin_then_reject_once(console_server: Any, flow: Any) -> None:
    store = console_server.ctx.seller.store
    _, proposal, approval = flow.pending_approval()
    c = login(console_server)
    page = c.get(f"/console/approvals/{approval.id}")
    assert page.status_code == 200 and 'id="approve-form"' in page.text
    assert 'class="concession-chart"' in page.text  # the haggle so far, drawn
    token = csrf_of(page.text)
    url = f"/console/approvals/{approval.id}/reject"
    other = login(console_server)
    foreign = csrf_of(other.get("/console/approvals").text)  # another session's token
    other.close()
    for data, headers in (({"note": "x"}, {}), ({"csrf": "forged"}, {}), ({"csrf": foreign}, {}),
                          ({"csrf": token}, {"Origin": "http://evil.example"})):
        r = c.post(url, data=data, headers=headers)
        assert r.status_code == 403 and "CSRF" in r.text, (data, headers)
    r = c.post(url, content=f"csrf={token}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 403
    assert store.get_approval(approval.id).status == "pending"  # nothing was decided

    r = c.post(url, data={"csrf": token, "note": "too <cheap>"})
    assert r.status_code == 303 and r.headers["location"] == f"/console/approvals/{approval.id}?done=reject"
    decided = store.get_approval(approval.id)
    assert decided.status == "rejected" and decided.note == "too <cheap>" and "demo operator" in decided.decided_by
    page = c.get(r.headers["location"])
    assert "Rejected." in page.text and "too &lt;cheap&gt;" in page.text and "too <cheap>" not in page.text
    assert 'id="approve-form"' not in page.text
    current = store.get_proposal(proposal["proposal_id"])
    assert current.status == "offered"  # the standing offer stays (a new version of it goes to the buyer)

    r = c.post(f"/console/approvals/{approval.id}/approve", data={"csrf": token})
    assert r.status_code == 409 and "already rejected" in r.text
    assert store.get_approval(approval.id).status == "rejected"
    c.close()


def test_unknown_ids_are_404_pages(console_server: Any) -> None:
    c = login(console_server)
    token = csrf_of(c.get("/console/approvals").text)
    for path in ("/console/approvals/A-NOPE", "/console/deals/neg-nope", "/console/deals/<script>"):
        r = c.get(path)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), path
        assert "<script>" not in r.text
    assert c.post("/console/approvals/A-NOPE/approve", data={"csrf": token}).status_code == 404
    c.close()


# --- pages ---------------------------------------------------------------------------------------


def test_security_headers_and_escaping(console_server: Any, flow: Any) -> None:
    nid, _, _ = flow.pending_approval()
    seed_block(console_server, nid, message='<script>alert("v")</script>', draft="<b onmouseover=alert(1)>hi</b>")
    c = login(console_server)
    r = c.get("/console/blocks")
    assert r.status_code == 200
    assert "&lt;script&gt;alert(&#34;v&#34;)&lt;/script&gt;" in r.text and '<script>alert("v")' not in r.text
    assert "&lt;b onmouseover=alert(1)&gt;hi&lt;/b&gt;" in r.text
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp  # no scripts at all
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
    deal = c.get(f"/console/deals/{nid}")
    assert deal.status_code == 200 and "<script>" not in deal.text and 'class="concession-chart"' in deal.text
    css = c.get("/console/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    c.close()


def test_deal_filters(console_server: Any, flow: Any) -> None:
    nid, _, _ = flow.pending_approval()
    org = console_server.ctx.seller.store.get_negotiation(nid).buyer_org
    c = login(console_server)
    r = c.get("/console/deals", params={"buyer": org})
    assert r.status_code == 200 and f'data-negotiation="{nid}"' in r.text and r.text.count("data-negotiation=") == 1
    assert f'data-negotiation="{nid}"' in c.get("/console/deals", params={"outcome": "open", "since": "1h"}).text
    assert f'data-negotiation="{nid}"' not in c.get("/console/deals", params={"outcome": "deal"}).text
    assert f'data-negotiation="{nid}"' in c.get("/console/deals", params={"buyer": org, "blocked": "no"}).text
    assert "No negotiations match" in c.get("/console/deals", params={"buyer": org, "blocked": "yes"}).text
    seed_block(console_server, nid, message="leak", draft="floor 2.65")
    assert f'data-negotiation="{nid}"' in c.get("/console/deals", params={"buyer": org, "blocked": "yes"}).text
    r = c.get("/console/deals", params={"outcome": "<won>", "since": "last tuesday"})
    assert r.status_code == 200 and "unknown outcome" in r.text and "&#39;since&#39;" in r.text
    assert "<won>" not in r.text
    r = c.get("/console/blocks", params={"since": "nope"})
    assert r.status_code == 200 and "not a time" in r.text
    assert "2.70" in c.get("/console/approvals", params={"status": "all"}).text
    c.close()


# --- the chart -----------------------------------------------------------------------------------


def test_concession_chart_geometry() -> None:
    assert concession_chart([]) is None
    pts = [{"round": r, "offer": o, "list_price": "3.25", "target": "3.09", "floor": "2.65", "buyer_bid": b}
           for r, o, b in ((1, "3.25", None), (2, "3.09", "2.40"), (3, "2.95", "2.60"))]
    c = concession_chart(pts, title="BRG-6204")
    assert c is not None and c["rounds"] == 3
    by = {s["name"]: s for s in c["series"]}
    assert set(by) == {"list_price", "target", "floor", "offer", "buyer_bid"}
    assert len(by["buyer_bid"]["dots"]) == 2 and by["offer"]["last"]["value"] == "2.95"
    xs = [d["x"] for d in by["offer"]["dots"]]
    assert xs == sorted(xs) and xs[0] == c["left"] and xs[-1] == c["right"]
    ys = {d["value"]: d["y"] for d in by["offer"]["dots"]}
    assert ys["3.25"] < ys["3.09"] < ys["2.95"]  # higher prices are drawn higher up
    for s in c["series"]:
        for d in s["dots"]:
            assert c["top"] <= d["y"] <= c["bottom"]
    one = concession_chart([{"round": 1, "offer": "5", "list_price": "5"}])
    assert one is not None and one["series"][0]["dots"][0]["x"] == (c["left"] + c["right"]) / 2
    two = charts_for([{"sku": "A", "round": 1, "offer": Decimal(1)}, {"sku": "B", "round": 1, "offer": "2"}])
    assert [x["title"] for x in two] == ["A", "B"]
    assert charts_for([]) == []


def test_templates_are_package_data() -> None:
    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["agent"]
    files = [p for d in ("templates/console", "static") for p in (root / "agent/server" / d).iterdir() if p.is_file()]
    assert files
    for f in files:
        rel = f.relative_to(root / "agent").as_posix()
        assert any(fnmatch.fnmatch(rel, pat) for pat in patterns), rel


def test_a_deal_page_shows_how_the_buyers_text_was_read(console_server: Any) -> None:
    """A text turn's understanding notes (here a percentage taken off the offer) are on the deal page, escaped."""
    seller = console_server.ctx.seller
    nid = seller.start(Buyer(org="console-notes-org", region="EU"))
    offer = seller.send(nid, data={"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "500"}]}).data
    reply = seller.send(nid, text="can you give us 10% off? <b>now</b>")
    assert reply.type == "proposal" and reply.data["version"] == 2
    (item,) = offer["items"]
    c = login(console_server)
    page = c.get(f"/console/deals/{nid}")
    assert page.status_code == 200 and "how the text was read" in page.text
    assert f"10% off the offered {item['unit_price']} EUR read as" in page.text
    assert "&lt;b&gt;now&lt;/b&gt;" in page.text and "<b>now</b>" not in page.text
    c.close()


def test_a_deal_page_shows_a_question_answered_with_no_model(console_server: Any) -> None:
    """A volume-breaks answer's turn names its playbook rule and shows the figures it said."""
    seller = console_server.ctx.seller
    nid = seller.start(Buyer(org="console-breaks-org", region="EU"))
    reply = seller.send(nid, text="what are your price breaks for BRG-6204?")
    assert reply.text.startswith("Volume prices for BRG-6204")
    c = login(console_server)
    page = c.get(f"/console/deals/{nid}")
    assert page.status_code == 200 and "Answered with no model" in page.text
    assert "playbook.price_breaks" in page.text and ("&#34;breaks&#34;" in page.text or '"breaks"' in page.text)
    c.close()


def test_a_key_below_the_request_level_decides_nothing(console_server: Any, flow: Any) -> None:
    """QA (operators): approval levels were not tied to who decides; in the console as over REST, a key created with
    a level decides requests up to it."""
    nid, _, approval = flow.pending_approval()
    _, junior = console_server.ctx.keys.create("operator", label="junior", approval_level="auto")
    c = login(console_server, junior)
    try:
        token = csrf_of(c.get(f"/console/approvals/{approval.id}").text)
        r = c.post(f"/console/approvals/{approval.id}/approve", data={"csrf": token})
        assert r.status_code == 403 and "decides up to level auto" in r.text and "nothing was decided" in r.text
        assert console_server.ctx.seller.store.get_approval(approval.id).status == "pending"
    finally:
        c.close()
        console_server.ctx.seller.store.cancel_negotiation(nid)  # its stock back for the package's later tests
