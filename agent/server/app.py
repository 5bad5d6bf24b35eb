"""The HTTP application: REST (`/v1`), A2A (mounted by agent.server.a2a), health, schemas.

- `build_context(settings, catalog, policy)` opens the seller on `settings.db_url`, the key
  store on the seller's engine (same database), and in demo mode ensures the demo keys.
- `create_app(ctx)` builds the FastAPI app around a context: the limits middleware in
  front of everything, the error envelope, the REST routes, and A2A when it is there.
- `serving_app(settings, catalog, policy)` is both, for a serving process, with its start-up heap
  frozen (`agent/server/heap.py`).
- `app_from_env()` is the factory `uvicorn --factory` calls in each worker process
  (`dealdesk serve --workers N`): the settings travel in `DEALDESK_SERVE_SETTINGS`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import text

from agent.server import heap
from agent.server.context import ServerContext, ServerSettings
from agent.server.errors import error_response, install
from agent.server.limits import LimitsMiddleware
from agent.store.keys import ApiKey, KeyStore

log = logging.getLogger("dealdesk.server")

SETTINGS_ENV = "DEALDESK_SERVE_SETTINGS"
SCHEMA_DIR = Path(__file__).resolve().parent.parent.parent / "schemas"


@dataclasses.dataclass(frozen=True)
class DemoKey:
    name: str
    key: str
    scope: str
    org: str | None = None
    region: str | None = None
    segment: str | None = None
    currency: str | None = None
    label: str | None = None


# The demo keys are fixed texts, the same on every start, printed by `dealdesk serve --demo`.
# They are public: never run --demo on a server others can reach.
DEMO_KEYS: tuple[DemoKey, ...] = (
    DemoKey("buyer_eu", "dd_buyer_demo_eu_acme_0000000000000000", "buyer", org="acme-eu", region="EU",
            segment="standard", currency="EUR", label="demo buyer: Acme GmbH (EU, standard)"),
    DemoKey("buyer_us", "dd_buyer_demo_us_globex_00000000000000", "buyer", org="globex-us", region="US",
            segment="strategic", currency="USD", label="demo buyer: Globex Corp (US, strategic)"),
    DemoKey("operator", "dd_operator_demo_0000000000000000000000", "operator", label="demo operator"),
    DemoKey("admin", "dd_admin_demo_000000000000000000000000000", "admin", label="demo admin"),
)


def ensure_demo_keys(keys: KeyStore) -> dict[str, ApiKey]:
    out = {}
    for d in DEMO_KEYS:
        out[d.name] = keys.ensure(d.key, d.scope,  # type: ignore[arg-type]
                                  org=d.org, region=d.region, segment=d.segment, currency=d.currency, label=d.label)
    return out


def build_context(settings: ServerSettings, catalog: Any = None, policy: Any = None, **seller_kw: Any) -> ServerContext:
    """The seller on `settings.db_url` (migrated), its keys, demo keys in demo mode."""
    from agent.config import db_url, load_data
    from agent.service import Seller

    if catalog is None or policy is None:
        cat, pol = load_data()
        catalog = catalog if catalog is not None else cat
        policy = policy if policy is not None else pol
    if not settings.db_url:
        settings = dataclasses.replace(settings, db_url=db_url())
    if "model" not in seller_kw:  # the configured model (offline without a key)
        from agent.models.factory import make_model

        seller_kw["model"] = make_model()
    from agent.store import Store
    from agent.store.pools import split

    pools = split(settings.pg_connections) if settings.pg_connections else None
    seller = Seller(catalog, policy, Store(settings.db_url, pools=pools), **seller_kw)
    keys = KeyStore(seller.store.engine)
    if settings.demo:
        ensure_demo_keys(keys)
    return ServerContext(settings=settings, seller=seller, keys=keys)


def readiness(ctx: ServerContext) -> tuple[bool, dict[str, Any]]:
    """Database reachable and migrated to the code's schema version, through every way a turn reaches it:
    the store's pool, the checkpointer's connections and this process's liveness lock (PostgreSQL; one the
    database dropped is taken again here)."""
    from agent.service import checkpointer_reachable
    from agent.store.db import current_version
    from agent.store.schema import SCHEMA_VERSION

    try:
        with ctx.seller.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            version = current_version(conn)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return False, {"status": "unavailable", "database": "unreachable", "detail": type(exc).__name__}
    checkpoints = checkpointer_reachable(getattr(ctx.seller, "checkpointer", None))
    live = getattr(ctx, "liveness", None)
    liveness = live.held() if live is not None else True  # none taken yet: nothing to lose
    parts = {"checkpoints": "ok" if checkpoints else "unreachable", "liveness": "ok" if liveness else "lost"}
    if not (checkpoints and liveness):
        return False, {"status": "unavailable", "database": "ok", **parts}
    ok = version >= SCHEMA_VERSION
    return ok, {"status": "ready" if ok else "migrations_pending", "database": "ok", **parts,
                "schema_version": version, "expected_schema_version": SCHEMA_VERSION}


def create_app(ctx: ServerContext, *, close_on_shutdown: bool = False) -> FastAPI:
    from agent.server import console, rest

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        from agent.server.idempotency import store_for

        try:  # idempotency keys live 24 hours, as Stripe's do
            await ctx.run_turn(store_for(ctx).purge)
        except Exception:  # noqa: BLE001 - housekeeping must not stop the server
            log.exception("could not purge old idempotency keys")
        try:
            yield
        finally:
            if close_on_shutdown:
                if ctx.liveness is not None:
                    ctx.liveness.stop()
                ctx.seller.close()

    app = FastAPI(
        title="dealdesk",
        version="1.0",
        summary="The seller bot procurement agents negotiate with: REST API (A2A 1.0 at /a2a, card at "
                "/.well-known/agent-card.json).",
        description="Authenticate with `Authorization: Bearer <key>`. Money and quantities are decimal strings. "
                    "Every error is `{\"error\": {\"type\", \"code\", \"message\", \"field\"}}`.",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    install(app)
    app.include_router(rest.router(ctx))
    app.include_router(console.router(ctx))  # the operator console at /console (HTML)

    @app.get("/healthz", tags=["ops"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="Readiness: database reachable, migrations applied",
             responses={503: {"description": "Not ready"}})
    async def readyz() -> JSONResponse:
        ok, body = await ctx.run_turn(readiness, ctx)
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/schemas/{name}.json", tags=["contract"], summary="The wire contract's JSON Schemas",
             responses={404: {"description": "No such schema"}})
    async def schema_file(name: str):
        files = {p.name: p for p in SCHEMA_DIR.glob("*.json")} if SCHEMA_DIR.is_dir() else {}
        path = files.get(f"{name}.json")
        if path is None:
            return error_response(404, "not_found", f"no schema {name}.json; there are: {', '.join(sorted(files))}")
        return FileResponse(path, media_type="application/schema+json")

    try:
        from agent.server.a2a import mount_a2a
    except ImportError as exc:  # the A2A part lands separately
        log.warning("A2A not mounted: %s", exc)
    else:
        mount_a2a(app, ctx)

    s = ctx.settings
    app.add_middleware(LimitsMiddleware, max_body_bytes=s.max_body_bytes, max_json_depth=s.max_json_depth,
                       rate_per_second=s.rate_per_second, rate_burst=s.rate_burst)
    app.add_middleware(NoSniff)
    return app


class NoSniff:
    """`X-Content-Type-Options: nosniff` on every response (the console's pages set their own headers too): a
    browser never reads a JSON error that echoes a buyer's text as HTML."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sent(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or ())
                if not any(k.lower() == b"x-content-type-options" for k, _ in headers):
                    headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sent)


