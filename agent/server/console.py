"""The operator console at `/console`: server-rendered HTML (Jinja2, autoescaped), no JavaScript.

Pages: the deals list (filters: buyer, outcome, since, blocked), a deal's timeline with a
concession chart (inline SVG: the offer against the round, with list, target and floor drawn
in), the approvals inbox (approve and reject), the guardrail blocks, and autonomy: the operators'
runtime switches in force (set and cleared here, as `dealdesk autonomy pause|resume` does) beside
what the policy allows.

Sessions
- `POST /console/login` with an operator (or admin) key sets a session cookie: the key's id, a
  random nonce and an expiry, signed with HMAC-SHA256; HttpOnly, SameSite=Strict, Path=/console,
  Secure over https. The key text itself is never stored in the cookie. Every request reads the
  key again, so revoking it ends its sessions. A buyer key gets a 403 page and no cookie.
- Each session is also a row in the database (`agent/store/console_sessions.py`, keyed by the
  sha256 of its nonce), checked on every request: signing out deletes it, so a copy of the cookie
  is refused afterwards by every worker sharing the database, not only the one that was asked.
- The signing secret is `DEALDESK_CONSOLE_SECRET` when set, else random for this process: with
  `--workers N` set the variable, or each worker refuses the others' sessions.

CSRF: every POST form carries a token (HMAC of the session nonce; on the login form, of a
pre-session cookie's nonce) checked in constant time, and a cross-origin `Origin` is refused.

Writes: an approval decision takes the REST operator endpoint's path, `ctx.decide` (the seller's
turn, then `publish_seller_turn`), so the buyer's A2A task moves on. An autonomy switch goes
through `AutonomyStore.set` (a row and an audit record), its category or SKU checked against the
loaded catalog first; a switch in force can be cleared whatever the catalog says now.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import Connection, select

from agent import review
from agent.authority import NotAuthorized, check_authority
from agent.server.context import ServerContext, TurnTimeout
from agent.server.errors import DECISION_CONFLICTS
from agent.store.autonomy import MODES, AutonomyStore, Switch
from agent.store.console_sessions import ConsoleSessions
from agent.store.keys import ApiKey, key_from_row
from agent.store.store import ApprovalNotPending, ApprovalRow
from tools.errors import DealdeskError

log = logging.getLogger("dealdesk.server")

PREFIX = "/console"
HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates" / "console"
STATIC = HERE / "static"
SECRET_ENV = "DEALDESK_CONSOLE_SECRET"

SESSION_COOKIE = "dd_console"
LOGIN_COOKIE = "dd_console_login"
SESSION_SECONDS = 8 * 3600
LOGIN_SECONDS = 3600
MAX_FORM_BYTES = 16_384
MAX_NOTE_CHARS = 2000
APPROVAL_STATUSES = ("pending", "approved", "rejected", "edited", "canceled")
# The inbox's tabs: the stored statuses, and `expired` (pending requests past their offers' validity), as the CLI
# and REST filter them; an unknown status shows the pending ones.
APPROVAL_TABS = ("pending", "expired", "approved", "rejected", "edited", "canceled")
OUTCOMES = ("deal", "no_deal", "open")
AUTONOMY_LEVELS = ("product", "category", "global")
AUTONOMY_DONE = {"set": "Saved: the switch applies from the next turn of every negotiation it covers.",
                 "cleared": "Cleared: that scope is back to auto (the policy decides)."}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


# --- signing ---------------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """HMAC-SHA256 over purpose-tagged texts (a session value is no CSRF token and vice versa)."""

    def __init__(self, secret: bytes):
        if len(secret) < 16:
            raise ValueError(f"{SECRET_ENV} must have at least 16 characters")
        self.secret = secret

    def mac(self, purpose: str, text: str) -> str:
        return _b64(hmac.new(self.secret, f"{purpose}|{text}".encode(), hashlib.sha256).digest())

    def verify(self, purpose: str, text: str, mac: str) -> bool:
        return hmac.compare_digest(self.mac(purpose, text).encode(), (mac or "").encode())

    # a session: {"k": key id, "n": nonce, "e": expiry (unix seconds)}
    def session(self, key_id: str, *, now: float | None = None) -> tuple[str, str]:
        nonce = secrets.token_urlsafe(16)
        payload = _b64(json.dumps({"k": key_id, "n": nonce, "e": int((now or time.time()) + SESSION_SECONDS)},
                                  separators=(",", ":")).encode())
        return f"{payload}.{self.mac('session', payload)}", nonce

    def read_session(self, value: str | None, *, now: float | None = None) -> tuple[str, str] | None:
        """(key id, nonce) of a valid, unexpired session cookie, else None."""
        if not value or len(value) > 512 or value.count(".") != 1:
            return None
        payload, mac = value.split(".")
        if not self.verify("session", payload, mac):
            return None
        try:
            data = json.loads(_unb64(payload))
            key_id, nonce, expiry = str(data["k"]), str(data["n"]), int(data["e"])
        except (ValueError, KeyError, TypeError):
            return None
        if expiry <= (now or time.time()):
            return None
        return key_id, nonce


def console_secret() -> bytes:
    env = os.environ.get(SECRET_ENV)
    return env.encode() if env else secrets.token_bytes(32)


# --- sessions and pages ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Operator:
    key: ApiKey
    csrf: str
    nonce: str = dataclasses.field(default="", repr=False)  # the session's (sign-out ends it by this)

    @property
    def who(self) -> str:
        """How the decision records name the operator (the REST endpoint's form)."""
        return f"{self.key.label or self.key.scope} ({self.key.id})"


class _Redirect(Exception):
    def __init__(self, url: str):
        self.url = url


class _Answered(Exception):
    """A request refused before its page ran (a POST from elsewhere, a failed CSRF check): this response."""

    def __init__(self, response: Response):
        self.response = response


class _ConsoleRoute(APIRoute):
    """A console page's route: a page that finds no signed-in operator (`_Redirect`, raised by `operator`)
    answers with the redirect to the login page, and a refused form (`_Answered`, raised by `posted`) with its
    refusal, so each page just asks for its operator or its form."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await handle(request)
            except _Redirect as go:
                return RedirectResponse(go.url, status_code=303, headers=SECURITY_HEADERS)
            except _Answered as refusal:
                return refusal.response

        return handler


def key_by_id(ctx: ServerContext, key_id: str, conn: Connection | None = None) -> ApiKey | None:
    """The live key with this id (KeyStore looks keys up by text only)."""
    from agent.store import schema as t

    if conn is None:
        with ctx.keys.engine.connect() as fresh:
            return key_by_id(ctx, key_id, fresh)
    r = conn.execute(select(t.api_keys).where(t.api_keys.c.id == key_id)).first()
    if r is None or r.revoked_at is not None:
        return None
    return key_from_row(r)


def _safe_next(target: str | None) -> str:
    """Only a console path (no scheme, no host, no `//`) is a place to go back to after login."""
    if not target or not target.startswith(PREFIX) or target.startswith("//") or "\\" in target:
        return PREFIX + "/approvals"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return PREFIX + "/approvals"
    return target


def _fmt_time(value: Any) -> str:
    """An instant as the CLI and REST say it (`review.utc_text`: "2026-11-27T20:43:59Z", UTC to the second), so a
    time read here can be pasted into `--since` or matched against `approvals show`; a date stays a date."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)  # 3.11 reads a trailing Z
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        return review.utc_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _fmt_num(value: Any, places: int | None = None) -> str:
    if value is None or value == "":
        return ""
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if places is not None:
        d = d.quantize(Decimal(1).scaleb(-places))
    return format(d, "f")


def _fmt_pct(value: Any) -> str:
    """A percentage as the CLI and REST's operators read it: two decimals, half up (`review.percent_text`), so a
    request 15.04% off, beyond the bot's own 15%, never reads "15.0%"."""
    if value is None or value == "":
        return ""
    return str(review.percent_text(value))


def make_env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["t"] = _fmt_time
    env.filters["num"] = _fmt_num
    env.filters["pct"] = _fmt_pct
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, sort_keys=True, default=str)
    return env


