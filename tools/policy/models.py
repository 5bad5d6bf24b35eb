"""The negotiation policy (the vendor's sales playbook) as data.

The same `PolicyRules` block can be written at three levels: global, per
category and per product. For each setting the most specific level that
writes it wins. Floor (`floor_price` / `min_margin_percent`) and target
(`target_price` / `target_discount_percent`) are each one setting written
either way, so a product's floor replaces the category's margin rule rather
than stacking on it.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from tools.datafile import refuse_bool
from tools.types import Count, CurrencyCode, Dec, DiscountPercent, Ident, Price

Scope = Literal["global", "category", "product"]

_NOT_A_PERCENT = BeforeValidator(refuse_bool('a percentage; write a decimal string such as "15"'))
Percentage = Annotated[Dec, _NOT_A_PERCENT]
DiscountPercentage = Annotated[DiscountPercent, _NOT_A_PERCENT]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApprovalLevel(_Strict):
    """Offers up to `max_discount_percent` off list may be granted at this level."""

    name: Ident
    max_discount_percent: DiscountPercentage


class PaymentTerms(_Strict):
    allowed: tuple[Ident, ...] = Field(min_length=1)
    default: Ident

    @model_validator(mode="after")
    def _default_allowed(self) -> PaymentTerms:
        if self.default not in self.allowed:
            raise ValueError(f"default terms {self.default!r} are not among the allowed terms")
        return self


class PolicyRules(_Strict):
    """Every setting of the playbook; absent means inherit from the wider level."""

    floor_price: dict[CurrencyCode, Price] | None = None
    min_margin_percent: Percentage | None = Field(default=None, ge=0, lt=100,
                                                  description="Gross margin on the price: floor = cost / (1 - m)")
    target_price: dict[CurrencyCode, Price] | None = None
    target_discount_percent: DiscountPercentage | None = None
    max_discount_percent: DiscountPercentage | None = None
    approval_chain: tuple[ApprovalLevel, ...] | None = Field(default=None, min_length=1)
    payment_terms: PaymentTerms | None = None
    non_negotiable_terms: dict[Ident, str] | None = None
    moq: Count | None = Field(default=None, ge=1)
    max_order_quantity: Count | None = Field(default=None, ge=1)
    proposal_validity_days: Count | None = Field(default=None, ge=1, le=365)
    max_rounds: Count | None = Field(default=None, ge=1, le=100)
    max_hold_units: Count | None = Field(default=None, ge=1,
                                         description="Most units one buyer organisation may hold in open proposals")
    max_hold_percent_of_stock: DiscountPercentage | None = None
    autonomous: bool | None = Field(default=None, description="Whether the bot may close deals here alone")
    autonomy_max_deal_value: dict[CurrencyCode, Price] | None = None

    @field_validator("approval_chain")
    @classmethod
    def _ascending(cls, chain: tuple[ApprovalLevel, ...] | None) -> tuple[ApprovalLevel, ...] | None:
        """A field check, so that the issue names the field `approval_chain` (and each level by its index)."""
        for i, (prev, level) in enumerate(zip(chain or (), (chain or ())[1:], strict=False)):
            if level.max_discount_percent <= prev.max_discount_percent:
                raise ValueError(
                    f"level {level.name!r} must allow more than {prev.name!r} "
                    f"({level.max_discount_percent} <= {prev.max_discount_percent}): levels [{i}] and [{i + 1}] "
                    "must ascend")
        names = [lv.name for lv in chain or ()]
        if len(set(names)) != len(names):
            raise ValueError("level names must be unique")
        return chain

    @model_validator(mode="after")
    def _consistent(self) -> PolicyRules:
        # Each message starts with the field it is reported at (`FIELD: ...`), which the loader reads.
        chain = self.approval_chain
        cap = self.max_discount_percent
        if chain and cap is not None and chain[-1].max_discount_percent > cap:
            raise ValueError(
                f"approval_chain: level {chain[-1].name!r} allows {chain[-1].max_discount_percent}%, "
                f"beyond max_discount_percent {self.max_discount_percent}")
        if self.target_discount_percent is not None and self.max_discount_percent is not None \
                and self.target_discount_percent > self.max_discount_percent:
            raise ValueError("target_discount_percent: is beyond max_discount_percent")
        if self.moq is not None and self.max_order_quantity is not None and self.moq > self.max_order_quantity:
            raise ValueError("moq: is above max_order_quantity")
        return self


# Settings that are written one of two ways and inherited as one.
GROUPS: dict[str, tuple[str, ...]] = {
    "floor": ("floor_price", "min_margin_percent"),
    "target": ("target_price", "target_discount_percent"),
}
SETTINGS: tuple[str, ...] = tuple(
    name for name in PolicyRules.model_fields if not any(name in g for g in GROUPS.values())
)

# What the global level must settle, so that every product has a complete policy.
REQUIRED_GLOBAL = ("approval_chain", "payment_terms", "proposal_validity_days", "max_rounds")


class PolicyFile(_Strict):
    version: Literal[1] = 1
    name: str = "policy"
    # `global` is a Python keyword, hence the alias.
    global_: PolicyRules = Field(alias="global")
    categories: dict[Ident, PolicyRules] = Field(default_factory=dict)
    products: dict[Ident, PolicyRules] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _global_complete(self) -> PolicyFile:
        missing = [name for name in REQUIRED_GLOBAL if getattr(self.global_, name) is None]
        if missing:
            raise ValueError(f"{missing[0]}: global policy must set {', '.join(missing)}")
        return self


class Policy:
    """A validated policy with its content digest as version."""

    def __init__(self, doc: PolicyFile, *, source: str = "<memory>"):
        self.doc = doc
        self.source = source

    @cached_property
    def version(self) -> str:
        canonical = json.dumps(self.doc.model_dump(mode="json", by_alias=True, exclude_none=True),
                               sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    def levels(self, sku: str, category: str) -> list[tuple[str, PolicyRules]]:
        """(rule-id prefix, rules) from most to least specific."""
        out = []
        if sku in self.doc.products:
            out.append((f"policy.products[{sku}]", self.doc.products[sku]))
        if category in self.doc.categories:
            out.append((f"policy.categories[{category}]", self.doc.categories[category]))
        out.append(("policy.global", self.doc.global_))
        return out