def settings_to_env(settings: ServerSettings, **extra: Any) -> str:
    return json.dumps({**dataclasses.asdict(settings), **extra})


def app_from_env() -> FastAPI:
    """The app factory for uvicorn workers: settings from DEALDESK_SERVE_SETTINGS (JSON)."""
    raw = json.loads(os.environ.get(SETTINGS_ENV) or "{}")
    catalog_file, policy_file = raw.pop("catalog", None), raw.pop("policy", None)
    fields = {f.name for f in dataclasses.fields(ServerSettings)}
    settings = ServerSettings(**{k: v for k, v in raw.items() if k in fields})
    from agent.config import load_data, log_path
    from agent.records import configure_logging

    logfile = log_path()
    logfile.parent.mkdir(parents=True, exist_ok=True)
    configure_logging(logfile.open("a", encoding="utf-8"))
    catalog, policy = load_data(catalog_file, policy_file)
    return serving_app(settings, catalog, policy)


def serving_app(settings: ServerSettings, catalog: Any, policy: Any) -> FastAPI:
    """The app a serving process runs (`dealdesk serve`, or each of its workers). Its start-up is over
    once the app is built, so what it built is frozen out of the cyclic GC's sweeps (`heap.settle`)."""
    app = create_app(build_context(settings, catalog, policy), close_on_shutdown=True)
    heap.settle()
    return app
