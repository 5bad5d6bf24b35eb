"""Typed errors shared by the catalog, pricing, policy and proposal layers.

Each error carries a stable machine `code` (the wire contract's error codes)
and, where one field is to blame, that `field`, so callers never parse prose.
"""

from __future__ import annotations


class DealdeskError(Exception):
    """Base of every error the domain layer raises on purpose."""

    code = "internal_error"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, str]:
        out = {"code": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


class UnknownSku(DealdeskError):
    code = "unknown_sku"


class InvalidQuantity(DealdeskError):
    code = "invalid_quantity"


class UnknownCategory(DealdeskError):
    code = "unknown_category"


class UnsupportedCurrency(DealdeskError):
    code = "unsupported_currency"


class RegionNotServed(DealdeskError):
    code = "not_authorized_for_region"


class UnknownSegment(DealdeskError):
    code = "unknown_segment"


class TermsNotAllowed(DealdeskError):
    code = "payment_terms_not_allowed"


class RuleConflict(DealdeskError):
    """Two matching rules of equal priority disagree; never resolved silently."""

    code = "rule_conflict"

    def __init__(self, message: str, rule_ids: tuple[str, str], *, field: str | None = None):
        super().__init__(message, field=field)
        self.rule_ids = rule_ids


class InsufficientInventory(DealdeskError):
    code = "insufficient_inventory"
