"""The tables that are the one source of truth: negotiations, events, proposals, holds, deals,
approvals, decision records and inventory. Money is stored as decimal strings (exact on
every database); times as naive UTC.

Migrations are versioned: `MIGRATIONS[n]` brings the schema from version n to n+1.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON, Column, DateTime, Index, Integer, MetaData, String, Table, Text, UniqueConstraint,
)

metadata = MetaData()

schema_version = Table(
    "dd_schema_version", metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", DateTime, nullable=False),
)

inventory = Table(
    "dd_inventory", metadata,
    Column("sku", String(64), primary_key=True),
    Column("on_hand", Integer, nullable=False),
    Column("allocated", Integer, nullable=False, default=0),
    Column("held", Integer, nullable=False, default=0),
    Column("updated_at", DateTime, nullable=False),
)

negotiations = Table(
    "dd_negotiations", metadata,
    Column("id", String(64), primary_key=True),
    Column("buyer_org", String(64), nullable=False),
    Column("region", String(16), nullable=False),
    Column("currency", String(3), nullable=True),
    Column("segment", String(64), nullable=False),
    Column("payment_terms", String(32), nullable=True),
    Column("status", String(24), nullable=False),  # open | deal | closed | rejected | canceled
    Column("turn", Integer, nullable=False, default=0),
    Column("current_proposal", String(64), nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_dd_negotiations_org", "buyer_org", "created_at"),
)

# Every price put on the table, by either side: the strategy's history and memory.
events = Table(
    "dd_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("negotiation_id", String(64), nullable=False),
    Column("buyer_org", String(64), nullable=False),
    Column("turn", Integer, nullable=False),
    Column("side", String(8), nullable=False),  # buyer | seller
    Column("kind", String(24), nullable=False),  # rfq | counter | offer | accept | reject ...
    Column("sku", String(64), nullable=True),
    Column("quantity", Integer, nullable=True),
    Column("unit_price", String(40), nullable=True),
    Column("list_price", String(40), nullable=True),
    Column("payment_terms", String(32), nullable=True),
    Column("at", DateTime, nullable=False),
    Index("ix_dd_events_neg", "negotiation_id", "id"),
    Index("ix_dd_events_org_sku", "buyer_org", "sku", "at"),
)

proposals = Table(
    "dd_proposals", metadata,
    Column("id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("negotiation_id", String(64), nullable=False),
    Column("buyer_org", String(64), nullable=False),
    Column("status", String(24), nullable=False),  # offered | pending_approval | superseded | accepted | rejected
    Column("currency", String(3), nullable=False),
    Column("payment_terms", String(32), nullable=False),
    Column("valid_until", DateTime, nullable=False),
    Column("total", String(40), nullable=False),
    Column("body", JSON, nullable=False),  # the wire Proposal
    Column("moves", JSON, nullable=False),  # the strategy move ids behind it
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("id", "version", name="uq_dd_proposals_id_version"),
    Index("ix_dd_proposals_neg", "negotiation_id"),
)

holds = Table(
    "dd_holds", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("proposal_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("buyer_org", String(64), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("status", String(16), nullable=False),  # active | released | converted
    Column("created_at", DateTime, nullable=False),
    Index("ix_dd_holds_active", "status", "sku"),
    Index("ix_dd_holds_proposal", "proposal_id", "version"),
)

deals = Table(
    "dd_deals", metadata,
    Column("id", String(64), primary_key=True),
    Column("proposal_id", String(64), nullable=False, unique=True),
    Column("version", Integer, nullable=False),
    Column("negotiation_id", String(64), nullable=False),
    Column("buyer_org", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total", String(40), nullable=False),
    Column("body", JSON, nullable=False),  # the wire Deal
    Column("accepted_at", DateTime, nullable=False),
    Index("ix_dd_deals_org", "buyer_org", "accepted_at"),
)

approvals = Table(
    "dd_approvals", metadata,
    Column("id", String(64), primary_key=True),
    Column("negotiation_id", String(64), nullable=False),
    Column("buyer_org", String(64), nullable=False),
    Column("proposal_id", String(64), nullable=False),
    Column("level", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # pending | approved | rejected | edited
    Column("requested", JSON, nullable=False),  # the proposal body as requested
    Column("reasons", JSON, nullable=False),  # findings: code, rule_id, message
    Column("requested_at", DateTime, nullable=False),
    Column("decided_by", String(128), nullable=True),
    Column("decided_at", DateTime, nullable=True),
    Column("note", Text, nullable=True),
    Column("decision", JSON, nullable=True),  # approved / edited figures
    Index("ix_dd_approvals_status", "status", "requested_at"),
    Index("ix_dd_approvals_neg", "negotiation_id"),
)

decision_records = Table(
    "dd_decision_records", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("negotiation_id", String(64), nullable=False),
    Column("turn", Integer, nullable=False),
    Column("message_id", String(128), nullable=True),
    Column("node", String(32), nullable=False),
    Column("ts", DateTime, nullable=False),
    Column("record", JSON, nullable=False),
    Index("ix_dd_records_neg", "negotiation_id", "id"),
)


# API keys: only a sha256 of each key is kept. A buyer key is bound to one buyer
# organisation, with the region, segment and currency it buys in.
api_keys = Table(
    "dd_api_keys", metadata,
    Column("id", String(32), primary_key=True),  # public id, e.g. key_3f9a...
    Column("hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),  # the first characters, to recognise a key in a list
    Column("scope", String(16), nullable=False),  # buyer | operator | admin
    Column("org", String(64), nullable=True),
    Column("region", String(16), nullable=True),
    Column("segment", String(64), nullable=True),
    Column("currency", String(3), nullable=True),
    Column("label", String(200), nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime, nullable=True),
    # operator keys: the highest approval level the key may decide (agent/authority.py); none: any
    Column("approval_level", String(32), nullable=True),
)

_V1_TABLES = [schema_version, inventory, negotiations, events, proposals, holds, deals, approvals, decision_records]


def _v1(conn) -> None:
    metadata.create_all(conn, tables=_V1_TABLES, checkfirst=True)


def _v2(conn) -> None:
    metadata.create_all(conn, tables=[api_keys], checkfirst=True)


# Idempotency keys of REST requests (Stripe's manner): one row per (buyer organisation or
# key scope, key). The first request claims the row (in_flight); its response is stored
# when it ends (done) and replayed to a retry with the same key and the same request.
idempotency_keys = Table(
    "dd_idempotency_keys", metadata,
    Column("owner", String(80), primary_key=True),  # org:<buyer org> | key:<api key id>
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),  # sha256 of method, path and canonical body
    Column("status", String(16), nullable=False),  # in_flight | done
    Column("response_status", Integer, nullable=True),
    Column("response_body", JSON, nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("holder", String(32), nullable=True),  # token of the server process that claimed it (liveness.py)
    Index("ix_dd_idempotency_created", "created_at"),
)


def _v3(conn) -> None:
    metadata.create_all(conn, tables=[idempotency_keys], checkfirst=True)


# The audit trail (agent/store/audit.py): the decision records are hash-chained, one chain per
# negotiation, one entry per persisted batch of a turn's records. `hash` = sha256(prev_hash +
# canonical JSON of the batch's records); `record_ids` are the dd_decision_records rows it covers
# and `record_digests` each record's own sha256 (to tell an edit from a reordering). `day` is the
# UTC date the entry was written: a daily root hashes the heads of that day's chains. A pruned
# entry has lost its records (retention) and is kept only for its hash.
audit_entries = Table(
    "dd_audit_entries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # global write order
    Column("negotiation_id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),  # 1, 2, ... within the negotiation's chain
    Column("turn", Integer, nullable=True),
    Column("day", String(10), nullable=False),  # YYYY-MM-DD (UTC)
    Column("record_ids", JSON, nullable=False),
    Column("record_digests", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("pruned_at", DateTime, nullable=True),
    UniqueConstraint("negotiation_id", "seq", name="uq_dd_audit_entries_chain"),
    Index("ix_dd_audit_entries_day", "day", "negotiation_id"),
)

# Roots an operator printed with `dealdesk audit head`: positions retention keeps provable.
# Not trusted by verification (a published root is checked against the chains, never read from here).
audit_published = Table(
    "dd_audit_published", metadata,
    Column("position", Integer, primary_key=True),  # the last dd_audit_entries.id the root covers
    Column("root", String(64), nullable=False),
    Column("published_at", DateTime, nullable=False),
)


def _v4(conn) -> None:
    metadata.create_all(conn, tables=[audit_entries, audit_published], checkfirst=True)
    # Chain the decision records written before the audit trail existed (one entry per turn).
    from agent.store.audit import backfill

    backfill(conn)


# Operators' autonomy switches (agent/store/autonomy.py): one row per scope that is not `auto`.
autonomy = Table(
    "dd_autonomy", metadata,
    Column("scope", String(100), primary_key=True),  # global | category:<name> | product:<sku>
    Column("mode", String(16), nullable=False),  # approval_only | shadow
    Column("set_by", String(200), nullable=False),
    Column("note", Text, nullable=True),
    Column("set_at", DateTime, nullable=False),
)


def _v5(conn) -> None:
    metadata.create_all(conn, tables=[autonomy], checkfirst=True)


def add_column_if_missing(conn, table: Table, name: str) -> None:
    """ALTER TABLE ... ADD COLUMN for a column a later version added to a table an earlier one created."""
    from sqlalchemy import inspect

    if name in {c["name"] for c in inspect(conn).get_columns(table.name)}:
        return
    col = table.c[name]
    conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {name} {col.type.compile(conn.dialect)}")


def _v6(conn) -> None:
    # Claims of REST idempotency keys name the server process that holds them (agent/store/liveness.py).
    add_column_if_missing(conn, idempotency_keys, "holder")


# Operator console sessions (agent/server/console.py, agent/store/console_sessions.py): one row per
# signed-in session, keyed by the sha256 of the nonce its signed cookie carries. Signing out deletes the
# row, so the cookie is refused by every server process sharing the database (not only the one asked).
console_sessions = Table(
    "dd_console_sessions", metadata,
    Column("id", String(64), primary_key=True),  # sha256 hex of the session nonce (the cookie holds the nonce)
    Column("key_id", String(32), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Index("ix_dd_console_sessions_expires", "expires_at"),
)


def _v7(conn) -> None:
    metadata.create_all(conn, tables=[console_sessions], checkfirst=True)


# The last seller-initiated message of each negotiation (an operator's decision made its turn), as it went
# out: a server process publishes it on the buyer's A2A task when the decision was made elsewhere (the CLI,
# another process), instead of a summary made up from the tables.
seller_messages = Table(
    "dd_seller_messages", metadata,
    Column("negotiation_id", String(64), primary_key=True),
    Column("turn", Integer, nullable=False),
    Column("message", JSON, nullable=False),  # {"text", "data"}
    Column("at", DateTime, nullable=False),
)


def _v8(conn) -> None:
    metadata.create_all(conn, tables=[seller_messages], checkfirst=True)


def _v9(conn) -> None:
    add_column_if_missing(conn, api_keys, "approval_level")


# MIGRATIONS[n] upgrades a database at schema version n to n + 1.
MIGRATIONS = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9]
SCHEMA_VERSION = len(MIGRATIONS)
