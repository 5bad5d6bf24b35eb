"""Who may decide an approval: an operator key's approval level against the level the request needs.

The policy's approval chain orders its levels (auto, manager, director, ...); a request names the level its
offer needs. An operator key created with a level (`dealdesk keys create --scope operator --level manager`)
decides requests up to that level in the chain of every product the request prices; a key without one, and
an admin key, decide any (as before levels existed on keys). The CLI works on the database itself and is not
bound by a key: `--by` names who decided.
"""

from __future__ import annotations

from typing import Any

from tools.errors import DealdeskError
from tools.policy.resolve import resolve


class NotAuthorized(DealdeskError):
    """The key's approval level is below the level the request needs."""

    code = "not_authorized_for_level"


def chain_names(policy: Any, catalog: Any, sku: str) -> tuple[str, ...]:
    """The approval chain's level names, lowest first, for one product."""
    product = catalog.products.get(sku)
    category = product.category if product is not None else ""
    return tuple(level.name for level in resolve(policy, sku, category).approval_chain)


def known_levels(policy: Any, catalog: Any) -> tuple[str, ...]:
    """Every level name some product's chain has, in the order first seen (for `keys create --level`)."""
    seen: dict[str, None] = {}
    for sku in catalog.products:
        for name in chain_names(policy, catalog, sku):
            seen.setdefault(name, None)
    return tuple(seen)


def check_authority(policy: Any, catalog: Any, key: Any, approval: Any) -> None:
    """Raise `NotAuthorized` when the API key `key` may not decide the approval request `approval` (its level, and
    its requested lines, each with its `sku` and the `approval_level` its own discount needs).

    A line needs the higher of the request's level and its own discount's, where the product's chain has them: a
    request filed while autonomy was paused is at level "operator" (no chain has it), yet a 32% discount on it
    still needs a director."""
    key_level, needed = key.approval_level, approval.level
    if key.scope == "admin" or key_level is None:
        return
    for move in (approval.requested or {}).get("moves") or ():
        sku = move.get("sku", "")
        names = chain_names(policy, catalog, sku)
        ranks = [names.index(n) for n in (needed, move.get("approval_level")) if n in names]
        if not ranks:
            continue
        need = max(ranks)
        if key_level not in names or names.index(key_level) < need:
            raise NotAuthorized(f"this key decides up to level {key_level}; the request needs {names[need]} for "
                                f"{sku} ({' < '.join(names)})", field="approval_id")
