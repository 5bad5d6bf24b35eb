"""One JSON error envelope for every answer that is not a success, in Stripe's manner:

    {"error": {"type": "invalid_request_error", "code": "unknown_sku", "message": "...", "field": "items.0.sku"}}

`type` is the broad class (invalid_request_error, authentication_error, permission_error,
not_found_error, conflict_error, idempotency_error, rate_limit_error, timeout_error,
api_error); `code` is the wire contract's error code where one applies
(agent.contract.ErrorCode), else a stable server code; `field` names the input to blame.

Every exception a handler can meet is mapped here, so bad input never becomes a 500.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent.server.a2a_card import JSONRPC_ALIAS, JSONRPC_PATH
from agent.server.auth import AuthError
from agent.server.context import TurnTimeout
from tools.datafile import DataFileError
from tools.errors import DealdeskError

JSONRPC_PATHS = frozenset({JSONRPC_PATH.rstrip("/"), JSONRPC_ALIAS.rstrip("/")})  # the A2A JSON-RPC endpoint
log = logging.getLogger("dealdesk.server")

# Wire error code -> HTTP status for domain errors raised by the seller or the tools.
CODE_STATUS: dict[str, int] = {
    "unknown_sku": 404,
    "unknown_proposal": 404,
    "not_found": 404,
    "invalid_quantity": 422,
    "insufficient_inventory": 409,
    "unsupported_currency": 422,
    "proposal_expired": 409,
    "proposal_superseded": 409,
    "malformed_message": 422,
    "not_authorized_for_region": 403,
    "payment_terms_not_allowed": 422,
    "quantity_out_of_policy": 422,
    "hold_limit_exceeded": 409,
    "negotiation_closed": 409,
    "unknown_segment": 422,
    "rule_conflict": 409,
    "no_valid_offer": 409,
    "approval_not_pending": 409,
    "not_authorized_for_level": 403,
    "approval_expired": 409,
    "policy_refused": 422,
    "internal_error": 500,
}

# FastAPI's detail when reading a request body raised (anything but a JSON decode error, which is a validation error)
BODY_PARSE_ERROR = "There was an error parsing the body"

# An operator's decision refused as in conflict with the negotiation's state (409); its other refusals are 422.
DECISION_CONFLICTS = ("no_valid_offer", "negotiation_closed", "approval_expired")

STATUS_TYPE: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    406: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    504: "timeout_error",
}


def error_type(status: int) -> str:
    return STATUS_TYPE.get(status, "api_error" if status >= 500 else "invalid_request_error")


def envelope(status: int, code: str, message: str, field: str | None = None, *,
             type_: str | None = None) -> dict[str, Any]:
    return {"error": {"type": type_ or error_type(status), "code": code, "message": message, "field": field}}


def error_response(status: int, code: str, message: str, field: str | None = None, *,
                   headers: dict[str, str] | None = None, type_: str | None = None) -> JSONResponse:
    return JSONResponse(envelope(status, code, message, field, type_=type_), status_code=status, headers=headers)


def envelope_bytes(status: int, code: str, message: str, field: str | None = None, *, jsonrpc: bool = False) -> bytes:
    """The envelope as bytes, for pure-ASGI answers (limits middleware); `jsonrpc`: as a JSON-RPC error."""
    body = jsonrpc_error(status, code, message, field) if jsonrpc else envelope(status, code, message, field)
    return json.dumps(body, separators=(",", ":")).encode()


# JSON-RPC 2.0's own code where one fits (a body that is no JSON text: Parse error; too large or too deep, a
# malformed header: Invalid Request), else one of the range it leaves to servers, as the A2A spec's errors are.
_JSONRPC_CODE = {400: -32600, 413: -32600, 500: -32603}  # else -32000, "server error"


def jsonrpc_error(status: int, code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """A refusal before the JSON-RPC request was read (its size, the rate, the API key), in the shape a JSON-RPC
    client parses: `id` null, as JSON-RPC 2.0 says when the request's id cannot be known. The HTTP status stays
    what it is (413, 429, 401...); `error.data` carries the envelope's type, code and field."""
    return {"jsonrpc": "2.0", "id": None,
            "error": {"code": -32700 if code == "malformed_json" else _JSONRPC_CODE.get(status, -32000),
                      "message": message,
                      "data": {"type": error_type(status), "code": code, "field": field, "status": status}}}


