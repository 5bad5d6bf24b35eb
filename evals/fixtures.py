"""Catalog and policy for a case: files (relative to the repository) plus inline overrides, cached per process."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from agent.config import EXAMPLES, PROJECT_ROOT
from evals.case import Fixture
from tools.catalog.loader import load_catalog, parse_catalog
from tools.catalog.models import Catalog
from tools.datafile import read_structured
from tools.policy.loader import load_policy, parse_policy
from tools.policy.models import Policy

DEFAULT_CATALOG = EXAMPLES / "catalog.yaml"
DEFAULT_POLICY = EXAMPLES / "policy.yaml"


class FixtureError(ValueError):
    pass


def resolve_path(path: str | None, default: Path) -> Path:
    if path is None:
        return default
    p = Path(path)
    return p if p.is_absolute() else PROJECT_ROOT / p


def deep_merge(base: Any, patch: Any) -> Any:
    """Dicts merge key by key (a None value removes the key); anything else is replaced."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif key in out:
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _merge_catalog(data: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    patch = dict(patch)
    products = patch.pop("products", None)
    out = deep_merge(data, patch)
    if products:
        listed = {p["sku"]: i for i, p in enumerate(out["products"])}
        new_list = list(out["products"])
        for sku, fields in products.items():
            if sku not in listed:
                raise FixtureError(f"catalog_overrides: no product {sku!r} in the catalog")
            new_list[listed[sku]] = deep_merge(new_list[listed[sku]], fields)
        out["products"] = new_list
    return out


@lru_cache(maxsize=8)
def _raw(path: Path) -> Any:
    data, _ = read_structured(path)
    return data


@lru_cache(maxsize=64)
def _load(catalog_path: Path, policy_path: Path, cat_patch: str, pol_patch: str) -> tuple[Catalog, Policy]:
    if cat_patch == "null":
        catalog = load_catalog(catalog_path)
    else:
        data = _merge_catalog(_raw(catalog_path), json.loads(cat_patch))
        catalog = parse_catalog(data, file=f"{catalog_path}+overrides")
    if pol_patch == "null":
        policy = load_policy(policy_path, catalog)
    else:
        data = deep_merge(_raw(policy_path), json.loads(pol_patch))
        policy = parse_policy(data, file=f"{policy_path}+overrides", catalog=catalog)
    return catalog, policy


def load_fixture(fixture: Fixture, *, catalog: str | Path | None = None,
                 policy: str | Path | None = None) -> tuple[Catalog, Policy]:
    """The validated catalog and policy of a fixture (a refused override raises the loader's error).

    `catalog` / `policy`: the run's files (`eval run --catalog/--policy`), used by every case that does not name
    its own; the demo files by default. A case's overrides are merged into whichever file it runs on.
    """
    return _load(resolve_path(fixture.catalog, Path(catalog) if catalog else DEFAULT_CATALOG).resolve(),
                 resolve_path(fixture.policy, Path(policy) if policy else DEFAULT_POLICY).resolve(),
                 json.dumps(fixture.catalog_overrides, sort_keys=True, default=str),
                 json.dumps(fixture.policy_overrides, sort_keys=True, default=str))
