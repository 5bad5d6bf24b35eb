"""The REST API under /v1 (FastAPI; OpenAPI at /openapi.json).

Who may call what:
- any key: the catalog (`/v1/catalog`, `/v1/products/{sku}`), JSON or Schema.org JSON-LD;
- buyer keys: stateless quotes for their organisation's region and segment, their own
  proposals and deals, and acceptance (`Idempotency-Key` in Stripe's manner);
- operator (and admin) keys: everything read-only across organisations, the policy decision
  surface, approvals (approve, reject, edit) and the decision records of a negotiation.

A buyer asking for another organisation's proposal, deal or negotiation gets 404, as if it
did not exist. Money and quantities are decimal strings. Writes that move a negotiation
run as one seller turn (`ctx.run_turn`, bounded by the turn timeout) and are then
published to the A2A layer (`ctx.publish_seller_turn`), so the buyer's task follows.
"""


import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from agent.authority import NotAuthorized, check_authority
from agent.contract import CONTRACT_VERSION, MAX_ITEMS, Currency, InMoney, InQty, Region, Sku, Terms, Version
from agent.review import ValidityDays, expires_at, utc_text, validity_days
from agent.server.auth import principal_from_header
from agent.server.context import ServerContext
from agent.server.errors import DECISION_CONFLICTS, ApiError, from_wire_error, not_found, status_for_code
from agent.server.idempotency import run_idempotent
from agent.store.db import utcnow
from agent.store.inventory import InventoryStore
from agent.store.keys import ApiKey
from agent.store.store import ApprovalNotPending, ApprovalRow, DealRow, ProposalRow
from tools.catalog.jsonld import catalog_jsonld, product_jsonld
from tools.catalog.models import Product
from tools.catalog.search import search, unknown_sku
from tools.errors import DealdeskError
from tools.money import percent_of, round_percent
from tools.policy.desk import Desk
from tools.policy.surface import explain_quote
from tools.pricing.engine import today
from tools.pricing.models import BuyerContext

