"""Signing out ends the session server-side: a saved copy of the cookie is refused afterwards, by every worker."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx
from server.conftest import spawn_server, start_in_process  # tests/server/conftest.py

from agent.server.console import SECRET_ENV, SESSION_COOKIE

from .conftest import csrf_of, login


def with_cookie(url: str, cookie: str) -> httpx.Client:
    """A client that presents a saved session cookie (as someone who copied it would)."""
    return httpx.Client(base_url=url, follow_redirects=False, timeout=30,
                        headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})


def sign_out(c: httpx.Client) -> None:
    r = c.post("/console/logout", data={"csrf": csrf_of(c.get("/console/approvals").text)})
    assert r.status_code == 303 and r.headers["location"] == "/console/login"


def test_a_saved_cookie_is_refused_after_sign_out(console_server: Any, flow: Any) -> None:
    _, _, approval = flow.pending_approval()
    c = login(console_server)
    other = login(console_server)  # another session of the same key
    saved = c.cookies[SESSION_COOKIE]
    token = csrf_of(c.get("/console/approvals").text)
    sign_out(c)
    c.close()
    with with_cookie(console_server.url, saved) as stolen:
        for path in ("/console/approvals", "/console/deals", "/console/autonomy", f"/console/approvals/{approval.id}"):
            r = stolen.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/console/login"), path
        r = stolen.post(f"/console/approvals/{approval.id}/approve", data={"csrf": token})
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
        r = stolen.post("/console/autonomy", data={"csrf": token, "level": "global", "mode": "shadow"})
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
        r = stolen.post("/console/logout", data={"csrf": token})  # signing out twice is harmless
        assert r.status_code == 303 and r.headers["location"] == "/console/login"
    assert console_server.ctx.seller.store.get_approval(approval.id).status == "pending"
    assert other.get("/console/approvals").status_code == 200  # only the session signed out ends
    sign_out(other)
    assert other.get("/console/approvals").status_code == 303
    other.close()


def test_sign_out_on_one_server_process_is_seen_by_another(tmp_path: Path, monkeypatch: Any) -> None:
    """Two server processes on one database with one console secret (as `--workers N` on PostgreSQL)."""
    db = f"sqlite:///{tmp_path / 'dealdesk.db'}"
    secret = secrets.token_urlsafe(24)
    spawned = spawn_server(db, env={SECRET_ENV: secret}, log=tmp_path / "serve.log")
    try:
        monkeypatch.setenv(SECRET_ENV, secret)
        here, running = start_in_process(db, rate_per_second=1000.0, rate_burst=2000)
        try:
            for signed_in, signed_out in ((here.url, spawned.url), (spawned.url, here.url)):
                with httpx.Client(base_url=signed_in, follow_redirects=False, timeout=30) as c:
                    page = c.get("/console/login")
                    r = c.post("/console/login", data={"csrf": csrf_of(page.text), "api_key": here.keys["operator"]})
                    assert r.status_code == 303
                    cookie = c.cookies[SESSION_COOKIE]
                with with_cookie(signed_out, cookie) as there, with_cookie(signed_in, cookie) as back:
                    assert there.get("/console/approvals").status_code == 200  # the secret is shared
                    sign_out(there)
                    r = back.get("/console/approvals")
                    assert r.status_code == 303 and r.headers["location"].startswith("/console/login"), \
                        (signed_in, signed_out)
                    assert there.get("/console/approvals").status_code == 303
        finally:
            running.stop()
    finally:
        spawned.stop()
