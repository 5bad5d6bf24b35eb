"""Authentication and tenant isolation over real HTTP: 401 (missing, invalid, malformed, revoked) with
WWW-Authenticate, 403 for the wrong scope, 404 (never 403) for another organisation's things."""

from __future__ import annotations

import uuid

import pytest

from agent.server.auth import AuthError, principal_from_header

from .conftest import US_BUYER


def _err(r, status, code):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert set(body["error"]) == {"type", "code", "message", "field"}
    return body["error"]


@pytest.mark.parametrize("path", ["/v1/catalog", "/v1/proposals", "/v1/deals", "/v1/approvals",
                                  "/v1/pricing/explain?sku=BRG-6204&qty=1"])
def test_missing_key_is_401_with_challenge(live_server, path):
    with live_server.client() as c:
        r = c.get(path)
    err = _err(r, 401, "missing_api_key")
    assert err["type"] == "authentication_error"
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="dealdesk"'


@pytest.mark.parametrize("header", ["Bearer dd_buyer_not_a_real_key_0000000000", "Bearer x",
                                    "Basic dXNlcjpwYXNz", "Bearer", "dd_buyer_demo_eu_acme_0000000000000000",
                                    "Bearer " + "a" * 5000, "Bearer two tokens"])
def test_invalid_key_is_401_invalid_token(live_server, header):
    with live_server.client() as c:
        r = c.get("/v1/catalog", headers={"Authorization": header})
    _err(r, 401, "invalid_api_key")
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="dealdesk", error="invalid_token"'


def test_revoked_key_is_401(live_server):
    keys = live_server.ctx.keys
    key, text = keys.create("buyer", org=f"org-{uuid.uuid4().hex[:6]}", region="EU", segment="standard")
    with live_server.client(text) as c:
        assert c.get("/v1/catalog").status_code == 200
        keys.revoke(key.id)
        r = c.get("/v1/catalog")
    _err(r, 401, "invalid_api_key")
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


@pytest.mark.parametrize("name,method,path,body", [
    ("buyer_eu", "GET", "/v1/approvals", None),
    ("buyer_eu", "GET", "/v1/approvals/A-ANY", None),
    ("buyer_us", "POST", "/v1/approvals/A-ANY/approve", {}),
    ("buyer_us", "POST", "/v1/approvals/A-ANY/reject", {}),
    ("buyer_eu", "GET", "/v1/pricing/explain?sku=BRG-6204&qty=5", None),
    ("buyer_eu", "GET", "/v1/negotiations/neg-any/records", None),
    ("operator", "POST", "/v1/proposals/P-ANY/accept", {"version": 1}),
    ("admin", "POST", "/v1/proposals/P-ANY/accept", {"version": 1}),
])
def test_wrong_scope_is_403(live_server, name, method, path, body):
    with live_server.client(name) as c:
        r = c.request(method, path, json=body)
    err = _err(r, 403, "insufficient_scope")
    assert err["type"] == "permission_error"


def test_admin_and_operator_pass_operator_endpoints(live_server):
    for name in ("operator", "admin"):
        with live_server.client(name) as c:
            assert c.get("/v1/approvals").status_code == 200


def test_buyer_never_sees_another_organisations_things(live_server, flow):
    """acme-eu's proposal, deal and negotiation do not exist for globex-us: 404, not 403."""
    nid, proposal = flow.rfq(quantity=12)  # acme-eu (buyer_eu)
    pid, version = proposal["proposal_id"], proposal["version"]
    nid2, open_proposal = flow.rfq(quantity=11)
    with live_server.client("buyer_eu") as eu:
        r = eu.post(f"/v1/proposals/{pid}/accept", json={"version": version},
                    headers={"Idempotency-Key": f"k-{uuid.uuid4()}"})
        assert r.status_code == 200, r.text
        deal_id = r.json()["deal"]["deal_id"]
    with live_server.client("buyer_us") as us:
        for path in (f"/v1/proposals/{pid}", f"/v1/proposals/{pid}?version=1", f"/v1/deals/{deal_id}",
                     f"/v1/negotiations/{nid}"):
            got = us.get(path)
            assert got.status_code == 404, (path, got.text)
            assert got.json()["error"]["type"] == "not_found_error"
        stolen = us.post(f"/v1/proposals/{open_proposal['proposal_id']}/accept",
                         json={"version": open_proposal["version"]})
        _err(stolen, 404, "unknown_proposal")
        assert pid not in {p["proposal_id"] for p in us.get("/v1/proposals").json()["data"]}
        assert deal_id not in {d["deal_id"] for d in us.get("/v1/deals").json()["data"]}
        # A proposal that does not exist at all answers the same way.
        assert us.get("/v1/proposals/P-DOESNOTEXIST").json()["error"]["code"] == \
            us.get(f"/v1/proposals/{pid}").json()["error"]["code"]
    # ...and the proposal is still open for its owner (the stolen accept changed nothing).
    assert live_server.ctx.seller.store.get_proposal(open_proposal["proposal_id"]).status == "offered"
    with live_server.client("buyer_eu") as eu:
        assert eu.get(f"/v1/proposals/{pid}").status_code == 200
        assert eu.get(f"/v1/deals/{deal_id}").status_code == 200


def test_same_idempotency_key_across_orgs_never_leaks(live_server, flow):
    key = f"shared-{uuid.uuid4()}"
    _, eu_prop = flow.rfq(quantity=9)
    _, us_prop = flow.rfq(US_BUYER, quantity=9)
    with live_server.client("buyer_eu") as eu, live_server.client("buyer_us") as us:
        a = eu.post(f"/v1/proposals/{eu_prop['proposal_id']}/accept", json={"version": eu_prop["version"]},
                    headers={"Idempotency-Key": key})
        # Same key and same body shape from another org, on the EU proposal: not found, not EU's answer.
        b = us.post(f"/v1/proposals/{eu_prop['proposal_id']}/accept", json={"version": eu_prop["version"]},
                    headers={"Idempotency-Key": key})
    assert a.status_code == 200
    _err(b, 404, "unknown_proposal")
    assert "Idempotent-Replayed" not in b.headers


def test_principal_from_header_contract(live_server):
    """The function the A2A layer calls."""
    ctx = live_server.ctx
    key = principal_from_header(ctx, f"Bearer {live_server.keys['buyer_eu']}")
    assert (key.scope, key.org, key.region, key.segment) == ("buyer", "acme-eu", "EU", "standard")
    assert principal_from_header(ctx, f"bearer {live_server.keys['operator']}", "operator").scope == "operator"
    with pytest.raises(AuthError) as missing:
        principal_from_header(ctx, None)
    assert missing.value.status == 401 and "error=" not in missing.value.headers["WWW-Authenticate"]
    with pytest.raises(AuthError) as bad:
        principal_from_header(ctx, "Bearer nope-nope-nope-nope")
    assert bad.value.status == 401 and 'error="invalid_token"' in bad.value.headers["WWW-Authenticate"]
    with pytest.raises(AuthError) as scope:
        principal_from_header(ctx, f"Bearer {live_server.keys['buyer_eu']}", "operator")
    assert scope.value.status == 403
    with pytest.raises(AuthError) as not_buyer:
        principal_from_header(ctx, f"Bearer {live_server.keys['admin']}", "buyer")
    assert not_buyer.value.status == 403
