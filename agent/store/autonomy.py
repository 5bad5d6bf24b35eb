"""How much the bot may do alone, switched by operators at run time (no restart).

Modes, most specific scope wins (a product, then its category, then global):
- `auto`: the policy decides (the default);
- `approval_only`: every new offer routes to an operator, and cannot be accepted before one decides;
- `shadow`: the bot drafts, an operator sends: the buyer hears only that the request is being reviewed.

Every switch is a row here and a decision record in the audit trail (conversation `ops:autonomy`).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, Engine, delete, insert, select

from agent.store import direct as D
from agent.store import schema as t
from agent.store.db import transaction, utcnow
from agent.store.queries import AUTONOMY
from tools.errors import DealdeskError

Mode = Literal["auto", "approval_only", "shadow"]
MODES: tuple[Mode, ...] = ("auto", "approval_only", "shadow")
AUDIT_CONVERSATION = "ops:autonomy"


@dataclass(frozen=True)
class Switch:
    scope: str  # "global", "category:<name>" or "product:<sku>"
    mode: Mode
    set_by: str
    note: str | None
    set_at: str


def scope_of(*, category: str | None = None, sku: str | None = None) -> str:
    if category and sku:
        raise DealdeskError("give a category or a SKU, not both", code="malformed_message", field="scope")
    return f"product:{sku}" if sku else f"category:{category}" if category else "global"


def check_scope(scope: str, *, categories: Collection[str] | None = None,
                skus: Collection[str] | None = None, clearing: bool = False) -> None:
    """Refuse a category or product scope the catalog does not have (when its categories or SKUs are given)."""
    kind, _, name = scope.partition(":")
    known = categories if kind == "category" else skus if kind == "product" else None
    if known is None or name in known:
        return
    what = "category" if kind == "category" else "SKU"
    close = difflib.get_close_matches(name, list(known), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    listed = f"; the catalog's categories are {', '.join(sorted(known))}" if kind == "category" else ""
    unset = f" and no switch is set for {scope}" if clearing else ""
    raise DealdeskError(f"unknown {what} {name!r}: not in the catalog{unset}{hint}{listed}",
                        code="unknown_category" if kind == "category" else "unknown_sku",
                        field="category" if kind == "category" else "sku")


def effective(switches: dict[str, Mode], lines: Iterable[tuple[str, str]]) -> Mode:
    """The strictest mode over the lines (sku, category): shadow > approval_only > auto."""
    modes = [switches.get(f"product:{sku}") or switches.get(f"category:{cat}") or switches.get("global") or "auto"
             for sku, cat in lines]
    return max(modes, key=MODES.index, default="auto")


class AutonomyStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    def switches(self, conn: Connection | None = None) -> dict[str, Mode]:
        if conn is None:
            with self.engine.connect() as fresh:
                return self.switches(fresh)
        return dict(D.rows(conn, AUTONOMY))  # (scope, mode)

    def list(self) -> list[Switch]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.autonomy).order_by(t.autonomy.c.scope)).all()
        return [Switch(scope=r.scope, mode=r.mode, set_by=r.set_by, note=r.note,
                       set_at=r.set_at.isoformat(timespec="seconds")) for r in rows]

    def set(self, scope: str, mode: str, *, by: str, note: str | None = None,
            categories: Collection[str] | None = None, skus: Collection[str] | None = None) -> Switch:
        """Set (or with `auto`, clear) the mode of a scope; recorded in the audit trail.

        With `categories` and `skus` (the catalog's), a scope naming a category or SKU the catalog does not
        have is refused (`unknown_category`, `unknown_sku`): a typo would otherwise pause nothing. Clearing a
        switch the table holds is always allowed, so a product since removed from the catalog can be resumed.
        """
        if mode not in MODES:
            raise DealdeskError(f"mode must be one of {', '.join(MODES)}", code="malformed_message", field="mode")
        if not (scope == "global" or scope.startswith(("category:", "product:"))):
            raise DealdeskError("scope is global, category:<name> or product:<sku>", code="malformed_message",
                                field="scope")
        now = utcnow()
        record = {"gen_ai.conversation.id": AUDIT_CONVERSATION, "gen_ai.operation.name": "autonomy",
                  "node": "operator", "dealdesk.node": "operator", "turn": 0, "message_id": None,
                  "dealdesk.rule_ids": ["operator.autonomy"], "dealdesk.autonomy.scope": scope,
                  "dealdesk.autonomy.mode": mode, "dealdesk.autonomy.by": by, "dealdesk.autonomy.note": note,
                  "dealdesk.autonomy.at": now.isoformat(timespec="seconds")}
        from agent.store.store import Store

        with transaction(self.engine) as conn:
            held = conn.execute(select(t.autonomy.c.scope).where(t.autonomy.c.scope == scope)).first()
            if not (mode == "auto" and held is not None):
                check_scope(scope, categories=categories, skus=skus, clearing=mode == "auto")
            conn.execute(delete(t.autonomy).where(t.autonomy.c.scope == scope))
            if mode != "auto":
                conn.execute(insert(t.autonomy).values(scope=scope, mode=mode, set_by=by, note=note, set_at=now))
            Store._insert_records(conn, [record])
        return Switch(scope=scope, mode=mode, set_by=by, note=note,  # type: ignore[arg-type]
                      set_at=now.isoformat(timespec="seconds"))
