"""The statements on a seller turn's path, built once with bound parameters.

Parameters of UPDATE statements named like a column of the table carry a `b_`
prefix (SQLAlchemy reserves column names for the SET clause).

Building a SQLAlchemy Core statement (columns, comparisons, coercions) costs
about twice what SQLite takes to run it, and a turn runs some thirty. These
are built at import and only executed with parameters; statements off the hot
path are still built where they are used. On SQLite the store runs these on the
driver's connection (agent/store/direct.py), each compiled once per parameter shape.
"""

from __future__ import annotations

from sqlalchemy import Integer, and_, bindparam, case, func, insert, or_, select, update

from agent.store import schema as t

_n, _p, _h, _i, _e, _a = (t.negotiations.c, t.proposals.c, t.holds.c, t.inventory.c, t.events.c, t.approvals.c)

# --- the turn's reads (agent/turn_view.py) ---------------------------------------------------------

NEGOTIATION = select(t.negotiations).where(_n.id == bindparam("id"))
# The negotiation with the latest version of its current proposal (one statement: a turn reads both).
_versions = t.proposals.alias("versions")
_latest = select(func.max(_versions.c.version)).where(and_(_versions.c.id == _n.current_proposal,
                                                           _versions.c.buyer_org == _n.buyer_org))
NEGOTIATION_AND_CURRENT_PROPOSAL = (
    select(t.negotiations, t.proposals).select_from(t.negotiations)
    .outerjoin(t.proposals, and_(_p.id == _n.current_proposal, _p.buyer_org == _n.buyer_org,
                                 _p.version == _latest.scalar_subquery()))
    .where(_n.id == bindparam("id")))
LATEST_PROPOSAL_OF_ORG = (select(t.proposals).where(and_(_p.id == bindparam("id"), _p.buyer_org == bindparam("org")))
                          .order_by(_p.version.desc()).limit(1))
AVAILABLE = select(_i.sku, _i.on_hand - _i.allocated - _i.held).where(_i.sku.in_(bindparam("skus", expanding=True)))
HISTORY_AND_MEMORY = select(t.events).where(or_(
    _e.negotiation_id == bindparam("nid"),
    and_(_e.buyer_org == bindparam("org"), _e.sku.in_(bindparam("skus", expanding=True)), _e.at >= bindparam("since")),
)).order_by(_e.id)
HOLDS_OF_PROPOSAL = select(t.holds).where(and_(_h.status == "active", _h.buyer_org == bindparam("org"),
                                               _h.proposal_id == bindparam("pid")))
APPROVALS_OF_NEGOTIATION = select(t.approvals).where(_a.negotiation_id == bindparam("nid")).order_by(_a.requested_at)
AUTONOMY = select(t.autonomy.c.scope, t.autonomy.c.mode)

# --- the commit ----------------------------------------------------------------------------------

PROPOSAL_VERSIONS = select(_p.version, _p.status).where(_p.id == bindparam("pid"))
SUPERSEDE = (update(t.proposals).where(and_(_p.id == bindparam("pid"), _p.status.in_(("offered", "pending_approval"))))
             .values(status="superseded"))
ACTIVE_HOLDS_OF = select(_h.id, _h.sku, _h.quantity).where(and_(_h.proposal_id == bindparam("pid"),
                                                                _h.status == "active"))
EXPIRED_HOLDS_OF_SKUS = select(_h.id, _h.sku, _h.quantity).where(and_(
    _h.status == "active", _h.expires_at <= bindparam("now"), _h.sku.in_(bindparam("skus", expanding=True))))
RELEASE_HOLD = update(t.holds).where(and_(_h.id == bindparam("hid"), _h.status == "active")).values(status="released")
UNHOLD = update(t.inventory).where(_i.sku == bindparam("b_sku")).values(held=_i.held - bindparam("qty"),
                                                                       updated_at=bindparam("now"))
LOCK_INVENTORY_ROW = select(_i.sku).where(_i.sku == bindparam("sku")).with_for_update()
ORG_HELD = select(func.coalesce(func.sum(_h.quantity), 0)).where(and_(
    _h.buyer_org == bindparam("org"), _h.sku == bindparam("sku"), _h.status == "active", _h.expires_at > bindparam("now")))
