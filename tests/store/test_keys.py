"""API keys (hashed, scoped, revocable) and the cross-process turn lock, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import select

from agent.store import schema as t
from agent.store.db import utcnow
from agent.store.keys import ApiKeyError, KeyStore, digest


@pytest.fixture
def keys(store) -> KeyStore:
    return KeyStore(store.engine)


def test_create_authenticate_and_only_the_hash_is_stored(keys: KeyStore, store) -> None:
    key, text = keys.create("buyer", org="acme", region="EU", segment="strategic", label="Acme procurement bot")
    assert text.startswith("dd_buyer_") and len(text) > 40
    found = keys.authenticate(text)
    assert found == key
    assert (found.org, found.region, found.segment) == ("acme", "EU", "strategic")
    with store.engine.connect() as conn:
        row = conn.execute(select(t.api_keys)).one()
    assert row.hash == digest(text) and text not in {str(v) for v in row}
    assert keys.authenticate(text + "x") is None
    assert keys.authenticate("") is None and keys.authenticate(None) is None


def test_revoked_keys_stop_working(keys: KeyStore) -> None:
    key, text = keys.create("operator", label="desk")
    assert keys.revoke(key.id).revoked
    assert keys.authenticate(text) is None
    assert [k.id for k in keys.list()] == []
    assert [k.id for k in keys.list(include_revoked=True)] == [key.id]
    with pytest.raises(ApiKeyError) as err:
        keys.revoke("key_nope")
    assert err.value.field == "key_id"


@pytest.mark.parametrize(("scope", "kw", "field"), [
    ("buyer", {"region": "EU"}, "org"),
    ("buyer", {"org": "acme"}, "region"),
    ("operator", {"org": "acme"}, "org"),
    ("root", {}, "scope"),
])
def test_bad_keys_are_refused_naming_the_field(keys: KeyStore, scope, kw, field) -> None:
    with pytest.raises(ApiKeyError) as err:
        keys.create(scope, **kw)
    assert err.value.field == field
    assert keys.list() == []


def test_ensure_is_idempotent_for_demo_keys(keys: KeyStore) -> None:
    a = keys.ensure("dd_buyer_demo_acme_0000000000", "buyer", org="acme", region="EU")
    b = keys.ensure("dd_buyer_demo_acme_0000000000", "buyer", org="acme", region="EU")
    assert a.id == b.id and len(keys.list()) == 1
    with pytest.raises(ApiKeyError):
        keys.create("buyer", org="x", region="US", key="dd_buyer_demo_acme_0000000000")
    with pytest.raises(ApiKeyError):
        keys.create("admin", key="short")


def test_ensure_survives_another_process_creating_the_key_at_the_same_moment(keys: KeyStore,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Ops QA: two `dealdesk serve --demo` started at once on a fresh database; one died on the demo keys' unique
    index. The one that loses the race takes the key the other made."""
    real = KeyStore.create

    def racing(self: KeyStore, scope: str, **kw: str | None) -> tuple:
        real(self, scope, **kw)  # the other process, between this one's look and its insert
        return real(self, scope, **kw)

    monkeypatch.setattr(KeyStore, "create", racing)
    got = keys.ensure("dd_buyer_demo_race_00000000000", "buyer", org="acme", region="EU")
    assert got.org == "acme" and [k.id for k in keys.list()] == [got.id]


def test_scopes() -> None:
    from agent.store.keys import ApiKey

    buyer = ApiKey(id="k1", scope="buyer", prefix="dd_buyer_x", org="acme", region="EU")
    operator = ApiKey(id="k2", scope="operator", prefix="dd_operator")
    admin = ApiKey(id="k3", scope="admin", prefix="dd_admin")
    assert buyer.allows("buyer") and not buyer.allows("operator") and not buyer.allows("admin")
    assert operator.allows("operator") and not operator.allows("admin") and not operator.allows("buyer")
    assert admin.allows("operator") and admin.allows("admin")


def test_turn_lock_serialises_one_negotiation_and_not_others(open_store) -> None:
    """Two Store objects stand for two processes: the second waits for the first."""
    a, b = open_store(), open_store()
    order: list[str] = []
    entered = threading.Event()

    def first() -> None:
        with a.turn_lock("neg-1"):
            entered.set()
            order.append("a-in")
            time.sleep(0.3)
            order.append("a-out")

    th = threading.Thread(target=first)
    th.start()
    assert entered.wait(5)
    with b.turn_lock("neg-2"):  # another negotiation does not wait
        order.append("other")
    with b.turn_lock("neg-1"):
        order.append("b-in")
    th.join()
    assert order == ["a-in", "other", "a-out", "b-in"]


def test_turn_lock_does_not_deadlock_with_writes_inside_the_turn(open_store) -> None:
    """A turn holds its lock while its own writes lock the same negotiation (PostgreSQL deadlocked here)."""
    store = open_store()
    store.create_negotiation("neg-9", buyer_org="acme", region="EU", segment="standard")
    done = threading.Event()

    def turn() -> None:
        with store.turn_lock("neg-9"):
            # save_proposal takes the transaction-level lock on the same negotiation
            store.save_proposal(proposal_id=None, negotiation_id="neg-9", buyer_org="acme", status="offered",
                                currency="EUR", payment_terms="NET30", valid_until=utcnow() + dt.timedelta(days=1),
                                total=Decimal("1.00"), body_for=lambda pid, v: {"id": pid, "version": v}, moves=[],
                                holds=[])
            done.set()

    th = threading.Thread(target=turn, daemon=True)
    th.start()
    assert done.wait(10), "a write inside the turn waited on the turn's own lock"
    th.join(5)
