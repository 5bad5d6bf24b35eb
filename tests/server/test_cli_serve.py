"""The server's CLI: `dealdesk keys create|list|revoke`, `dealdesk db upgrade`, `dealdesk serve` (in a
subprocess: banner, demo keys, a real request; --workers 2 on PostgreSQL; --workers 2 refused on SQLite)."""

from __future__ import annotations

import json
import shlex

import httpx
import pytest
from typer.testing import CliRunner

import dbutil
from agent.cli import app
from agent.store import Store
from agent.store.keys import KeyStore
from agent.store.schema import SCHEMA_VERSION

from .conftest import spawn_server

runner = CliRunner()


@pytest.fixture()
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'cli.db'}"


def _run(*args):
    return runner.invoke(app, list(args))


def test_db_upgrade(db):
    r = _run("db", "upgrade", "--db", db)
    assert r.exit_code == 0, r.output
    assert f"version {SCHEMA_VERSION}" in r.output
    assert _run("db", "upgrade", "--db", db).exit_code == 0  # idempotent


def test_keys_create_list_revoke(db):
    r = _run("keys", "create", "--scope", "buyer", "--org", "initech", "--region", "EU", "--segment", "distributor",
             "--currency", "EUR", "--label", "Initech EU", "--json", "--db", db)
    assert r.exit_code == 0, r.output
    made = json.loads(r.output)
    assert made["key"].startswith("dd_buyer_") and made["org"] == "initech" and made["segment"] == "distributor"
    store = Store(db)
    try:
        keys = KeyStore(store.engine)
        found = keys.authenticate(made["key"])
        assert found is not None and found.id == made["id"]
        op = _run("keys", "create", "--scope", "operator", "--db", db)
        assert op.exit_code == 0 and "shown once" in op.output
        op_text = op.output.strip().splitlines()[-1]
        assert keys.authenticate(op_text).scope == "operator"
        listed = _run("keys", "list", "--json", "--db", db)
        rows = json.loads(listed.output)
        assert {k["id"] for k in rows} >= {made["id"]} and all("key" not in k for k in rows)
        assert made["key"] not in listed.output
        table = _run("keys", "list", "--db", db)
        assert made["id"] in table.output and made["key"] not in table.output
        rv = _run("keys", "revoke", made["id"], "--db", db)
        assert rv.exit_code == 0 and "revoked" in rv.output
        assert keys.authenticate(made["key"]) is None
        assert made["id"] not in _run("keys", "list", "--db", db).output
        assert made["id"] in _run("keys", "list", "--all", "--db", db).output
        nope = _run("keys", "revoke", "key_nope", "--db", db)
        assert nope.exit_code == 2 and nope.output.strip() == "error not_found (field key_id): no key key_nope"
    finally:
        store.dispose()


@pytest.mark.parametrize("args,needle", [
    (["--scope", "buyer", "--region", "EU"], "organisation"),
    (["--scope", "buyer", "--org", "x", "--region", "MARS"], "error not_authorized_for_region (field region): "),
    (["--scope", "buyer", "--org", "x", "--region", "EU", "--segment", "vip"],
     "error unknown_segment (field segment): unknown segment"),
    (["--scope", "buyer", "--org", "x", "--region", "EU", "--currency", "USD"],
     "error unsupported_currency (field currency): USD is not sold"),
    (["--scope", "root"], "scope"),
    (["--scope", "operator", "--org", "x"], "organisation"),
    (["--scope", "operator", "--level", "ceo"], "error malformed_message (field level): unknown approval level 'ceo'"),
    (["--scope", "buyer", "--org", "x", "--region", "EU", "--level", "manager"],
     "error malformed_message (field level): only operator keys"),
])
def test_keys_create_refuses_bad_input(db, args, needle):
    r = _run("keys", "create", *args, "--db", db)
    assert r.exit_code == 2, r.output
    assert needle in r.output
    assert r.output.startswith("error ") and len(r.output.strip().splitlines()) == 1, r.output  # one line


def test_an_operator_key_with_an_approval_level(db):
    r = _run("keys", "create", "--scope", "operator", "--level", "manager", "--label", "mgr", "--json", "--db", db)
    assert r.exit_code == 0, r.output
    made = json.loads(r.output)
    assert made["approval_level"] == "manager"
    store = Store(db)
    try:
        assert KeyStore(store.engine).authenticate(made["key"]).approval_level == "manager"
    finally:
        store.dispose()
    listed = json.loads(_run("keys", "list", "--json", "--db", db).output)
    assert [k["approval_level"] for k in listed] == ["manager"]


