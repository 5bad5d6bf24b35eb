"""Durable state: SQLite by default, PostgreSQL for several processes."""

from agent.store.store import ApprovalRow, DealRow, HoldRequest, Negotiation, ProposalRow, Store

__all__ = ["ApprovalRow", "DealRow", "HoldRequest", "Negotiation", "ProposalRow", "Store"]