JSONLD = "application/ld+json"
# The owner of inventory changes' Idempotency-Keys: every operator and admin key alike (the vendor's stock).
INVENTORY_IDEMPOTENCY_OWNER = "ops:inventory"
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer dd_<scope>_...`",
                     scheme_name="apiKey")

ERRORS = {
    400: {"description": "Malformed request (error envelope)"},
    401: {"description": "Missing or invalid API key (error envelope, WWW-Authenticate)"},
    403: {"description": "The key's scope does not allow this (error envelope)"},
    404: {"description": "Not found, or not yours (error envelope)"},
    413: {"description": "Body too large (error envelope)"},
    415: {"description": "The body is not sent as JSON: Content-Type must be application/json (error envelope)"},
    422: {"description": "Invalid input, naming the field (error envelope)"},
    429: {"description": "Rate limited; see Retry-After (error envelope)"},
}
Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
Limit = Annotated[int, Query(ge=1, le=500, description="Most results")]


# --- request bodies ------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuoteLine(_Body):
    sku: Sku
    quantity: InQty


class QuoteBody(_Body):
    items: list[QuoteLine] = Field(min_length=1, max_length=MAX_ITEMS)
    payment_terms: Terms | None = None
    currency: Currency | None = None
    region: Region | None = Field(default=None, description="Operators only; a buyer key's region is fixed")
    segment: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")] | None = Field(
        default=None, description="Operators only; a buyer key's segment is fixed")
    on: dt.date | None = Field(default=None, description="Pricing date (default today)")


class AcceptBody(_Body):
    version: Version


class DecisionBody(_Body):
    note: str | None = Field(default=None, max_length=2000)


class StockChangeBody(_Body):
    quantity: InQty = Field(description="Units, a decimal string (\"500\")")
    note: str | None = Field(default=None, max_length=2000, description="Why: a delivery note, a PO, the count it "
                             "corrects (required to remove)")


class EditBody(_Body):
    prices: dict[Sku, InMoney] = Field(min_length=1, max_length=MAX_ITEMS, description="SKU -> unit price")
    note: str | None = Field(default=None, max_length=2000)


# --- views (what goes out) -------------------------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else utc_text(value)


def proposal_view(p: ProposalRow, versions: list[int] | None = None) -> dict[str, Any]:
    out = {"proposal_id": p.id, "version": p.version, "status": p.status, "negotiation_id": p.negotiation_id,
           "buyer_org": p.buyer_org, "currency": p.currency, "payment_terms": p.payment_terms, "total": str(p.total),
           "valid_until": _iso(p.valid_until), "created_at": _iso(p.created_at), "proposal": p.body}
    if versions is not None:
        out["versions"] = list(versions)  # version numbers, as `version` is: integers
    return out


# Keys that hold a number of units in a decision surface and its pricing (the surface keeps them as ints).
UNIT_KEYS = frozenset({"quantity", "moq", "max_order_quantity", "max_hold_units", "next_tier_min", "stock", "min",
                       "max", "pieces_per_unit"})
# Counts sent as decimal strings: the units, and the lead time, as products, quotes and proposals send it.
STRING_COUNTS = UNIT_KEYS | {"lead_time_days"}


def units_as_strings(value: Any) -> Any:
    """Quantities and lead times (`STRING_COUNTS`) as decimal strings, as everything dealdesk sends says them (a
    product's, a quote's and a proposal's `lead_time_days` are strings); the policy's settings that are no quantity
    (`proposal_validity_days`, `max_rounds`), indexes (`tier_index`) and versions stay JSON numbers."""
    if isinstance(value, dict):
        return {k: str(v) if k in STRING_COUNTS and isinstance(v, int) and not isinstance(v, bool)
                else units_as_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [units_as_strings(v) for v in value]
    return value


def deal_view(d: DealRow) -> dict[str, Any]:
    return {"deal_id": d.id, "proposal_id": d.proposal_id, "version": d.version, "negotiation_id": d.negotiation_id,
            "buyer_org": d.buyer_org, "currency": d.currency, "total": str(d.total),
            "accepted_at": _iso(d.accepted_at), "deal": d.body}


def _strings(value: Any) -> Any:
    """Quantities (`STRING_COUNTS`) and money as strings (stored move JSON keeps some as numbers)."""
    if isinstance(value, dict):
        return {k: (str(v) if k in STRING_COUNTS and isinstance(v, int) and not isinstance(v, bool) else _strings(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_strings(v) for v in value]
    if isinstance(value, float):
        return repr(value)
    return _dec(value)


def approval_view(a: ApprovalRow, validity: ValidityDays | None = None) -> dict[str, Any]:
    """An approval request; with `validity`, a pending one past its offers' validity says `expired` (deciding it is
    refused, `approval_expired`, and cancels it), with `expires_at`, as the CLI and the console say it."""
    status, expires = a.status, expires_at(a, validity) if a.status == "pending" else None
    if expires is not None and utcnow() > expires:
        status = "expired"
    return {"approval_id": a.id, "negotiation_id": a.negotiation_id, "buyer_org": a.buyer_org,
            "proposal_id": a.proposal_id, "level": a.level, "status": status, "requested": _strings(a.requested),
            "reasons": a.reasons, "requested_at": _iso(a.requested_at), "expires_at": _iso(expires),
            "decided_by": a.decided_by, "decided_at": _iso(a.decided_at), "note": a.note, "decision": a.decision}


def _dec(v: Any) -> Any:
    return format(v, "f") if isinstance(v, Decimal) else v


def product_view(product: Product, available: int | None) -> dict[str, Any]:
    """A product for buyers: never its cost.

    `available` is the stock free to offer; `lead_time_days` the days to deliver one unit. A made-to-order product
    (`made_to_order` true; false for every other) keeps no stock: `available` is "0", and it is quoted at any
    quantity within the order limits, one unit at the capacity's restock lead time (as its JSON-LD's
    `deliveryLeadTime` says)."""
    return {
        "sku": product.sku, "name": product.name, "description": product.description, "category": product.category,
        "unit": product.unit, "specs": {k: _dec(v) for k, v in product.specs.items()},
        "compatible": list(product.compatible), "related": list(product.related),
        "available": str(max(available if available is not None else product.inventory.on_hand, 0)),
        "made_to_order": product.inventory.made_to_order,
        "lead_time_days": str(product.stated_lead_time_days),
        "prices": {book: {"list": _dec(pp.list),
                          "tiers": [{"min": str(t.min), "max": None if t.max is None else str(t.max),
                                     "price": _dec(t.price)} for t in pp.schedule]}
                   for book, pp in sorted(product.prices.items())},
    }


def _reply_view(reply: Any) -> dict[str, Any] | None:
    if reply is None:
        return None
    return {"negotiation_id": reply.negotiation_id, "turn": reply.turn, "data": reply.data, "text": reply.text}


def _wants_jsonld(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "jsonld"
    accept = request.headers.get("accept", "")
    return JSONLD in accept and "application/json" not in accept.split(JSONLD)[0]


def router(ctx: ServerContext) -> APIRouter:
    seller = ctx.seller
    store = seller.store
    catalog = seller.catalog
    policy = seller.policy

    def _principal(request: Request, scope: str | None) -> ApiKey:
        return principal_from_header(ctx, request.headers.get("authorization"), scope)  # type: ignore[arg-type]

    def any_key(request: Request, _c: Any = Depends(_bearer)) -> ApiKey:
        return _principal(request, None)

    def buyer_key(request: Request, _c: Any = Depends(_bearer)) -> ApiKey:
        return _principal(request, "buyer")

    def operator_key(request: Request, _c: Any = Depends(_bearer)) -> ApiKey:
        return _principal(request, "operator")

    def org_of(key: ApiKey) -> str | None:
        """The organisation a key may see (None: every organisation, for operators and admins)."""
        return key.org if key.scope == "buyer" else None

    Any_ = Annotated[ApiKey, Depends(any_key)]
    Buyer_ = Annotated[ApiKey, Depends(buyer_key)]
    Operator_ = Annotated[ApiKey, Depends(operator_key)]

    r = APIRouter(prefix="/v1", responses=ERRORS)

    # --- catalog -----------------------------------------------------------------------

    @r.get("/catalog", tags=["catalog"], summary="The catalog (JSON, or Schema.org JSON-LD with Accept: "
           "application/ld+json or ?format=jsonld)")
    def get_catalog(request: Request, key: Any_,
                    q: Annotated[str | None, Query(max_length=200, description="Words to look for")] = None,
                    category: Annotated[str | None, Query(max_length=64)] = None,
                    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
                    format: Annotated[Literal["json", "jsonld"] | None, Query()] = None) -> Any:
        levels = store.inventory_levels()
        if q or category or limit:
            products = search(catalog, text=q, category=category, limit=limit)
        else:
            products = [catalog.products[s] for s in sorted(catalog.products)]
        if _wants_jsonld(request, format):
            doc = catalog_jsonld(catalog, inventory=levels)
            if q or category or limit:
                wanted = {p.sku for p in products}
                doc["@graph"] = [n for n in doc["@graph"] if n["sku"] in wanted]
            return JSONResponse(doc, media_type=JSONLD)
        return {"vendor": catalog.vendor, "version": catalog.version, "contract_version": CONTRACT_VERSION,
                "price_books": {b.id: {"region": b.region, "currency": b.currency} for b in
                                catalog.price_books.values()},
                "products": [product_view(p, levels.get(p.sku)) for p in products]}

    @r.get("/catalog.jsonld", tags=["catalog"], summary="The catalog as Schema.org JSON-LD")
    def get_catalog_jsonld(key: Any_) -> JSONResponse:
        return JSONResponse(catalog_jsonld(catalog, inventory=store.inventory_levels()), media_type=JSONLD)

    @r.get("/products/{sku}", tags=["catalog"], summary="One product (JSON, or JSON-LD)")
    def get_product(request: Request, sku: Annotated[str, Path(min_length=1, max_length=64)], key: Any_,
                    format: Annotated[Literal["json", "jsonld"] | None, Query()] = None) -> Any:
        product = catalog.products.get(sku)
        if product is None:
            raise ApiError(404, "unknown_sku", unknown_sku(catalog, sku).message, "sku")
        available = store.available(sku)
        if _wants_jsonld(request, format):
            return JSONResponse(product_jsonld(catalog, product, inventory=available), media_type=JSONLD)
        return product_view(product, available)

    # --- quotes ------------------------------------------------------------------------

    @r.post("/quotes", tags=["buyer"], summary="A stateless quote: priced lines for the caller's region and segment "
            "(nothing is held or stored)")
    def post_quote(body: QuoteBody, key: Any_) -> dict[str, Any]:
        if key.scope == "buyer":
            if body.region is not None and body.region != key.region:
                raise ApiError(403, "not_authorized_for_region",
                               f"your organisation buys in region {key.region}, not {body.region}", "region")
            if body.segment is not None and body.segment != key.segment:
                raise ApiError(403, "not_authorized_for_region",
                               "the segment is fixed by your key", "segment")
            if body.on is not None and body.on != today():
                raise ApiError(422, "malformed_message", "a buyer's quote is priced today (UTC); another pricing "
                                                         "date is for operators", "on")
            region, segment = key.region or "", key.segment or "standard"
            currency = body.currency or key.currency
            if body.currency and key.currency and body.currency != key.currency:
                raise ApiError(422, "unsupported_currency", f"your organisation buys in {key.currency}", "currency")
        else:
            if body.region is None:
                raise ApiError(422, "malformed_message", "an operator quote needs a region", "region")
            region, segment, currency = body.region, body.segment or "standard", body.currency
        if segment not in catalog.segments:
            raise ApiError(422, "unknown_segment", f"unknown segment {segment!r}", "segment")
        if catalog.book_for(region, currency) is None:
            if catalog.book_for(region) is None:
                raise ApiError(403, "not_authorized_for_region", f"region {region!r} is not served", "region")
            raise ApiError(422, "unsupported_currency", f"{currency} is not sold in region {region}", "currency")
        terms = body.payment_terms or policy.doc.global_.payment_terms.default
        for i, item in enumerate(body.items):
            if item.sku not in catalog.products:
                raise ApiError(404, "unknown_sku", unknown_sku(catalog, item.sku).message, f"items.{i}.sku")
        buyer = BuyerContext(region=region, currency=currency, segment=segment, payment_terms=terms,
                             on=body.on or today())
        # the lines priced together, deal-size rules seeing the whole order, as a negotiation prices an rfq's lines
        desk = Desk(catalog, policy, buyer, order=tuple((i.sku, i.quantity) for i in body.items))
        surfaces = []
        for i, item in enumerate(body.items):
            s = desk.surface(item.sku, item.quantity)
            if terms not in s.allowed_terms:
                raise ApiError(422, "payment_terms_not_allowed",
                               f"payment terms {terms} are not offered; choose one of {', '.join(s.allowed_terms)}",
                               "payment_terms")
            if item.quantity < s.moq or (s.max_order_quantity is not None and item.quantity > s.max_order_quantity):
                raise ApiError(422, "quantity_out_of_policy",
                               f"{item.sku}: order between {s.moq} and {s.max_order_quantity or 'any'} units",
                               f"items.{i}.quantity")
            surfaces.append(s)
        levels = store.inventory_levels()
        lines, total = [], Decimal(0)
        for s in surfaces:
            # the surface's list price: the price the seller opens at, never under the vendor's minimum for this
            # buyer (the quote does not say why, as a proposal does not)
            ln, unit = s.pricing, s.list_price
            line_total = unit * s.quantity
            total += line_total
            lines.append({"sku": s.sku, "name": catalog.products[s.sku].name, "quantity": str(s.quantity),
                          "unit_price": _dec(unit), "book_price": _dec(ln.list_price),
                          "discount_from_book_percent": _dec(round_percent(percent_of(ln.list_price - unit, ln.list_price))),
                          "line_total": _dec(line_total),
                          "lead_time_days": str(catalog.products[s.sku].capacity.lead_time_for(
                              s.quantity, levels.get(s.sku, 0))),
                          "rules_applied": list(ln.rules_applied)})
        return {"type": "quote", "currency": ln.currency, "region": ln.region, "segment": ln.segment,
                "payment_terms": ln.payment_terms, "on": ln.on.isoformat(), "items": lines,
                "total": _dec(total), "catalog_version": catalog.version,
                "binding": False, "note": "indicative list pricing; send an RFQ to get a proposal that holds stock"}

    # --- proposals and deals -------------------------------------------------------------

    @r.get("/proposals", tags=["buyer"], summary="Proposals (the latest version of each): a buyer sees its own")
    def list_proposals(key: Any_, status: Annotated[Literal["offered", "pending_approval", "superseded", "accepted",
                                                            "rejected"] | None, Query()] = None,
                       limit: Limit = 100) -> dict[str, Any]:
        rows = store.list_proposals(buyer_org=org_of(key), status=status, limit=limit)
        return {"data": [proposal_view(p) for p in rows]}

    @r.get("/proposals/{proposal_id}", tags=["buyer"], summary="One proposal (the current version, or ?version=)")
    def get_proposal(proposal_id: Id, key: Any_,
                     version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None) -> dict[str, Any]:
        org = org_of(key)
        p = store.get_proposal(proposal_id, version, buyer_org=org)
        if p is None:
            raise not_found("proposal", proposal_id if version is None else f"{proposal_id} version {version}",
                            "unknown_proposal", "proposal_id")
        return proposal_view(p, store.proposal_versions(proposal_id, buyer_org=org))

    @r.get("/deals", tags=["buyer"], summary="Deals: a buyer sees its own")
    def list_deals(key: Any_, limit: Limit = 100) -> dict[str, Any]:
        return {"data": [deal_view(d) for d in store.deals(buyer_org=org_of(key), newest_first=True, limit=limit)]}

    @r.get("/deals/{deal_id}", tags=["buyer"], summary="One deal")
    def get_deal(deal_id: Id, key: Any_) -> dict[str, Any]:
        d = store.get_deal(deal_id, buyer_org=org_of(key))
        if d is None:
            raise not_found("deal", deal_id, field="deal_id")
        return deal_view(d)

    @r.post("/proposals/{proposal_id}/accept", tags=["buyer"],
            summary="Accept a proposal version (send an Idempotency-Key to retry safely)",
            responses={409: {"description": "Conflict: superseded, expired, out of stock, or the same "
                                            "Idempotency-Key still in flight"},
                       504: {"description": "The turn timed out; retry with the same Idempotency-Key"}})
    async def accept(proposal_id: Id, body: AcceptBody, request: Request, key: Buyer_,
                     idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None
                     ) -> JSONResponse:
        org = key.org or ""

        async def handler() -> tuple[int, dict[str, Any]]:
            current = await ctx.run_turn(store.get_proposal, proposal_id, buyer_org=org)
            if current is None:
                raise not_found("proposal", proposal_id, "unknown_proposal", "proposal_id")
            existing = await ctx.run_turn(store.deal_for_proposal, proposal_id, buyer_org=org)
            if existing is not None and existing.version == body.version:  # accepted already: same answer
                return 200, {"negotiation_id": existing.negotiation_id, "deal": existing.body,
                             "text": f"Deal {existing.id} stands."}
            if body.version != current.version:  # said here: the seller's own error text can be lost (see report)
                if body.version > current.version:
                    raise ApiError(404, "unknown_proposal", f"proposal {proposal_id} has no version {body.version}",
                                   "version")
                raise ApiError(409, "proposal_superseded",
                               f"proposal {proposal_id} version {body.version} was superseded by version "
                               f"{current.version}", "version")
            if current.status == "pending_approval":
                raise ApiError(409, "approval_pending",
                               f"proposal {proposal_id} version {current.version} awaits the seller's approval; "
                               "wait for the next version", "version")
            if current.status != "offered":
                raise ApiError(409, "negotiation_closed", f"proposal {proposal_id} is {current.status}",
                               "proposal_id")
            if current.valid_until <= utcnow():
                raise ApiError(409, "proposal_expired", f"proposal {proposal_id} expired at "
                               f"{_iso(current.valid_until)}", "proposal_id")
            nid = current.negotiation_id
            reply = await ctx.run_turn_then(lambda late: ctx.publish_seller_turn(nid, late), seller.send, nid,
                                            data={"type": "accept", "proposal_id": proposal_id,
                                                  "version": body.version})
            await ctx.publish_seller_turn(nid, reply)
            data = reply.data or {}
            if data.get("type") == "deal":
                return 200, {"negotiation_id": nid, "deal": data, "text": reply.text}
            if data.get("type") == "error":
                raise from_wire_error(data)
            raise ApiError(409, "not_accepted", reply.text or "the proposal was not accepted")

        return await run_idempotent(ctx, owner=f"org:{org}", key=idempotency_key, method="POST",
                                    path=f"/v1/proposals/{proposal_id}/accept",
                                    body=body.model_dump(mode="json"), handler=handler)

    # --- operator --------------------------------------------------------------------------

    @r.get("/pricing/explain", tags=["operator"], summary="The policy decision surface for one line: list, "
           "target, floor, approval limits, with rule ids")
    def pricing_explain(key: Operator_, sku: Annotated[str, Query(min_length=1, max_length=64)],
                        qty: Annotated[int, Query(ge=1, le=10_000_000)],
                        region: Annotated[str, Query(min_length=1, max_length=16)] = "US",
                        segment: Annotated[str, Query(min_length=1, max_length=64)] = "standard",
                        currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
                        terms: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
                        date: Annotated[dt.date | None, Query()] = None) -> dict[str, Any]:
        if sku not in catalog.products:
            raise ApiError(404, "unknown_sku", unknown_sku(catalog, sku).message, "sku")
        buyer = BuyerContext(region=region, currency=currency, segment=segment,
                             payment_terms=terms or policy.doc.global_.payment_terms.default,
                             on=date or today())
        s = Desk(catalog, policy, buyer).surface(sku, qty)
        warnings = []
        if s.payment_terms not in s.allowed_terms:  # as `dealdesk policy explain` warns: figures nobody is offered
            warnings.append({"code": "payment_terms_not_allowed", "field": "terms",
                             "message": f"payment terms {s.payment_terms} are not allowed for {sku} (allowed: "
                                        f"{', '.join(s.allowed_terms)}): every offer on them is refused"})
        return {**units_as_strings(s.model_dump(mode="json")), "explanation": explain_quote(s), "warnings": warnings}

    validity = validity_days(catalog, policy)

    @r.get("/approvals", tags=["operator"], summary="Approval requests (newest first)")
    def list_approvals(key: Operator_,
                       status: Annotated[Literal["pending", "expired", "approved", "rejected", "edited", "canceled",
                                                 "all"] | None,
                                         Query(description="One status, or all (the default); pending: every "
                                                           "request not decided (those past their offers' validity "
                                                           "say expired); expired: only those")] = None,
                       limit: Limit = 100) -> dict[str, Any]:
        if status == "expired":  # pending in the store, told apart by its age (pending lists both, each saying which)
            views = [approval_view(a, validity) for a in store.approvals(status="pending", newest_first=True)]
            return {"data": [v for v in views if v["status"] == "expired"][:limit]}
        return {"data": [approval_view(a, validity) for a in store.approvals(
            status=None if status == "all" else status, newest_first=True, limit=limit)]}

    @r.get("/approvals/{approval_id}", tags=["operator"], summary="One approval request")
    def get_approval(approval_id: Id, key: Operator_) -> dict[str, Any]:
        a = store.get_approval(approval_id)
        if a is None:
            raise not_found("approval", approval_id, field="approval_id")
        return approval_view(a, validity)

    async def _decide(approval_id: str, decision: str, key: ApiKey, note: str | None,
                      prices: dict[str, str] | None = None) -> dict[str, Any]:
        a = await ctx.run_turn(store.get_approval, approval_id)
        if a is None:
            raise not_found("approval", approval_id, field="approval_id")
        if a.status != "pending":
            raise ApiError(409, "approval_not_pending", f"approval {approval_id} is already {a.status}",
                           "approval_id")
        try:
            check_authority(policy, catalog, key, a)
        except NotAuthorized as exc:
            raise ApiError(403, exc.code, exc.message, exc.field) from None
        by = f"{key.label or key.scope} ({key.id})"
        try:
            reply = await ctx.decide(approval_id, decision, by=by, note=note, prices=prices)
        except ApprovalNotPending as exc:
            raise ApiError(409, "approval_not_pending", exc.message, "approval_id") from None
        except DealdeskError as exc:
            status = 409 if exc.code in DECISION_CONFLICTS else 422
            raise ApiError(status, exc.code, exc.message, exc.field) from None
        after = await ctx.run_turn(store.get_approval, approval_id)
        return {"approval": approval_view(after or a, validity), "reply": _reply_view(reply)}

    @r.post("/approvals/{approval_id}/approve", tags=["operator"], summary="Approve: the better offer goes out",
            responses={409: {"description": "Not pending any more"}})
    async def approve(approval_id: Id, key: Operator_, body: DecisionBody | None = None) -> dict[str, Any]:
        return await _decide(approval_id, "approve", key, body.note if body else None)

    @r.post("/approvals/{approval_id}/reject", tags=["operator"], summary="Reject: the standing offer stays",
            responses={409: {"description": "Not pending any more"}})
    async def reject(approval_id: Id, key: Operator_, body: DecisionBody | None = None) -> dict[str, Any]:
        return await _decide(approval_id, "reject", key, body.note if body else None)

    @r.post("/approvals/{approval_id}/edit", tags=["operator"],
            summary="Approve with edited unit prices (within the level's limit)",
            responses={409: {"description": "Not pending any more"}})
    async def edit(approval_id: Id, body: EditBody, key: Operator_) -> dict[str, Any]:
        prices = {sku: format(p, "f") for sku, p in body.prices.items()}
        return await _decide(approval_id, "edit", key, body.note, prices)

    # --- inventory (operators): the live count that deals and holds move ---------------------------------------

    def level_view(lv: Any) -> dict[str, Any]:
        return {"sku": lv.sku, "on_hand": str(lv.on_hand), "allocated": str(lv.allocated), "held": str(lv.held),
                "available": str(lv.available), "updated_at": lv.updated_at}

    @r.get("/inventory", tags=["operator"], summary="The live stock count of each SKU: on hand, sold (allocated), "
           "held by standing offers, available")
    def list_inventory(key: Operator_, sku: Annotated[list[Sku] | None, Query(max_length=MAX_ITEMS)] = None
                       ) -> dict[str, Any]:
        return {"data": [level_view(lv) for lv in InventoryStore(store.engine).levels(sku)]}

    async def _stock_change(kind: str, sku: str, body: StockChangeBody, key: ApiKey,
                            idempotency_key: str | None) -> JSONResponse:
        made_to_order = {s for s, p in catalog.products.items() if p.inventory.made_to_order}

        async def handler() -> tuple[int, dict[str, Any]]:
            by = f"{key.label or key.scope} ({key.id})"  # as an approval's decider is named
            try:
                change = await ctx.run_turn(lambda: InventoryStore(store.engine).change(
                    kind, sku, body.quantity, by=by, note=body.note,  # type: ignore[arg-type]
                    skus=catalog.products.keys(), made_to_order=made_to_order))
            except DealdeskError as exc:
                raise ApiError(status_for_code(exc.code), exc.code, exc.message, exc.field) from None
            return 200, {"sku": change.sku, "change": change.kind, "quantity": str(body.quantity),
                         "by": change.by, "note": change.note, "at": change.at, "level": level_view(change.level)}

        # The stock is the vendor's, not one key's: an Idempotency-Key (an ERP's PO or delivery-note number, say)
        # receives the goods once whichever operator or admin key sends it again.
        return await run_idempotent(ctx, owner=INVENTORY_IDEMPOTENCY_OWNER, key=idempotency_key, method="POST",
                                    path=f"/v1/inventory/{sku}/{kind}", body=body.model_dump(mode="json"),
                                    handler=handler)

    IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]

    @r.post("/inventory/{sku}/receive", tags=["operator"],
            summary="Goods received: add units to the SKU's count (send an Idempotency-Key to retry safely)")
    async def receive_stock(sku: Annotated[str, Path(min_length=1, max_length=64)], body: StockChangeBody,
                            key: Operator_, idempotency_key: IdemKey = None) -> JSONResponse:
        return await _stock_change("receive", sku, body, key, idempotency_key)

    @r.post("/inventory/{sku}/remove", tags=["operator"],
            summary="Units lost, damaged or counted short: take them off the SKU's count, never units sold or held "
                    "(send an Idempotency-Key to retry safely)",
            responses={409: {"description": "More than is available (insufficient_inventory): nothing changed"}})
    async def remove_stock(sku: Annotated[str, Path(min_length=1, max_length=64)], body: StockChangeBody,
                           key: Operator_, idempotency_key: IdemKey = None) -> JSONResponse:
        return await _stock_change("remove", sku, body, key, idempotency_key)

    @r.get("/negotiations/{negotiation_id}", tags=["buyer"], summary="A negotiation, its proposals and deals: a "
           "buyer sees its own")
    def get_negotiation(negotiation_id: Id, key: Any_) -> dict[str, Any]:
        n = store.get_negotiation(negotiation_id, buyer_org=org_of(key))
        if n is None:
            raise not_found("negotiation", negotiation_id, field="negotiation_id")
        book = None if n.currency else catalog.book_for(n.region)  # a buyer with no currency of its own: its region's
        return {"negotiation_id": n.id, "buyer_org": n.buyer_org, "region": n.region, "segment": n.segment,
                "currency": n.currency or (book.currency if book else None), "status": n.status,
                "turn": n.turn,  # an ordinal, as versions are
                "current_proposal": n.current_proposal, "created_at": _iso(n.created_at),
                "updated_at": _iso(n.updated_at),
                "proposals": [proposal_view(p) for p in
                              store.list_proposals(negotiation_id=n.id, buyer_org=n.buyer_org)],
                "deals": [deal_view(d) for d in store.deals(negotiation_id=n.id)]}

    @r.get("/negotiations/{negotiation_id}/records", tags=["operator"],
           summary="The decision records of a negotiation (one per graph node and turn)")
    def get_records(negotiation_id: Id, key: Operator_) -> dict[str, Any]:
        if store.get_negotiation(negotiation_id) is None:
            raise not_found("negotiation", negotiation_id, field="negotiation_id")
        return {"negotiation_id": negotiation_id, "data": store.records(negotiation_id)}

    return r
