"""Fixtures of the LLM-path tests: a local OpenAI-compatible server, models pointed at it, sellers on the demo data."""

from __future__ import annotations

import datetime as dt

import pytest

from agent.models.openai import ModelSettings

from .fake_openai import FakeOpenAI


@pytest.fixture(scope="session")
def fake_openai():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def server(fake_openai):
    """The shared server with no handler and no requests; `server.use(cassette, **vars)` loads a cassette."""
    fake_openai.reset()
    yield fake_openai
    fake_openai.reset()


@pytest.fixture(scope="session")
def demo():
    from agent.config import load_data

    return load_data()


@pytest.fixture
def settings(server) -> ModelSettings:
    """A real model (ChatOpenAI) on the local server, with test-sized waits."""
    return ModelSettings(model="gpt-4o-mini", api_key="test-key", base_url=server.base_url, timeout=5.0, attempts=3,
                         deadline=20.0, backoff_initial=0.01, backoff_max=0.05)


@pytest.fixture
def model_for(settings):
    """model_for(**changes) -> the ResilientModel that `make_model` builds for these settings."""
    from agent.models.factory import make_model

    def make(**changes):
        return make_model(settings.with_(**changes))

    return make


@pytest.fixture
def seller_for(demo, tmp_path):
    """seller_for(model, **SellerConfig) -> a Seller on the demo data with its own SQLite file."""
    from agent.graph import SellerConfig
    from agent.service import Seller
    from agent.store import Store

    catalog, policy = demo
    made = []

    def make(model, **config):
        store = Store(f"sqlite:///{tmp_path / f'llm{len(made)}.sqlite'}")
        seller = Seller(catalog, policy, store, model=model, config=SellerConfig(**config) if config else None)
        made.append(seller)
        return seller

    yield make
    for seller in made:
        seller.close()


@pytest.fixture
def surface(demo):
    """surface(sku, qty, terms="NET30") -> the decision surface an EU standard buyer gets today."""
    from agent.store.db import utcnow
    from tools.policy.desk import Desk
    from tools.pricing.models import BuyerContext

    catalog, policy = demo

    def get(sku: str, qty: int, terms: str = "NET30"):
        desk = Desk(catalog, policy, BuyerContext(region="EU", payment_terms=terms, on=utcnow().date()))
        return desk.surface(sku, qty, terms)

    return get


@pytest.fixture
def text_context(demo):
    from agent.offline.context import TextContext

    catalog, _ = demo

    def make(**kw):
        return TextContext(catalog=catalog, region=kw.pop("region", "EU"), **kw)

    return make


TODAY = dt.date(2026, 11, 26)
