"""Where dealdesk finds its data: command-line options, then environment, then the demo files.

Environment variables:
- DEALDESK_CATALOG: catalog file (.yaml, .json or .csv); default examples/catalog.yaml
- DEALDESK_POLICY: policy file (.yaml or .json); default examples/policy.yaml
- DEALDESK_DB: database URL, sqlite:///path or postgresql://...; default sqlite:///var/dealdesk.db
- DEALDESK_LOG: decision log file (JSON lines); default var/decisions.log
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from tools.catalog import Catalog, load_catalog
from tools.policy.loader import load_policy
from tools.policy.models import Policy

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = PROJECT_ROOT / "examples"


def catalog_path(explicit: str | Path | None = None) -> Path:
    return Path(explicit or os.environ.get("DEALDESK_CATALOG") or EXAMPLES / "catalog.yaml")


def policy_path(explicit: str | Path | None = None) -> Path:
    return Path(explicit or os.environ.get("DEALDESK_POLICY") or EXAMPLES / "policy.yaml")


@lru_cache(maxsize=8)
def _load(catalog_file: Path, policy_file: Path) -> tuple[Catalog, Policy]:
    catalog = load_catalog(catalog_file)
    return catalog, load_policy(policy_file, catalog)


def load_data(catalog: str | Path | None = None, policy: str | Path | None = None) -> tuple[Catalog, Policy]:
    """The catalog and the policy checked against it (loaded once per pair of paths)."""
    return _load(catalog_path(catalog).resolve(), policy_path(policy).resolve())


def db_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("DEALDESK_DB") or f"sqlite:///{PROJECT_ROOT / 'var' / 'dealdesk.db'}"


def log_path(explicit: str | Path | None = None) -> Path:
    return Path(explicit or os.environ.get("DEALDESK_LOG") or PROJECT_ROOT / "var" / "decisions.log")
