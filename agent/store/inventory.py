"""Stock changes an operator makes: goods received, and corrections after a count.

The store's `dd_inventory` row is the live count. The catalog's `inventory.on_hand` only seeds a SKU the
database has not seen: a restart or a catalog reload never overwrites what deals and holds did to the row,
so a restock cannot come through the catalog file. It comes through here.

Each change is one conditional UPDATE, so units sold or held by an offer are never taken back, also while
turns of other processes reserve the same SKU, and a decision record in the audit trail (conversation
`ops:inventory`) in the same transaction: who changed what, by how much, why, and the count after it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, and_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from agent.store import schema as t
from agent.store.autonomy import check_scope
from agent.store.db import transaction, utcnow
from agent.store.store import Store
from tools.errors import DealdeskError

Kind = Literal["receive", "remove"]
AUDIT_CONVERSATION = "ops:inventory"
# dd_inventory's counts are 32-bit integers on PostgreSQL: a count past this is refused, not overflowed.
MAX_UNITS = 2**31 - 1


@dataclass(frozen=True)
class Level:
    """One SKU's count: on hand, sold (allocated to deals), held by standing offers, and what is left to offer."""

    sku: str
    on_hand: int
    allocated: int
    held: int
    available: int
    updated_at: str  # UTC, to the second, with Z


@dataclass(frozen=True)
class Change:
    kind: Kind
    sku: str
    delta: int
    level: Level  # the count after the change
    by: str
    note: str | None
    at: str  # UTC, to the second, with Z


def _control(ch: str) -> bool:
    """A character a note may not hold: a control character (C0, C1, DEL) other than a newline, carriage return or
    tab, a lone surrogate, or a bidi embedding, override or isolate (which reorders the text shown after it)."""
    return (ch not in "\n\r\t" and unicodedata.category(ch) in ("Cc", "Cs")) or ch in _BIDI


_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _z(value) -> str:
    return value.isoformat(timespec="seconds") + "Z"


def _level(row) -> Level:
    m = row._mapping
    return Level(sku=m["sku"], on_hand=m["on_hand"], allocated=m["allocated"], held=m["held"],
                 available=m["on_hand"] - m["allocated"] - m["held"], updated_at=_z(m["updated_at"]))


class InventoryStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    def levels(self, skus: Iterable[str] | None = None) -> list[Level]:
        """The counts of `skus` (every SKU the store knows when None), by SKU. Holds whose offers expired are
        released first (turns release them lazily, when they next reserve the SKU): what is held is what standing
        offers hold now."""
        q = select(t.inventory).order_by(t.inventory.c.sku)
        wanted = None if skus is None else list(skus)
        if wanted is not None:
            q = q.where(t.inventory.c.sku.in_(wanted))
        with transaction(self.engine) as conn:
            Store._release_expired(conn, utcnow(), wanted)
            return [_level(r) for r in conn.execute(q).all()]

    def change(self, kind: Kind, sku: str, quantity: int, *, by: str, note: str | None = None,
               skus: Collection[str] | None = None, made_to_order: Collection[str] = ()) -> Change:
        """Receive `quantity` units of `sku` (added to on hand), or remove them (lost, damaged, counted short:
        taken off on hand, with a note saying why).

        With `skus` (the catalog's), a SKU the catalog does not have is refused (`unknown_sku`, with close
        matches); a made-to-order product's stock is not counted, so changing it is refused. A removal that
        would leave fewer units than are sold or held is refused (`insufficient_inventory`) and changes nothing.
        """
        if kind not in ("receive", "remove"):
            raise DealdeskError("the change is receive or remove", code="malformed_message", field="kind")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise DealdeskError(f"the quantity is a whole number of units, more than 0 (not {quantity!r})",
                                code="invalid_quantity", field="quantity")
        if quantity > MAX_UNITS:
            raise DealdeskError(f"at most {MAX_UNITS} units at a time", code="invalid_quantity", field="quantity")
        note = (note or "").strip() or None
        if note is not None and (bad := next((ch for ch in note if _control(ch)), None)) is not None:
            # A NUL, an escape sequence or a bidi override in a note would be written into the audit trail and
            # shown to whoever reads it: a note is text, on one or more lines.
            raise DealdeskError(f"the note holds a control character ({ord(bad):#06x}); write it as plain text, "
                                "lines and tabs allowed", code="malformed_message", field="note")
        if kind == "remove" and note is None:
            raise DealdeskError("removing units needs a reason (the count it corrects, damage, loss...)",
                                code="malformed_message", field="note")
        delta = quantity if kind == "receive" else -quantity
        check_scope(f"product:{sku}", skus=skus)
        if sku in made_to_order:
            raise DealdeskError(f"{sku} is made to order: its stock is not counted, every order is made for it",
                                code="malformed_message", field="sku")
        now = utcnow()
        inv = t.inventory.c
        with transaction(self.engine) as conn:
            row = conn.execute(select(t.inventory).where(inv.sku == sku)).first()
            if row is None:
                # In the catalog but never seeded (added since the seller last started): the count starts here. Two
                # changes (or a change and a seller seeding) may start it at once: the second leaves the row alone.
                dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
                conn.execute(dialect_insert(t.inventory).values(sku=sku, on_hand=0, allocated=0, held=0,
                                                                updated_at=now)
                             .on_conflict_do_nothing(index_elements=["sku"]))
            if kind == "remove":
                # Holds are released lazily (when a turn next reserves the SKU): an offer whose hold ran out holds
                # nothing, so its units are not kept from a removal (nor counted as held in the count after it).
                Store._release_expired(conn, now, [sku])
            # Each bound is written so that PostgreSQL's 32-bit arithmetic cannot overflow evaluating it.
            room = (inv.on_hand <= MAX_UNITS - quantity if kind == "receive"
                    else inv.on_hand - inv.allocated - inv.held >= quantity)
            after = conn.execute(
                update(t.inventory)
                .where(and_(inv.sku == sku, room))
                .values(on_hand=inv.on_hand + delta, updated_at=now)
                .returning(*t.inventory.c)).first()
            if after is None:
                now_row = _level(conn.execute(select(t.inventory).where(inv.sku == sku)).one())
                if now_row.on_hand + delta > MAX_UNITS:
                    raise DealdeskError(f"{sku} would count more than {MAX_UNITS} units", code="invalid_quantity",
                                        field="quantity")
                raise DealdeskError(
                    f"{sku}: only {now_row.available} units can be taken off (on hand {now_row.on_hand}, sold "
                    f"{now_row.allocated}, held by standing offers {now_row.held}), not {-delta}: units sold or "
                    "held are not taken back", code="insufficient_inventory", field="quantity")
            level = _level(after)
            record = {"gen_ai.conversation.id": AUDIT_CONVERSATION, "gen_ai.operation.name": "inventory",
                      "node": "operator", "dealdesk.node": "operator", "turn": 0, "message_id": None,
                      "dealdesk.rule_ids": [f"operator.inventory.{kind}"], "dealdesk.inventory.sku": sku,
                      "dealdesk.inventory.change": kind, "dealdesk.inventory.delta": delta,
                      "dealdesk.inventory.on_hand": level.on_hand, "dealdesk.inventory.available": level.available,
                      "dealdesk.inventory.by": by, "dealdesk.inventory.note": note,
                      "dealdesk.inventory.at": _z(now)}
            Store._insert_records(conn, [record])
        return Change(kind=kind, sku=sku, delta=delta, level=level, by=by, note=note, at=_z(now))
