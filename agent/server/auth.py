"""API-key authentication shared by REST and A2A: `Authorization: Bearer <key>`.

- No key, a malformed header, an unknown or revoked key: 401 with
  `WWW-Authenticate: Bearer realm="dealdesk"` (plus `error="invalid_token"` when a key
  was given but is not valid), as RFC 6750 describes.
- A valid key without the scope an endpoint needs: 403.

`principal_from_header(ctx, header)` is the one entry point; the REST layer wraps it in
FastAPI dependencies (`require_buyer`, `require_operator`, ...), the A2A layer calls it
directly and turns `AuthError` into its own answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.store.keys import ApiKey, Scope

if TYPE_CHECKING:
    from agent.server.context import ServerContext

REALM = "dealdesk"
MAX_HEADER_CHARS = 512  # a key is ~50 characters; anything far longer is not a key


class AuthError(Exception):
    """Authentication (401) or authorisation (403) failed.

    `headers` carries `WWW-Authenticate` for a 401; `code` is a stable machine code
    (missing_api_key, invalid_api_key, insufficient_scope).
    """

    def __init__(self, status: int, code: str, message: str, *, invalid_token: bool = False):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        if status == 401:
            challenge = f'Bearer realm="{REALM}"'
            if invalid_token:
                challenge += ', error="invalid_token"'
            self.headers: dict[str, str] = {"WWW-Authenticate": challenge}
        elif status == 403:
            self.headers = {"WWW-Authenticate": f'Bearer realm="{REALM}", error="insufficient_scope"'}
        else:
            self.headers = {}

    @property
    def type(self) -> str:
        return "authentication_error" if self.status == 401 else "permission_error"

    def envelope(self) -> dict[str, Any]:
        return {"error": {"type": self.type, "code": self.code, "message": self.message, "field": None}}


def bearer_token(authorization_header: str | None) -> str:
    """The key text from an Authorization header, or AuthError(401)."""
    if authorization_header is None or not authorization_header.strip():
        raise AuthError(401, "missing_api_key", "an API key is required: send 'Authorization: Bearer <key>'")
    if len(authorization_header) > MAX_HEADER_CHARS:
        raise AuthError(401, "invalid_api_key", "the API key is not valid", invalid_token=True)
    scheme, _, token = authorization_header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise AuthError(401, "invalid_api_key", "use 'Authorization: Bearer <key>'", invalid_token=True)
    return token


def principal_from_header(ctx: ServerContext, authorization_header: str | None,
                          scope: Scope | None = None) -> ApiKey:
    """The live API key named by an `Authorization: Bearer <key>` header.

    Raises AuthError(401) when the header is missing or malformed, or the key is unknown or
    revoked; AuthError(403) when `scope` is given and the key does not allow it (admin >
    operator; a buyer key is only a buyer, and operator/admin keys are not buyers).
    """
    token = bearer_token(authorization_header)
    key = ctx.keys.authenticate(token)
    if key is None:
        raise AuthError(401, "invalid_api_key", "the API key is not valid (unknown or revoked)", invalid_token=True)
    if scope is not None:
        require_scope(key, scope)
    return key


def require_scope(key: ApiKey, scope: Scope) -> ApiKey:
    """The key if it allows `scope`, else AuthError(403)."""
    if not key.allows(scope):
        raise AuthError(403, "insufficient_scope", f"this endpoint needs {_a(scope)} key; this is {_a(key.scope)} key")
    return key


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word