_ENOUGH = and_(_i.sku == bindparam("b_sku"), _i.on_hand - _i.allocated - _i.held >= bindparam("qty"))
RESERVE = {
    "held": update(t.inventory).where(_ENOUGH).values(held=_i.held + bindparam("qty"), updated_at=bindparam("now")),
    "allocated": update(t.inventory).where(_ENOUGH).values(allocated=_i.allocated + bindparam("qty"),
                                                            updated_at=bindparam("now")),
}
INSERT_HOLD = insert(t.holds)
INSERT_PROPOSAL = insert(t.proposals)
INSERT_EVENTS = insert(t.events)
INSERT_APPROVAL = insert(t.approvals)
# The proposal's negotiation row, and its turn counter advanced with the turn's records (ADVANCE_TURN's
# work in the same statement: a proposal turn updates the row once).
_turn = bindparam("b_turn", type_=Integer)
SET_CURRENT_PROPOSAL = (update(t.negotiations).where(_n.id == bindparam("nid")).values(
    current_proposal=bindparam("pid"), updated_at=bindparam("now"), turn=case((_n.turn < _turn, _turn), else_=_n.turn)))
SET_STATUS = update(t.negotiations).where(_n.id == bindparam("nid")).values(status=bindparam("b_status"),
                                                                            updated_at=bindparam("now"))
ADVANCE_TURN = update(t.negotiations).where(and_(_n.id == bindparam("nid"), _n.turn < bindparam("b_turn"))).values(
    turn=bindparam("b_turn"))

# PostgreSQL batches RETURNING in parameter order (insertmanyvalues); on SQLite that falls back to one
# INSERT a row, so there the ids are assigned from the last one, under the write lock (BEGIN IMMEDIATE).
INSERT_RECORDS = insert(t.decision_records).returning(t.decision_records.c.id, sort_by_parameter_order=True)
INSERT_RECORDS_WITH_IDS = insert(t.decision_records)
LAST_RECORD_ID = select(func.max(t.decision_records.c.id))
LAST_AUDIT_ENTRY = (select(t.audit_entries.c.seq, t.audit_entries.c.hash)
                    .where(t.audit_entries.c.negotiation_id == bindparam("nid"))
                    .order_by(t.audit_entries.c.seq.desc()).limit(1))
INSERT_AUDIT_ENTRY = insert(t.audit_entries)

# --- the other ends of a turn (a withdrawal, the end of a negotiation, an acceptance), a new negotiation,
# an approval request ---------------------------------------------------------------------------------

INSERT_NEGOTIATION = insert(t.negotiations)
APPROVAL = select(t.approvals).where(_a.id == bindparam("id"))
SET_PROPOSAL_STATUS = update(t.proposals).where(and_(_p.id == bindparam("pid"), _p.version == bindparam("b_version"))
                                                ).values(status=bindparam("b_status"))
WITHDRAW_OFFERED = update(t.proposals).where(and_(_p.id == bindparam("pid"), _p.status == "offered")).values(
    status=bindparam("b_status"))
CANCEL_APPROVAL = update(t.approvals).where(and_(_a.id == bindparam("b_id"), _a.status == "pending")).values(
    status="canceled", decided_by="dealdesk", decided_at=bindparam("now"), note=bindparam("why"))
CANCEL_PENDING_APPROVALS = update(t.approvals).where(and_(_a.negotiation_id == bindparam("nid"),
                                                          _a.status == "pending")).values(
    status="canceled", decided_by="dealdesk", decided_at=bindparam("now"), note=bindparam("why"))
PROPOSAL_VERSION_OF_ORG = select(t.proposals).where(and_(_p.id == bindparam("pid"), _p.version == bindparam("version"),
                                                         _p.buyer_org == bindparam("org")))
PROPOSAL_STATUS = select(_p.status).where(and_(_p.id == bindparam("pid"), _p.version == bindparam("version")))
DEAL = select(t.deals).where(t.deals.c.id == bindparam("id"))
DEAL_OF_PROPOSAL = select(t.deals).where(t.deals.c.proposal_id == bindparam("pid"))
LIVE_HOLDS_OF_VERSION = select(_h.id, _h.sku, _h.quantity).where(and_(
    _h.proposal_id == bindparam("pid"), _h.version == bindparam("version"), _h.status == "active",
    _h.expires_at > bindparam("now")))
CONVERT_HOLD = update(t.holds).where(and_(_h.id == bindparam("hid"), _h.status == "active")).values(status="converted")
ALLOCATE_HELD = update(t.inventory).where(_i.sku == bindparam("b_sku")).values(
    held=_i.held - bindparam("qty"), allocated=_i.allocated + bindparam("qty"), updated_at=bindparam("now"))
INSERT_DEAL = insert(t.deals)