# --- the concession chart (server-rendered SVG) -----------------------------------------------

CHART_W, CHART_H = 640, 280
PAD_L, PAD_R, PAD_T, PAD_B = 64, 96, 16, 40
SERIES = (  # (field, label, colour, dashed)
    ("list_price", "list", "#6b7280", True),
    ("target", "target", "#2563eb", True),
    ("floor", "floor", "#dc2626", True),
    ("buyer_bid", "buyer", "#d97706", False),
    ("offer", "offer", "#059669", False),
)


def _field(point: Any, name: str) -> Any:
    if isinstance(point, dict):
        return point.get(name)
    if isinstance(point, (tuple, list)) and not hasattr(point, "_fields"):
        order = ("round", "offer", "list_price", "target", "floor")
        return point[order.index(name)] if name in order and order.index(name) < len(point) else None
    return getattr(point, name, None)


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def concession_chart(points: list[Any], *, title: str = "") -> dict[str, Any] | None:
    """Coordinates for the SVG: one polyline per series over the rounds, ticks and labels.

    `points` carry round, offer, list_price, target, floor and (optionally) buyer_bid: models, dicts or tuples.
    None when there is nothing to draw.
    """
    rows = []
    for p in points:
        r = _field(p, "round")
        try:
            rnd = int(r)
        except (TypeError, ValueError):
            continue
        rows.append((rnd, {name: _dec(_field(p, name)) for name, *_ in SERIES}))
    values = [v for _, vals in rows for v in vals.values() if v is not None]
    if not rows or not values:
        return None
    rows.sort(key=lambda x: x[0])
    rounds = [r for r, _ in rows]
    r_lo, r_hi = min(rounds), max(rounds)
    lo, hi = min(values), max(values)
    span = hi - lo or max(abs(hi) / 10, Decimal(1))
    lo, hi = lo - span * Decimal("0.08"), hi + span * Decimal("0.08")
    plot_w, plot_h = CHART_W - PAD_L - PAD_R, CHART_H - PAD_T - PAD_B

    def x(rnd: int) -> float:
        return PAD_L + (plot_w / 2 if r_hi == r_lo else (rnd - r_lo) / (r_hi - r_lo) * plot_w)

    def y(v: Decimal) -> float:
        return PAD_T + float((hi - v) / (hi - lo)) * plot_h

    series = []
    for name, label, colour, dashed in SERIES:
        pts = [(round(x(r), 1), round(y(vals[name]), 1), r, vals[name]) for r, vals in rows
               if vals[name] is not None]
        if not pts:
            continue
        series.append({"name": name, "label": label, "colour": colour, "dashed": dashed,
                       "points": " ".join(f"{px},{py}" for px, py, _, _ in pts),
                       "dots": [{"x": px, "y": py, "round": r, "value": format(v, "f")} for px, py, r, v in pts],
                       "last": {"x": pts[-1][0], "y": pts[-1][1], "value": format(pts[-1][3], "f")}})
    step = max(1, (r_hi - r_lo + 1) // 12 or 1)
    x_ticks = [{"x": round(x(r), 1), "label": str(r)} for r in range(r_lo, r_hi + 1, step)]
    y_ticks = []
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        y_ticks.append({"y": round(y(v), 1), "label": format(v.quantize(Decimal("0.01")), "f")})
    return {"w": CHART_W, "h": CHART_H, "left": PAD_L, "right": CHART_W - PAD_R, "top": PAD_T,
            "bottom": CHART_H - PAD_B, "series": series, "x_ticks": x_ticks, "y_ticks": y_ticks,
            "title": title, "label_x": PAD_L + plot_w / 2, "rounds": len(rows)}


def charts_for(series: Any) -> list[dict[str, Any]]:
    """Charts from `review.concession_series`: a list of points (one chart) or a mapping SKU -> points."""
    if not series:
        return []
    if isinstance(series, dict):
        out = []
        for sku, pts in series.items():
            c = concession_chart(list(pts), title=str(sku))
            if c:
                out.append(c)
        return out
    groups: dict[str, list[Any]] = {}
    for p in series:
        groups.setdefault(str(_field(p, "sku") or ""), []).append(p)
    return [c for sku, pts in groups.items() if (c := concession_chart(pts, title=sku))]


# --- views of store rows --------------------------------------------------------------------


def moves_of(a: ApprovalRow) -> list[dict[str, Any]]:
    return [m for m in (a.requested or {}).get("moves", []) if isinstance(m, dict)]


def expiry_of(a: ApprovalRow, validity: review.ValidityDays, now: dt.datetime | None = None) -> dict[str, Any]:
    """A request's status as operators read it (`state`): a pending one past its offers' validity is `expired` (what
    `Seller.decide` refuses with approval_expired, and cancels), with when it expires (`review.expires_at`)."""
    expires = review.expires_at(a, validity) if a.status == "pending" else None
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return {"state": "expired" if expires is not None and now > expires else a.status, "expires_at": expires}


# --- the router ------------------------------------------------------------------------------


def router(ctx: ServerContext, *, secret: bytes | None = None) -> APIRouter:
    signer = Signer(secret or console_secret())
    if secret is None and not os.environ.get(SECRET_ENV) and ctx.settings.workers > 1:
        log.warning("console: %s is not set; with %d workers a session works on one worker only",
                    SECRET_ENV, ctx.settings.workers)
    env = make_env()
    seller = ctx.seller
    store = seller.store
    sessions = ConsoleSessions(ctx.keys.engine)
    switches = AutonomyStore(store.engine)
    r = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=_ConsoleRoute)

    def secure(request: Request) -> bool:
        return request.url.scheme == "https" or (ctx.settings.public_url or "").startswith("https://")

    def render(request: Request, template: str, status: int = 200, *, op: Operator | None = None,
               **values: Any) -> HTMLResponse:
        pending = None
        if op is not None:
            try:
                days = validity()  # the badge counts what is still to decide: not the expired
                pending = sum(1 for a in store.approvals(status="pending", newest_first=True, limit=500)
                              if expiry_of(a, days)["state"] == "pending")
            except Exception:  # noqa: BLE001 - a badge must not break the page
                pending = None
        html = env.get_template(template).render(op=op, pending_count=pending, prefix=PREFIX,
                                                 path=request.url.path, **values)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def redirect(url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)

    def operator(request: Request) -> Operator:
        """The signed-in operator, or _Redirect to the login page (blocking: call in a thread).

        The cookie must be signed, unexpired, of a live operator (or admin) key, and its session not
        ended (signed out) in the database, which every worker shares."""
        found = signer.read_session(request.cookies.get(SESSION_COOKIE))
        key = None
        if found is not None:
            with ctx.keys.engine.connect() as conn:
                if sessions.live(found[0], found[1], conn):
                    key = key_by_id(ctx, found[0], conn)
        if found is None or key is None or not key.allows("operator"):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise _Redirect(f"{PREFIX}/login?next={quote(target, safe='')}")
        return Operator(key=key, csrf=signer.mac("csrf", found[1]), nonce=found[1])

    def same_origin(request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is None:
            return True  # older browsers omit it on same-origin POSTs; the token still stands
        parts = urlsplit(origin)
        return bool(parts.netloc) and parts.netloc == request.headers.get("host")

    async def form(request: Request) -> dict[str, str] | None:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return None
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return None
        out: dict[str, str] = {}
        for k, v in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            out.setdefault(k, v)
        return out

    def validity() -> review.ValidityDays:
        """The server's own catalog and policy, read per request: a request shown as expired is one `ctx.decide`
        refuses."""
        return review.validity_days(seller.catalog, seller.policy)

    def refused(request: Request, message: str, status: int = 403, op: Operator | None = None) -> HTMLResponse:
        return render(request, "error.html", status, op=op, title="Refused", message=message)

    # --- static, index, login, logout ---------------------------------------------------

    @r.get("/static/console.css")
    def css() -> FileResponse:
        return FileResponse(STATIC / "console.css", media_type="text/css",
                            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})

    @r.get("")
    @r.get("/")
    def index() -> RedirectResponse:
        return redirect(PREFIX + "/approvals")

    def login_page(request: Request, status: int = 200, *, error: str | None = None,
                   next_url: str | None = None) -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        resp = render(request, "login.html", status, error=error, next_url=_safe_next(next_url),
                      csrf=signer.mac("login", nonce))
        resp.set_cookie(LOGIN_COOKIE, nonce, max_age=LOGIN_SECONDS, path=PREFIX, httponly=True,
                        samesite="strict", secure=secure(request))
        return resp

    @r.get("/login")
    def login_form(request: Request, next: str | None = None) -> HTMLResponse:
        return login_page(request, next_url=next)

    @r.post("/login")
    async def login(request: Request) -> Response:
        data = await form(request)
        nonce = request.cookies.get(LOGIN_COOKIE) or ""
        if data is None or not same_origin(request) or not nonce or \
                not signer.verify("login", nonce, data.get("csrf", "")):
            return login_page(request, 400, error="The form expired or did not come from this page: try again.",
                              next_url=(data or {}).get("next"))
        text = (data.get("api_key") or "").strip()
        key = await ctx.run_turn(ctx.keys.authenticate, text) if 16 <= len(text) <= 512 else None
        if key is None:
            return login_page(request, 401, error="That key is not valid (unknown or revoked).",
                              next_url=data.get("next"))
        if not key.allows("operator"):
            resp = render(request, "forbidden.html", 403, scope=key.scope)
            resp.delete_cookie(LOGIN_COOKIE, path=PREFIX)
            return resp
        cookie, nonce = signer.session(key.id)
        await ctx.run_turn(sessions.start, key.id, nonce, seconds=SESSION_SECONDS)
        resp = redirect(_safe_next(data.get("next")))
        resp.set_cookie(SESSION_COOKIE, cookie, max_age=SESSION_SECONDS, path=PREFIX, httponly=True,
                        samesite="strict", secure=secure(request))
        resp.delete_cookie(LOGIN_COOKIE, path=PREFIX)
        log.info("console: %s signed in", key.id)
        return resp

    @r.post("/logout")
    async def logout(request: Request) -> Response:
        try:
            op = await ctx.run_turn(operator, request)
        except _Redirect:
            return redirect(PREFIX + "/login")
        data = await form(request)
        if data is None or not same_origin(request) or not hmac.compare_digest(data.get("csrf", ""), op.csrf):
            return await ctx.run_turn(refused, request, "The form did not come from this console (CSRF check "
                                      "failed).", op=op)
        await ctx.run_turn(sessions.end, op.nonce)  # the cookie, or any copy of it, is refused from now on
        log.info("console: %s signed out", op.key.id)
        resp = redirect(PREFIX + "/login")
        resp.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return resp

    # --- approvals ----------------------------------------------------------------------

    @r.get("/approvals")
    def approvals(request: Request, status: str = "pending") -> Response:
        op = operator(request)
        chosen = status if status in (*APPROVAL_TABS, "all") else "pending"
        days = validity()
        if chosen == "expired":  # pending in the store, told apart by age (as `approvals list --status expired`)
            items = [it for it in ({"a": a, "moves": moves_of(a), **expiry_of(a, days)}
                                   for a in store.approvals(status="pending", newest_first=True))
                     if it["state"] == "expired"][:200]
        else:
            rows = store.approvals(status=None if chosen == "all" else chosen, newest_first=True, limit=200)
            items = [{"a": a, "moves": moves_of(a), **expiry_of(a, days)} for a in rows]
        return render(request, "approvals.html", op=op, items=items, chosen=chosen, statuses=APPROVAL_TABS)

    def approval_page(request: Request, op: Operator, approval_id: str, status: int = 200,
                      message: str | None = None, done: str | None = None) -> HTMLResponse:
        a = store.get_approval(approval_id) if _ID.match(approval_id) else None
        if a is None:
            return render(request, "error.html", 404, op=op, title="Not found",
                          message=f"There is no approval {approval_id}.")
        versions = store.proposal_versions(a.proposal_id)
        current = store.get_proposal(a.proposal_id)
        negotiation = store.get_negotiation(a.negotiation_id)
        days = validity()
        detail = review.approval_detail(store, a.id, validity=days)
        return render(request, "approval.html", status, op=op, a=a, moves=moves_of(a), current=current,
                      **expiry_of(a, days),
                      versions=versions, negotiation=negotiation, message=message,
                      charts=charts_for(detail.series) if detail else [], detail=detail,
                      done=done if done in ("approve", "reject") else None, max_note=MAX_NOTE_CHARS)

    @r.get("/approvals/{approval_id}")
    def approval(request: Request, approval_id: str, done: str | None = None) -> Response:
        op = operator(request)
        return approval_page(request, op, approval_id, done=done)

    async def posted(request: Request, unchanged: str) -> tuple[Operator, dict[str, str]]:
        """The operator and the form of a POST from this console; no session is the route's redirect, and a
        form from another origin or with a failed CSRF check its refusal (`_Answered`); `unchanged` says what
        was not done."""
        op = await ctx.run_turn(operator, request)
        data = await form(request)
        if data is None or not same_origin(request) or not hmac.compare_digest(data.get("csrf", ""), op.csrf):
            raise _Answered(await ctx.run_turn(refused, request, "The form did not come from this console (CSRF "
                                               f"check failed); {unchanged}.", op=op))
        return op, data

    async def decide(request: Request, approval_id: str, decision: str) -> Response:
        op, data = await posted(request, "nothing was decided")
        note = (data.get("note") or "").strip() or None
        if note is not None and len(note) > MAX_NOTE_CHARS:
            return await ctx.run_turn(approval_page, request, op, approval_id, 422,
                                      f"The note is longer than {MAX_NOTE_CHARS} characters; nothing was decided.")
        a = await ctx.run_turn(store.get_approval, approval_id) if _ID.match(approval_id) else None
        if a is None:
            return await ctx.run_turn(render, request, "error.html", 404, op=op, title="Not found",
                                      message=f"There is no approval {approval_id}.")
        if a.status != "pending":
            return await ctx.run_turn(approval_page, request, op, approval_id, 409,
                                      f"Approval {approval_id} is already {a.status}; nothing was decided.")
        try:
            check_authority(ctx.seller.policy, ctx.seller.catalog, op.key, a)
        except NotAuthorized as exc:
            return await ctx.run_turn(approval_page, request, op, approval_id, 403,
                                      f"{exc.message}; nothing was decided.")
        try:  # the REST operator endpoint's path: the seller decides, then the A2A task hears of it
            await ctx.decide(approval_id, decision, by=op.who, note=note)
        except ApprovalNotPending as exc:
            return await ctx.run_turn(approval_page, request, op, approval_id, 409, exc.message)
        except TurnTimeout as exc:
            return await ctx.run_turn(render, request, "error.html", 504, op=op, title="Timed out",
                                      message=f"{exc}. The decision may still complete: reload the approval.")
        except DealdeskError as exc:
            status = 409 if exc.code in DECISION_CONFLICTS else 422
            return await ctx.run_turn(approval_page, request, op, approval_id, status,
                                      f"Not decided: {exc.message} ({exc.code}).")
        log.info("console: %s %sd approval %s", op.key.id, decision, approval_id)
        return redirect(f"{PREFIX}/approvals/{quote(approval_id)}?done={decision}")

    @r.post("/approvals/{approval_id}/approve")
    async def approve(request: Request, approval_id: str) -> Response:
        return await decide(request, approval_id, "approve")

    @r.post("/approvals/{approval_id}/reject")
    async def reject(request: Request, approval_id: str) -> Response:
        return await decide(request, approval_id, "reject")

    # --- deals ------------------------------------------------------------------------------

    def since_of(text: str | None, errors: list[str]) -> dt.datetime | None:
        try:
            return review.parse_since(text.strip()) if text and text.strip() else None
        except ValueError as exc:
            errors.append(f"'since': {exc}")
            return None

    @r.get("/deals")
    def deals(request: Request, buyer: str | None = None, outcome: str | None = None, since: str | None = None,
              blocked: str | None = None) -> Response:
        op = operator(request)
        errors: list[str] = []
        buyer = (buyer or "").strip()[:64] or None
        if outcome and outcome not in OUTCOMES:
            errors.append(f"unknown outcome {outcome!r}: choose one of {', '.join(OUTCOMES)}")
        chosen = outcome if outcome in OUTCOMES else None
        since_at = since_of(since, errors)
        only = {"yes": True, "no": False}.get(blocked or "")
        rows = review.list_deals(store, buyer=buyer, outcome=chosen, since=since_at, blocked=only,  # type: ignore[arg-type]
                                 limit=200, validity=validity())
        return render(request, "deals.html", op=op, rows=rows, errors=errors, outcomes=OUTCOMES,
                      buyers=review.buyers(store),
                      f={"buyer": buyer or "", "outcome": chosen or "", "since": (since or "").strip()[:64],
                         "blocked": blocked if only is not None else ""})

    @r.get("/deals/{negotiation_id}")
    def deal(request: Request, negotiation_id: str) -> Response:
        op = operator(request)
        tl = review.timeline(store, negotiation_id, validity=validity()) if _ID.match(negotiation_id) else None
        if tl is None:
            return render(request, "error.html", 404, op=op, title="Not found",
                          message=f"There is no negotiation {negotiation_id}.")
        charts = charts_for(review.concession_series(store, negotiation_id))
        return render(request, "deal.html", op=op, tl=tl, s=tl.summary, charts=charts,
                      blocks=review.guardrail_blocks(store, negotiation_id=negotiation_id, limit=500))

    # --- guardrail blocks -----------------------------------------------------------------

    @r.get("/blocks")
    def blocks(request: Request, since: str | None = None) -> Response:
        op = operator(request)
        errors: list[str] = []
        since_at = since_of(since, errors)
        rows = review.guardrail_blocks(store, since=since_at, limit=200)
        return render(request, "blocks.html", op=op, rows=rows, errors=errors, since=(since or "").strip()[:64])

    # --- autonomy: the policy's levels, and the operators' runtime switches ------------------

    def policy_levels() -> list[dict[str, Any]]:
        doc = seller.policy.doc
        levels = [("global", "policy.global", doc.global_)]
        levels += [(f"category {name}", f"policy.categories[{name}]", rules)
                   for name, rules in sorted(doc.categories.items())]
        levels += [(f"product {sku}", f"policy.products[{sku}]", rules) for sku, rules in sorted(doc.products.items())]
        return [{"level": name, "rule": rule, "autonomous": rules.autonomous,
                 "max_deal_value": dict(rules.autonomy_max_deal_value or {})}
                for name, rule, rules in levels
                if rules.autonomous is not None or rules.autonomy_max_deal_value is not None]

    def autonomy_page(request: Request, op: Operator, status: int = 200, message: str | None = None,
                      done: str | None = None, f: dict[str, str] | None = None) -> HTMLResponse:
        catalog = seller.catalog
        in_force: list[Switch] = switches.list()
        f = {"level": "product", "category": "", "sku": "", "mode": "approval_only", "note": "", **(f or {})}
        return render(request, "autonomy.html", status, op=op, rows=policy_levels(),
                      policy_version=seller.policy.version, switches=in_force, message=message,
                      done=done if done in AUTONOMY_DONE else None, done_text=AUTONOMY_DONE.get(done or ""),
                      categories=catalog.categories, modes=MODES, f=f, max_note=MAX_NOTE_CHARS,
                      levels=AUTONOMY_LEVELS)

    @r.get("/autonomy")
    def autonomy(request: Request, done: str | None = None) -> Response:
        op = operator(request)
        return autonomy_page(request, op, done=done)

    def scope_from(data: dict[str, str]) -> tuple[str | None, str | None]:
        """(scope, None) from the set form's level, category and SKU, checked against the catalog; else
        (None, why)."""
        catalog = seller.catalog
        level = (data.get("level") or "").strip()
        category = (data.get("category") or "").strip()
        sku = (data.get("sku") or "").strip()
        if level not in AUTONOMY_LEVELS:
            return None, f"Choose what the switch applies to: {', '.join(AUTONOMY_LEVELS)}."
        if category and sku:
            return None, "Give a category or a SKU, not both."
        if level == "global":
            if category or sku:
                return None, "A global switch applies to everything: leave the category and the SKU empty."
            return "global", None
        if level == "category":
            if not category:
                return None, "Choose the category the switch applies to."
            found = category if category in catalog.categories else \
                next((c for c in catalog.categories if c.casefold() == category.casefold()), None)
            if found is None:
                return None, f"There is no category {category[:100]!r} in the catalog (categories: " \
                             f"{', '.join(catalog.categories)})."
            return f"category:{found}", None
        if not sku:
            return None, "Give the SKU of the product the switch applies to."
        found = sku if sku in catalog.products else \
            next((s for s in catalog.products if s.casefold() == sku.casefold()), None)
        if found is None:
            return None, f"There is no product with SKU {sku[:100]!r} in the catalog."
        return f"product:{found}", None

    def set_switch(request: Request, op: Operator, data: dict[str, str], scope: str, mode: str,
                   note: str | None, done: str) -> Response:
        try:
            switches.set(scope, mode, by=op.who[:200], note=note)
        except DealdeskError as exc:
            return autonomy_page(request, op, 422, f"Not changed: {exc.message}.", f=data)
        log.info("console: %s set autonomy %s to %s", op.key.id, scope, mode)
        return redirect(f"{PREFIX}/autonomy?done={done}")

    @r.post("/autonomy")
    async def autonomy_set(request: Request) -> Response:
        op, data = await posted(request, "no switch was changed")
        shown = {k: (data.get(k) or "")[:MAX_NOTE_CHARS] for k in ("level", "category", "sku", "mode", "note")}
        mode = (data.get("mode") or "").strip().replace("-", "_")
        note = (data.get("note") or "").strip() or None
        scope, why = await ctx.run_turn(scope_from, data)
        if scope is None:
            return await ctx.run_turn(autonomy_page, request, op, 422, f"Not changed: {why}", None, shown)
        if mode not in MODES:
            return await ctx.run_turn(autonomy_page, request, op, 422, "Not changed: the mode is one of "
                                      f"{', '.join(m.replace('_', '-') for m in MODES)}.", None, shown)
        if note is not None and len(note) > MAX_NOTE_CHARS:
            return await ctx.run_turn(autonomy_page, request, op, 422, f"Not changed: the note is longer than "
                                      f"{MAX_NOTE_CHARS} characters.", None, shown)
        return await ctx.run_turn(set_switch, request, op, shown, scope, mode, note,
                                  "cleared" if mode == "auto" else "set")

    @r.post("/autonomy/clear")
    async def autonomy_clear(request: Request) -> Response:
        op, data = await posted(request, "no switch was changed")
        scope = (data.get("scope") or "").strip()
        note = (data.get("note") or "").strip() or None
        if note is not None and len(note) > MAX_NOTE_CHARS:
            return await ctx.run_turn(autonomy_page, request, op, 422, f"Not cleared: the note is longer than "
                                      f"{MAX_NOTE_CHARS} characters.")
        # A switch in force is cleared whatever the catalog says now (its product may have left the catalog).
        if scope not in await ctx.run_turn(switches.switches):
            return await ctx.run_turn(autonomy_page, request, op, 409, f"No switch is in force for "
                                      f"{scope[:100]!r}: nothing was changed.")
        return await ctx.run_turn(set_switch, request, op, {}, scope, "auto", note, "cleared")

    return r