def test_serve_refuses_workers_on_sqlite(db):
    r = _run("serve", "--workers", "2", "--db", db)
    assert r.exit_code == 2
    assert "PostgreSQL" in r.output


def test_serve_refuses_more_workers_than_postgresql_has_connections_for():
    dbutil.require_postgres()
    r = _run("serve", "--workers", "64", "--db", dbutil.pg_url())  # default max_connections: 100
    assert r.exit_code == 2, r.output
    assert "--workers 64" in r.output and "max_connections" in r.output


def test_serve_shares_the_connections_among_instances(monkeypatch):
    """Ops QA: two instances of `serve --workers 2` on one database each sized themselves as if alone and opened
    more connections than the server allows. `--instances N` divides the server's connections among all workers;
    8 workers of 2 x 4 fit in 100 connections alone, not 64 x 2."""
    import agent.cli_serve as cli_serve

    dbutil.require_postgres()
    r = _run("serve", "--workers", "32", "--instances", "2", "--db", dbutil.pg_url())
    assert r.exit_code == 2, r.output
    assert "--workers 32 x --instances 2" in r.output and "max_connections" in r.output
    seen = []
    monkeypatch.setattr("agent.store.pools.limit_for", lambda url, workers: seen.append(workers) or 40)
    monkeypatch.setattr(cli_serve, "configured_model", lambda: None, raising=False)
    import uvicorn
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    _run("serve", "--workers", "2", "--instances", "3", "--db", dbutil.pg_url())
    assert seen == [6]


def test_serve_prints_card_example_and_demo_keys(tmp_path):
    server = spawn_server(f"sqlite:///{tmp_path / 'serve.db'}", log=tmp_path / "serve.log")
    try:
        out = server.output()
        assert f"{server.url}/.well-known/agent-card.json" in out
        for name in ("buyer_eu", "buyer_us", "operator", "admin"):
            assert server.keys[name] in out
        assert "region EU, segment standard" in out and "region US, segment strategic" in out
        curl = next(line for line in out.splitlines() if "curl" in line).split("Try:", 1)[-1].strip()
        args = shlex.split(curl)
        h = {a.split(": ", 1)[0]: a.split(": ", 1)[1] for a in args[args.index("-H") + 1::2] if ": " in a}
        body = json.loads(args[args.index("-d") + 1])
        assert body["method"] == "SendMessage"
        with httpx.Client(base_url=server.url, timeout=30) as c:
            headers = {"Authorization": f"Bearer {server.keys['buyer_us']}"}
            assert c.get("/v1/catalog", headers=headers, params={"limit": 1}).status_code == 200
            card = c.get("/.well-known/agent-card.json")
            if card.status_code == 200:  # the A2A part is mounted: the printed example works as printed
                url = next(a for a in args if a.startswith("http"))
                r = c.post(url, headers=h, json=body)
                assert r.status_code == 200, r.text
                assert "result" in r.json(), r.text
    finally:
        assert server.stop() is not None


def test_serve_two_workers_on_postgres(tmp_path):
    with dbutil.pg_schema() as url:
        server = spawn_server(url, workers=2, log=tmp_path / "serve-pg.log")
        try:
            with httpx.Client(base_url=server.url, timeout=30) as c:
                h = {"Authorization": f"Bearer {server.keys['buyer_eu']}"}
                for _ in range(6):
                    r = c.post("/v1/quotes", headers=h, json={"items": [{"sku": "BRG-6204", "quantity": "500"}]})
                    assert r.status_code == 200, r.text
                assert c.get("/readyz").json()["database"] == "ok"
            assert "2 workers" in server.output()
        finally:
            server.stop()


def test_db_upgrade_on_postgresql_sets_up_the_checkpoint_tables_too() -> None:
    """So an operator can prepare a database before starting several processes on it (ops QA: `db upgrade` left
    the checkpoint tables to the first start-ups, which raced for them)."""
    import dbutil

    dbutil.require_postgres()
    with dbutil.pg_schema() as url:
        first = _run("db", "upgrade", "--db", url)
        assert first.exit_code == 0 and "checkpoint tables set up" in first.output, first.output
        again = _run("db", "upgrade", "--db", url)
        assert again.exit_code == 0 and "checkpoint tables current" in again.output, again.output