class ApiError(Exception):
    """An error a REST handler raises on purpose: status, code, message, field."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None, *,
                 headers: dict[str, str] | None = None, type_: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers
        self.type_ = type_

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.message, self.field, headers=self.headers,
                              type_=self.type_)


def not_found(what: str, ident: str, code: str = "not_found", field: str | None = None) -> ApiError:
    return ApiError(404, code, f"no {what} {ident}", field)


def status_for_code(code: str) -> int:
    return CODE_STATUS.get(code, 422)


def from_wire_error(data: dict[str, Any]) -> ApiError:
    """A seller `error` data part (agent.contract.Error) as an API error."""
    code = str(data.get("code") or "internal_error")
    return ApiError(status_for_code(code), code, str(data.get("message") or code), data.get("field"))


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str | None:
    parts = [str(p) for p in loc if not str(p).startswith("function-")]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:] if len(parts) > 1 else parts
    return ".".join(parts) or None


def validation_code(err: dict[str, Any]) -> str:
    loc = [str(p) for p in err.get("loc", ())]
    if err.get("type") == "json_invalid":
        return "malformed_json"
    if loc and loc[-1] in ("quantity", "qty"):
        return "invalid_quantity"
    if loc and loc[-1] == "currency":
        return "unsupported_currency"
    return "malformed_message"


def _validation_message(errors: list[dict[str, Any]]) -> str:
    first = errors[0]
    field = _field_of(first.get("loc", ()))
    msg = str(first.get("msg", "invalid"))
    extra = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return (f"{field}: {msg}" if field else msg) + extra


def validation_response(errors: list[dict[str, Any]]) -> JSONResponse:
    if not errors:
        return error_response(422, "malformed_message", "the request could not be read")
    first = errors[0]
    code = validation_code(first)
    if code == "malformed_json":  # FastAPI's msg is "JSON decode error"; the decoder's own words say what is wrong
        why = (first.get("ctx") or {}).get("error") or first.get("msg", "")
        loc = first.get("loc") or ()
        at = f" at character {loc[-1]}" if len(loc) > 1 and isinstance(loc[-1], int) else ""
        return error_response(400, "malformed_json", f"the body is not valid JSON: {why}{at}".strip())
    return error_response(422, code, _validation_message(errors), _field_of(first.get("loc", ())))


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into the envelope."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(AuthError)
    async def _auth(_: Request, exc: AuthError) -> JSONResponse:
        return JSONResponse(exc.envelope(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        if isinstance(exc.body, bytes | bytearray) and exc.body.strip():
            # FastAPI reads a body as JSON only when its Content-Type says so: a JSON body sent as text/plain, or
            # with curl -d's default application/x-www-form-urlencoded, or with none, was refused 422 "body: Input
            # should be a valid dictionary", blaming a body that was fine
            sent = request.headers.get("content-type")
            said = f"the Content-Type was {sent!r}" if sent else "no Content-Type was sent"
            return error_response(415, "unsupported_media_type",
                                  f"send the body as JSON with Content-Type: application/json ({said})", "Content-Type")
        return validation_response(list(exc.errors()))

    @app.exception_handler(ValidationError)
    async def _pydantic(_: Request, exc: ValidationError) -> JSONResponse:
        return validation_response(list(exc.errors()))

    @app.exception_handler(DealdeskError)
    async def _domain(_: Request, exc: DealdeskError) -> JSONResponse:
        return error_response(status_for_code(exc.code), exc.code, exc.message, exc.field)

    @app.exception_handler(DataFileError)
    async def _datafile(_: Request, exc: DataFileError) -> JSONResponse:
        return error_response(422, "malformed_message", str(exc))

    @app.exception_handler(TurnTimeout)
    async def _timeout(_: Request, exc: TurnTimeout) -> JSONResponse:
        return error_response(504, "turn_timeout", f"{exc}; the turn may still complete: read the resource again "
                              "or retry with the same Idempotency-Key")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        code = {404: "not_found", 405: "method_not_allowed", 406: "not_acceptable",
                413: "request_too_large", 415: "unsupported_media_type"}.get(status, f"http_{status}")
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail, default=str)
        if status == 400 and detail == BODY_PARSE_ERROR:
            # FastAPI's answer to a body its JSON parser raised on with something other than a decode error (a
            # number of more digits than Python converts): the body could not be read, as for any malformed JSON
            cause = exc.__cause__
            why = f": {str(cause).split(';')[0].splitlines()[0]}" \
                if isinstance(cause, ValueError) and str(cause).strip() else ""
            return error_response(400, "malformed_json", f"the body could not be read as JSON{why}")
        return error_response(status, code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(RecursionError)
    async def _recursion(_: Request, exc: RecursionError) -> JSONResponse:
        return error_response(400, "json_too_deep", "the document is nested too deeply")

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        if request.method == "POST" and request.url.path.rstrip("/") in JSONRPC_PATHS:  # in the binding's own shape
            return JSONResponse(jsonrpc_error(500, "internal_error", "an internal error occurred; it has been logged"),
                                status_code=500)
        return error_response(500, "internal_error", "an internal error occurred; it has been logged")
