"""Load a policy file (YAML or JSON), all or nothing, checked against the catalog when given."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tools.catalog.models import Catalog
from tools.datafile import DataFileError, FileIssue, field_path, read_or_issue
from tools.policy.models import Policy, PolicyFile, PolicyRules
from tools.policy.resolve import resolve


class PolicyError(DataFileError):
    """A refused policy file, with every issue found in it."""


def _issues(exc: ValidationError, file: str) -> list[FileIssue]:
    out = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        row = ""
        if len(loc) >= 2 and loc[0] in ("categories", "products"):
            row, loc = f"{loc[0]}[{loc[1]}]", loc[2:]
        elif loc and loc[0] == "global":
            row, loc = "global", loc[1:]
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        out.append(FileIssue(file, row, field_path(loc), msg))
    return out


def _currencies_for(catalog: Catalog, skus: list[str]) -> set[str]:
    return {catalog.price_books[b].currency for s in skus for b in catalog.products[s].prices}


def cross_check(doc: PolicyFile, catalog: Catalog, file: str) -> list[FileIssue]:
    """References to unknown categories or SKUs, and per-currency money missing a currency."""
    issues = []
    scopes: list[tuple[str, PolicyRules, list[str]]] = [("global", doc.global_, list(catalog.products))]
    for cat, rules in doc.categories.items():
        skus = [s for s, p in catalog.products.items() if p.category == cat]
        if not skus:
            issues.append(FileIssue(file, f"categories[{cat}]", "", f"unknown category {cat!r}"))
        scopes.append((f"categories[{cat}]", rules, skus))
    for sku, rules in doc.products.items():
        if sku not in catalog.products:
            issues.append(FileIssue(file, f"products[{sku}]", "", f"unknown SKU {sku!r}"))
            continue
        scopes.append((f"products[{sku}]", rules, [sku]))
    policy = Policy(doc, source=file)
    for sku, product in catalog.products.items():
        eff = resolve(policy, sku, product.category)
        if eff.max_order_quantity is not None and eff.moq > eff.max_order_quantity:
            issues.append(FileIssue(file, f"products[{sku}]", "moq",
                                    f"MOQ {eff.moq} ({eff.source('moq')}) is above max_order_quantity "
                                    f"{eff.max_order_quantity} ({eff.source('max_order_quantity')})"))
    for row, rules, skus in scopes:
        needed = _currencies_for(catalog, skus)
        for field in ("floor_price", "target_price", "autonomy_max_deal_value"):
            money = getattr(rules, field)
            if money is None:
                continue
            for cur in sorted(needed - set(money)):
                issues.append(FileIssue(file, row, f"{field}.{cur}", f"missing amount in {cur}"))
    return issues


def parse_policy(data: Any, *, file: str = "<memory>", catalog: Catalog | None = None) -> Policy:
    if not isinstance(data, dict):
        raise PolicyError([FileIssue(file, "", "", "the file must hold a mapping at the top level")])
    try:
        doc = PolicyFile.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(_issues(exc, file)) from None
    if catalog is not None:
        issues = cross_check(doc, catalog, file)
        if issues:
            raise PolicyError(issues)
    return Policy(doc, source=file)


def load_policy(path: str | Path, catalog: Catalog | None = None) -> Policy:
    """Load and validate a policy file; with `catalog`, also check its references."""
    path = Path(path)
    try:
        data, _ = read_or_issue(path, (".yaml", ".yml", ".json"))
    except DataFileError as exc:
        raise PolicyError(exc.issues) from None
    return parse_policy(data, file=str(path), catalog=catalog)


class PolicyHolder:
    """The policy in force. A failed reload leaves the previous one in place."""

    def __init__(self, policy: Policy | None = None):
        self._policy = policy
        self._lock = threading.Lock()

    @property
    def policy(self) -> Policy:
        if self._policy is None:
            raise RuntimeError("no policy loaded")
        return self._policy

    def load(self, path: str | Path, catalog: Catalog | None = None) -> Policy:
        fresh = load_policy(path, catalog)
        with self._lock:
            self._policy = fresh
        return fresh
