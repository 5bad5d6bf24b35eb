"""Shared fixtures of the seller-agent tests (several files add fixtures here: append, do not rewrite)."""

from __future__ import annotations

import os


# --- model doubles, guardrail graph and adversarial tests ------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def dd_demo():
    """The demo catalog and policy (examples/), loaded once."""
    from agent.config import load_data

    return load_data()


@pytest.fixture
def dd_seller_factory(dd_demo, tmp_path):
    """make(model, **config) -> a Seller on the demo data with its own SQLite file under tmp_path."""
    from agent.graph import SellerConfig
    from agent.service import Seller
    from agent.store import Store

    catalog, policy = dd_demo
    made = []

    def make(model=None, **config):
        store = Store(f"sqlite:///{tmp_path / f'seller{len(made)}.sqlite'}")
        seller = Seller(catalog, policy, store, model=model, config=SellerConfig(**config) if config else None)
        made.append(seller)
        return seller

    yield make
    for seller in made:
        seller.close()


# --- negotiation, restart and CLI tests: one database URL per backend ----------------------------------

from collections.abc import Callable, Iterator  # noqa: E402
from urllib.parse import quote, urlencode  # noqa: E402

import dbutil  # noqa: E402
from sqlalchemy import make_url  # noqa: E402

# A lock wait longer than this is a hang, not contention: the turn fails instead of blocking the suite.
PG_LOCK_TIMEOUT = "5s"


def with_lock_timeout(url: str, timeout: str = PG_LOCK_TIMEOUT) -> str:
    """The PostgreSQL URL with `lock_timeout` added to its connection options (search_path kept)."""
    u = make_url(url)
    query = {**u.query, "options": f"{u.query.get('options', '')} -clock_timeout={timeout}".strip()}
    # Spaces as %20, not '+': the checkpointer hands this URL to libpq, which does not decode '+'.
    return f"{u.set(query={}).render_as_string(hide_password=False)}?{urlencode(query, quote_via=quote)}"


@pytest.fixture(params=["sqlite", "postgresql"])
def seller_db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A fresh database per test: a SQLite file under tmp_path, or a throwaway PostgreSQL schema.

    PostgreSQL follows tests/dbutil.py (skip when unreachable, fail under CI=true), with a lock
    timeout so that a lock bug fails the test instead of hanging the suite.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dealdesk.db'}"
        return
    dbutil.require_postgres()
    with dbutil.pg_schema() as url:
        yield with_lock_timeout(url)


@pytest.fixture
def make_seller(dd_demo, seller_db_url: str) -> Iterator[Callable[..., object]]:
    """make_seller(**kw) -> a `Seller` on the demo data and `seller_db_url`; all closed afterwards."""
    from agent.service import Seller

    opened: list[Seller] = []

    def make(**kw) -> Seller:
        seller = Seller.open(*dd_demo, seller_db_url, **kw)
        opened.append(seller)
        return seller

    yield make
    for seller in opened:
        seller.close()


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """invoke(*args, input=None) -> the dealdesk CliRunner result (stdout and stderr), on a fresh database in
    tmp_path, with the demo data unless a test points elsewhere; asserts nothing."""
    from typer.testing import CliRunner

    from agent.cli import app
    from agent.records import configure_logging

    for var in ("DEALDESK_CATALOG", "DEALDESK_POLICY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DEALDESK_DB", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("DEALDESK_LOG", str(tmp_path / "decisions.log"))
    monkeypatch.setenv("COLUMNS", "400")  # rich tables unwrapped, ids whole
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    yield invoke
    configure_logging(open(os.devnull, "w"))  # noqa: SIM115  (the CLI pointed the decision log at tmp_path)
