"""API keys: created once, shown once, stored as a sha256 digest, revoked, never updated.

A key is `dd_<scope>_<random>`. Keys carry 256 bits of randomness, so a fast
hash is enough (as GitHub and Stripe do for tokens): a stolen table does not
give the keys back, and a lookup is one indexed equality. Each buyer key is
bound to one buyer organisation, with the region, segment and currency it
buys in; operator and admin keys are bound to no organisation.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from agent.store import schema as t
from agent.store.db import transaction, utcnow
from tools.errors import DealdeskError

Scope = Literal["buyer", "operator", "admin"]
SCOPES: tuple[Scope, ...] = ("buyer", "operator", "admin")


class ApiKeyError(DealdeskError):
    """A key that cannot be created or revoked as asked."""


@dataclass(frozen=True)
class ApiKey:
    """A key as the server sees it after authentication (never the key text itself)."""

    id: str
    scope: Scope
    prefix: str
    org: str | None = None
    region: str | None = None
    segment: str | None = None
    currency: str | None = None
    label: str | None = None
    revoked: bool = False
    approval_level: str | None = None  # operator keys: the highest approval level they decide (none: any)

    def allows(self, scope: Scope) -> bool:
        """admin > operator > buyer for server endpoints; a buyer key is only a buyer."""
        if scope == "buyer":
            return self.scope == "buyer"
        return SCOPES.index(self.scope) >= SCOPES.index(scope)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key_text(scope: Scope) -> str:
    return f"dd_{scope}_{secrets.token_urlsafe(32)}"


def key_from_row(r) -> ApiKey:
    """A dd_api_keys row as the key the server sees."""
    return ApiKey(id=r.id, scope=r.scope, prefix=r.prefix, org=r.org, region=r.region, segment=r.segment,
                  currency=r.currency, label=r.label, revoked=r.revoked_at is not None,
                  approval_level=r.approval_level)


class KeyStore:
    """The dd_api_keys table (same database as the rest of the state)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def create(self, scope: Scope, *, org: str | None = None, region: str | None = None,
               segment: str | None = None, currency: str | None = None, label: str | None = None,
               key: str | None = None, approval_level: str | None = None) -> tuple[ApiKey, str]:
        """A new key; returns it and its text, which is never stored and cannot be shown again.

        `key` sets the text (demo keys, imports); it must be long enough to be a secret.
        """
        if scope not in SCOPES:
            raise ApiKeyError(f"scope must be one of {', '.join(SCOPES)}", code="malformed_message", field="scope")
        if scope == "buyer" and not (org and region):
            raise ApiKeyError("a buyer key needs an organisation and a region", code="malformed_message",
                            field="org" if not org else "region")
        if scope != "buyer" and org:
            raise ApiKeyError("only buyer keys belong to an organisation", code="malformed_message", field="org")
        if approval_level is not None and scope != "operator":
            raise ApiKeyError("only operator keys have an approval level", code="malformed_message", field="level")
        text = key or new_key_text(scope)
        if len(text) < 16:
            raise ApiKeyError("a key must have at least 16 characters", code="malformed_message", field="key")
        kid = "key_" + secrets.token_hex(8)
        with transaction(self.engine) as conn:
            if conn.execute(select(t.api_keys.c.id).where(t.api_keys.c.hash == digest(text))).first():
                raise ApiKeyError("this key exists already", code="malformed_message", field="key")
            conn.execute(insert(t.api_keys).values(
                id=kid, hash=digest(text), prefix=text[:12], scope=scope, org=org, region=region,
                segment=segment if scope == "buyer" else None, currency=currency, label=label, created_at=utcnow(),
                approval_level=approval_level))
        return ApiKey(id=kid, scope=scope, prefix=text[:12], org=org, region=region,
                      segment=segment if scope == "buyer" else None, currency=currency, label=label,
                      approval_level=approval_level), text

    def ensure(self, key: str, scope: Scope, **kw: str | None) -> ApiKey:
        """The key with this text, created if missing (demo keys are the same on every start)."""
        found = self.authenticate(key, include_revoked=True)
        if found is not None:
            return found
        try:
            return self.create(scope, key=key, **kw)[0]
        except (IntegrityError, ApiKeyError):  # another process created it at the same moment (several start at once)
            found = self.authenticate(key, include_revoked=True)
            if found is None:
                raise
            return found

    def authenticate(self, key: str | None, *, include_revoked: bool = False) -> ApiKey | None:
        """The live key with this text, or None."""
        if not key:
            return None
        with self.engine.connect() as conn:
            r = conn.execute(select(t.api_keys).where(t.api_keys.c.hash == digest(key))).first()
        if r is None or (r.revoked_at is not None and not include_revoked):
            return None
        return key_from_row(r)

    def list(self, *, include_revoked: bool = False) -> list[ApiKey]:
        q = select(t.api_keys).order_by(t.api_keys.c.created_at, t.api_keys.c.id)
        if not include_revoked:
            q = q.where(t.api_keys.c.revoked_at.is_(None))
        with self.engine.connect() as conn:
            return [key_from_row(r) for r in conn.execute(q)]

    def revoke(self, key_id: str) -> ApiKey:
        with transaction(self.engine) as conn:
            conn.execute(update(t.api_keys).where(t.api_keys.c.id == key_id, t.api_keys.c.revoked_at.is_(None))
                         .values(revoked_at=utcnow()))
            r = conn.execute(select(t.api_keys).where(t.api_keys.c.id == key_id)).first()
        if r is None:
            raise ApiKeyError(f"no key {key_id}", code="malformed_message", field="key_id")
        return key_from_row(r)
