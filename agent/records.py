"""Decision records: one structured event per node, logged as JSON through structlog and persisted.

Attribute names follow the OpenTelemetry GenAI conventions where one fits
(`gen_ai.operation.name`, `gen_ai.tool.name`, `gen_ai.conversation.id`,
`gen_ai.guardrail.*`); dealdesk's own attributes are under `dealdesk.*`.
With the catalog and policy versions a decision can be replayed later.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from typing import Any

import structlog

PROMPT_VERSION = "offline-playbook/1"
_DIGEST_IN_LOG = frozenset({"dealdesk.draft", "dealdesk.inbound"})

_decision_log: Any = None  # bound once per configuration: a lazy logger binds itself again on every record


def configure_logging(stream: Any = None) -> None:
    """JSON lines on stderr (or `stream`); called once by entry points."""
    global _decision_log
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.JSONRenderer(sort_keys=True)],
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
    _decision_log = structlog.get_logger("dealdesk.decision").bind()


def digest(value: Any) -> str:
    """sha256 of the canonical JSON of `value` (the input digest of a node)."""
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def make_record(state: dict[str, Any], node: str, *, operation: str, started: float, inputs: Any = None,
                rule_ids: list[str] | tuple[str, ...] = (), figures: dict[str, Any] | None = None,
                **attrs: Any) -> dict[str, Any]:
    """One decision record for `node` in the current turn."""
    record = {
        "gen_ai.conversation.id": state.get("negotiation_id"),
        "gen_ai.operation.name": operation,
        "dealdesk.node": node,
        "node": node,
        "turn": state.get("turn", 0),
        "message_id": state.get("message_id"),
        "dealdesk.input.digest": digest(inputs),
        "dealdesk.rule_ids": list(rule_ids),
        "dealdesk.latency_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    if figures:
        record["dealdesk.figures"] = figures
    record.update({k: v for k, v in attrs.items() if v is not None})
    if _decision_log is None:
        configure_logging()
    # The log file may travel further than the database: drafts (which may hold blocked leaks) go as digests.
    logged = {k: (digest(v) if k in _DIGEST_IN_LOG else v) for k, v in record.items()}
    _decision_log.info("decision", **logged)
    return record
