"""Merge the policy levels for one product: the most specific level wins, setting by setting.

The result remembers where each setting came from (its rule id, e.g.
`policy.categories[motors].approval_chain`), so every decision can name the
rule behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from weakref import WeakKeyDictionary

from tools.policy.models import GROUPS, SETTINGS, ApprovalLevel, PaymentTerms, Policy


@dataclass(frozen=True)
class EffectivePolicy:
    """The complete policy for one product, with the source of each setting."""

    floor_price: dict[str, Decimal] | None
    min_margin_percent: Decimal | None
    target_price: dict[str, Decimal] | None
    target_discount_percent: Decimal | None
    max_discount_percent: Decimal
    approval_chain: tuple[ApprovalLevel, ...]
    payment_terms: PaymentTerms
    non_negotiable_terms: dict[str, str]
    moq: int
    max_order_quantity: int | None
    proposal_validity_days: int
    max_rounds: int
    max_hold_units: int | None
    max_hold_percent_of_stock: Decimal | None
    autonomous: bool
    autonomy_max_deal_value: dict[str, Decimal] | None
    sources: dict[str, str]

    def source(self, setting: str) -> str:
        return self.sources.get(setting, "policy.default")


# policy -> (sku with its own rules, or None; category) -> merge. A loaded policy never changes (a reload
# is a new object), and weak keys let a replaced policy take its merges with it.
_MERGED: WeakKeyDictionary[Policy, dict[tuple[str | None, str], EffectivePolicy]] = WeakKeyDictionary()


def resolve(policy: Policy, sku: str, category: str) -> EffectivePolicy:
    """Field-by-field merge of product, category and global policy.

    Memoised per policy: a product without rules of its own shares its category's merge, so the memo
    holds one merge per category and per product the policy names, however large the catalog."""
    key = (sku if sku in policy.doc.products else None, category)
    merged = _MERGED.setdefault(policy, {})
    found = merged.get(key)
    if found is None:
        found = merged[key] = _merge(policy, sku, category)
    return found


def _merge(policy: Policy, sku: str, category: str) -> EffectivePolicy:
    levels = policy.levels(sku, category)
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    for group, names in GROUPS.items():
        for prefix, rules in levels:
            written = [n for n in names if getattr(rules, n) is not None]
            if written:
                for n in names:
                    values[n] = getattr(rules, n)
                sources[group] = f"{prefix}.{written[0]}" if len(written) == 1 else f"{prefix}.{group}"
                for n in written:
                    sources[n] = f"{prefix}.{n}"
                break
        else:
            for n in names:
                values[n] = None
    for name in SETTINGS:
        for prefix, rules in levels:
            value = getattr(rules, name)
            if value is not None:
                values[name] = value
                sources[name] = f"{prefix}.{name}"
                break
        else:
            values[name] = None
    chain = values["approval_chain"]
    assert chain is not None, "the global policy always sets approval_chain"
    if values["max_discount_percent"] is None:
        values["max_discount_percent"] = chain[-1].max_discount_percent
        sources["max_discount_percent"] = sources["approval_chain"]
    else:
        # A wider chain from a wider level is cut at this level's maximum discount.
        # The first level past the cap keeps its name with the cap as its limit.
        cap = values["max_discount_percent"]
        kept = [lv for lv in chain if lv.max_discount_percent < cap]
        above = [lv for lv in chain if lv.max_discount_percent >= cap]
        if above:
            kept.append(ApprovalLevel(name=above[0].name, max_discount_percent=cap))
        else:
            # A cap above the chain's last level is no limit: the chain is (no level may grant more), so the
            # figure is credited to the chain, not to the setting that wrote a higher one (`policy validate` warns).
            sources["max_discount_percent"] = sources["approval_chain"]
        values["approval_chain"] = tuple(kept)
        values["max_discount_percent"] = kept[-1].max_discount_percent
    defaults = {"non_negotiable_terms": {}, "moq": 1, "autonomous": True}
    for name, default in defaults.items():
        if values[name] is None:
            values[name] = default
    return EffectivePolicy(**values, sources=sources)  # type: ignore[arg-type]
