"""CLI commands of the server: `dealdesk serve`, `dealdesk keys create|list|revoke`, `dealdesk db upgrade`."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from agent.cli_ops import fail
from agent.config import db_url

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

keys_app = typer.Typer(help="Create, list and revoke API keys (stored hashed; a key is shown once).",
                       no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)

DbOpt = Annotated[Optional[str], typer.Option("--db", help="Database URL: sqlite:///path or postgresql://... "
                                                           "(env DEALDESK_DB)")]
CatalogOpt = Annotated[Optional[Path], typer.Option("--catalog", help="Catalog file (env DEALDESK_CATALOG)")]
PolicyOpt = Annotated[Optional[Path], typer.Option("--policy", help="Policy file (env DEALDESK_POLICY)")]


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _key_store(db: str | None):
    from agent.store import Store
    from agent.store.keys import KeyStore

    store = Store(db_url(db))
    return store, KeyStore(store.engine)


def example_request(base: str, key: str) -> str:
    body = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": {
        "messageId": "msg-1", "role": "ROLE_USER",
        "parts": [{"data": {"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "500"}]},
                   "mediaType": "application/json"}]}}}
    return (f"curl -s {base}/ -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' "
            f"-H 'A2A-Version: 1.0' -d '{json.dumps(body, separators=(',', ':'))}'")


def banner(settings, demo_keys: list | None) -> str:
    base = settings.base_url
    lines = [f"dealdesk serving on {base} ({settings.workers} worker{'s' if settings.workers != 1 else ''}, "
             f"database {_shown(settings.db_url)})",
             f"Agent Card:  {base}/.well-known/agent-card.json",
             f"REST API:    {base}/v1  (OpenAPI {base}/openapi.json, docs {base}/docs)"]
    buyer_key = next((d.key for d in demo_keys or [] if d.scope == "buyer"), "<buyer key>")
    lines.append("Try:         " + example_request(base, buyer_key))
    if demo_keys:
        lines.append("Demo API keys (public: for local use only):")
        for d in demo_keys:
            who = f"{d.org}, region {d.region}, segment {d.segment}, {d.currency}" if d.scope == "buyer" else d.scope
            lines.append(f"  {d.name:<9} {d.key}   ({who})")
    return "\n".join(lines)


def _shown(url: str) -> str:
    from sqlalchemy import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return url


def serve(host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port")] = 8080,
          db: DbOpt = None,
          workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes (more than 1 needs "
                                                                    "PostgreSQL)")] = 1,
          instances: Annotated[int, typer.Option(min=1, max=64, help="How many `dealdesk serve` share this "
                                                                      "PostgreSQL database (each gets its share of "
                                                                      "its connections)")] = 1,
          catalog: CatalogOpt = None, policy: PolicyOpt = None,
          demo: Annotated[bool, typer.Option("--demo/--no-demo", help="Create and print the demo API keys")] = False,
          public_url: Annotated[Optional[str], typer.Option(help="Base URL the Agent Card advertises")] = None,
          turn_timeout: Annotated[float, typer.Option(help="Seconds a turn may take")] = 30.0,
          rate: Annotated[float, typer.Option(help="Requests per second per key (token bucket refill)")] = 20.0,
          burst: Annotated[int, typer.Option(help="Token bucket capacity per key")] = 40,
          push_allow_local: Annotated[bool, typer.Option(
              "--push-allow-local", help="Let A2A push notifications go to receivers on this machine (loopback "
                                         "addresses), for local development: never on a server others can reach")
          ] = False,
          log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info") -> None:
    """Serve the seller bot: A2A 1.0 (JSON-RPC) and the REST API, with API keys and limits."""
    import uvicorn

    from agent.cli_agent import configured_model, refuse
    from agent.config import load_data
    from agent.server.app import DEMO_KEYS, SETTINGS_ENV, serving_app
    from agent.server.context import ServerSettings
    from tools.datafile import DataFileError

    url = db_url(db)
    if workers > 1 and _is_sqlite(url):
        err.print(f"--workers {workers} needs PostgreSQL (--db postgresql://...): SQLite serves one process. "
                  "Run with --workers 1, or point --db at PostgreSQL.", highlight=False)
        raise typer.Exit(2)
    pg_connections = None
    if not _is_sqlite(url):  # each worker's share of the server's connections sizes its pools
        from sqlalchemy.exc import OperationalError

        from agent.store.pools import ConnectionBudgetError, limit_for

        try:
            pg_connections = limit_for(url, workers * instances)
        except ConnectionBudgetError as exc:
            shared = f" x --instances {instances}" if instances > 1 else ""
            err.print(f"--workers {workers}{shared}: {exc.message}", highlight=False, markup=False)
            raise typer.Exit(2) from None
        except OperationalError:
            pass  # unreachable: the start-up below reports it
    settings = ServerSettings(host=host, port=port, db_url=url, public_url=public_url, demo=demo, workers=workers,
                              turn_timeout_s=turn_timeout, rate_per_second=rate, rate_burst=burst,
                              pg_connections=pg_connections, push_allow_local=push_allow_local)
    try:
        cat, pol = load_data(catalog, policy)
    except DataFileError as exc:
        refuse(exc)
    configured_model()  # a model configuration that cannot be used is refused here, before any worker starts
    from agent.config import log_path
    from agent.records import configure_logging

    logfile = log_path()
    logfile.parent.mkdir(parents=True, exist_ok=True)
    configure_logging(logfile.open("a", encoding="utf-8"))
    if workers == 1:
        app = serving_app(settings, cat, pol)
        out.print(banner(settings, list(DEMO_KEYS) if demo else None), highlight=False, markup=False)
        sys.stdout.flush()
        try:
            uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)
        except KeyboardInterrupt:  # Ctrl-C after a graceful shutdown
            pass
        return
    # Several workers: set the database up once here (migrations, checkpoint tables, the A2A stores, demo
    # keys), so the workers do not race to create the same tables; then each builds its own context.
    warm_up(settings, cat, pol)
    env = dataclasses.asdict(settings)
    env.update(catalog=str(catalog) if catalog else None, policy=str(policy) if policy else None)
    os.environ[SETTINGS_ENV] = json.dumps(env)
    # One console signing secret for every worker of this run, so a session works on any of them.
    os.environ.setdefault("DEALDESK_CONSOLE_SECRET", secrets.token_urlsafe(32))
    out.print(banner(settings, list(DEMO_KEYS) if demo else None), highlight=False, markup=False)
    sys.stdout.flush()
    try:
        uvicorn.run("agent.server.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, timeout_graceful_shutdown=5)
    except KeyboardInterrupt:
        pass


def warm_up(settings, catalog, policy) -> None:
    """Build the whole app once and run its start-up and shut-down (creating every table), then close."""
    import asyncio

    from agent.server.app import build_context, create_app

    ctx = build_context(settings, catalog, policy)
    app = create_app(ctx, close_on_shutdown=True)

    async def cycle() -> None:
        async with app.router.lifespan_context(app):
            pass

    asyncio.run(cycle())


@keys_app.command("create")
def keys_create(scope: Annotated[str, typer.Option(help="buyer | operator | admin")] = "buyer",
                org: Annotated[Optional[str], typer.Option(help="Buyer organisation (buyer keys)")] = None,
                region: Annotated[Optional[str], typer.Option(help="The region the buyer buys in")] = None,
                segment: Annotated[Optional[str], typer.Option(help="The buyer's segment")] = "standard",
                currency: Annotated[Optional[str], typer.Option(help="The buyer's currency")] = None,
                label: Annotated[Optional[str], typer.Option(help="A note to recognise the key")] = None,
                level: Annotated[Optional[str], typer.Option(
                    help="Operator keys: the highest approval level the key may decide (a level of the policy's "
                         "approval chain, e.g. manager); none: any level")] = None,
                catalog: CatalogOpt = None, policy: PolicyOpt = None,
                as_json: Annotated[bool, typer.Option("--json")] = False, db: DbOpt = None) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from agent.store.keys import ApiKeyError

    if scope == "buyer":
        from agent.cli_agent import refuse
        from agent.config import catalog_path
        from tools.catalog import load_catalog
        from tools.datafile import DataFileError

        try:
            cat = load_catalog(catalog_path(catalog))
        except DataFileError as exc:  # each issue on its line, exit 1, as `dealdesk price` says it
            refuse(exc)
        if region is not None and region not in cat.regions():
            fail("not_authorized_for_region",
                 f"region {region!r} is not served; the catalog serves {', '.join(cat.regions())}", "region")
        if segment is not None and segment not in cat.segments:
            fail("unknown_segment", f"unknown segment {segment!r}; the catalog has {', '.join(cat.segments)}",
                 "segment")
        if currency is not None and region is not None and cat.book_for(region, currency) is None:
            fail("unsupported_currency", f"{currency} is not sold in region {region}", "currency")
    else:
        segment = None
    if level is not None:
        if scope != "operator":
            fail("malformed_message", "only operator keys have an approval level", "level")
        from agent.authority import known_levels
        from agent.cli_agent import refuse
        from agent.config import load_data
        from tools.datafile import DataFileError

        try:
            cat, pol = load_data(catalog, policy)
        except DataFileError as exc:
            refuse(exc)
        levels = known_levels(pol, cat)
        if level not in levels:
            fail("malformed_message", f"unknown approval level {level!r}; the policy's chains have {', '.join(levels)}",
                 "level")
    store, keys = _key_store(db)
    try:
        key, text = keys.create(scope,  # type: ignore[arg-type]
                                org=org, region=region, segment=segment, currency=currency, label=label,
                                approval_level=level)
    except ApiKeyError as exc:
        fail(exc.code, exc.message, exc.field)
    finally:
        store.dispose()
    if as_json:
        sys.stdout.write(json.dumps({**dataclasses.asdict(key), "key": text}) + "\n")
        return
    out.print(f"created {key.id} ({key.scope}{', ' + key.org if key.org else ''}). The key, shown once:",
              highlight=False, markup=False)
    sys.stdout.write(text + "\n")


@keys_app.command("list")
def keys_list(all_: Annotated[bool, typer.Option("--all", help="Include revoked keys")] = False,
              as_json: Annotated[bool, typer.Option("--json")] = False, db: DbOpt = None) -> None:
    """List keys (ids and prefixes, never the keys themselves)."""
    store, keys = _key_store(db)
    try:
        rows = keys.list(include_revoked=all_)
    finally:
        store.dispose()
    if as_json:
        sys.stdout.write(json.dumps([dataclasses.asdict(k) for k in rows]) + "\n")
        return
    table = Table("Scope", "Org", "Region", "Segment", "Currency", "Level", "Label", "Revoked")
    table.add_column("Id", no_wrap=True, min_width=20)
    table.add_column("Prefix", no_wrap=True)
    for k in rows:
        table.add_row(k.scope, k.org or "", k.region or "", k.segment or "", k.currency or "",
                      k.approval_level or ("any" if k.scope == "operator" else ""), k.label or "",
                      "yes" if k.revoked else "", k.id, k.prefix + "...")
    out.print(table, markup=False)  # the cells are data: a label's "[vip]" is text


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key id (key_...), from `dealdesk keys list`")],
                db: DbOpt = None) -> None:
    """Revoke a key: it stops working at once."""
    from agent.store.keys import ApiKeyError

    store, keys = _key_store(db)
    try:
        key = keys.revoke(key_id)
    except ApiKeyError as exc:
        fail("not_found" if exc.message.startswith("no key ") else exc.code, exc.message, exc.field)
    finally:
        store.dispose()
    out.print(f"revoked {key.id} ({key.scope}{', ' + key.org if key.org else ''})", highlight=False, markup=False)


@db_app.command("upgrade")
def db_upgrade(db: DbOpt = None) -> None:
    """Apply pending schema migrations, and on PostgreSQL set up the checkpoint tables (both also done on start)."""
    from agent.store.db import make_engine, upgrade

    url = db_url(db)
    engine = make_engine(url)
    try:
        version = upgrade(engine)
    finally:
        engine.dispose()
    checkpoints = ""
    if engine.dialect.name == "postgresql":
        from agent.service import setup_checkpoints

        checkpoints = "; checkpoint tables " + ("set up" if setup_checkpoints(url) else "current")
    out.print(f"{_shown(url)}: schema at version {version}{checkpoints}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(keys_app, name="keys")
    app.add_typer(db_app, name="db")
