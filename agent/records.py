"""Decision records: one structured event per node, logged as JSON through structlog and persisted.

Attribute names follow the OpenTelemetry GenAI conventions where one fits
(`gen_ai.operation.name`, `gen_ai.tool.name`, `gen_ai.conversation.id`,
`gen_ai.guardrail.*`); dealdesk's own attributes are under `dealdesk.*`.
With the catalog and policy versions a decision can be replayed later.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from functools import lru_cache
from typing import Any

import orjson
import structlog

PROMPT_VERSION = "offline-playbook/1"
_DIGEST_IN_LOG = frozenset({"dealdesk.draft", "dealdesk.inbound", "dealdesk.intent.notes"})

# JSON is written with orjson (a turn writes seven records, each digested and logged: with the standard
# library's encoder that was a tenth of a turn). Times and dataclasses go through `default` as they do
# with `json`; ints beyond 64 bits, which orjson refuses, go to the standard library's encoder.
_ORJSON = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME \
    | orjson.OPT_PASSTHROUGH_DATACLASS
_CANONICAL = json.JSONEncoder(sort_keys=True, default=str, separators=(",", ":"), ensure_ascii=False)

_decision_log: Any = None  # bound once per configuration: a lazy logger binds itself again on every record
# Records made inside `deferred_log` (a turn), with their inputs and input digests, logged when it ends.
_pending: ContextVar[list[tuple[dict[str, Any], Any, str]] | None] = ContextVar("dealdesk_pending_records",
                                                                                 default=None)
# The rendered lines of those records while they are logged, written out together (`_TurnLogger`).
_lines: ContextVar[dict[Any, list[str]] | None] = ContextVar("dealdesk_log_lines", default=None)


class _TurnLogger(structlog.PrintLogger):
    """structlog's `PrintLogger`, but the lines a turn logs when it ends (`deferred_log`) leave in one write
    and one flush, not one each: a turn logs seven."""

    def msg(self, message: str) -> None:
        batch = _lines.get()
        if batch is None:
            super().msg(message)
        else:
            batch.setdefault(self, []).append(message)

    log = debug = info = warn = warning = err = error = critical = exception = fatal = failure = msg


def _turn_logger_factory(file: Any) -> Any:
    logger = _TurnLogger(file)
    return lambda *args: logger


_AS_STORED = (Decimal, dt.date, dt.time)  # what the stored record (canonical_json) writes as str(): money, times


@lru_cache(maxsize=8)
def _as_stored(default: Any) -> Any:
    """structlog's fallback, but decimals and times as the stored record writes them ("3.25", not
    "Decimal('3.25')"): an operator's log line and the database say the same figure."""
    def fallback(value: Any) -> Any:
        return str(value) if isinstance(value, _AS_STORED) else default(value)
    return fallback


@lru_cache(maxsize=8)
def _sorted_encoder(default: Any) -> json.JSONEncoder:
    return json.JSONEncoder(sort_keys=True, default=default)


def _sorted_json(event_dict: Any, *, default: Any) -> str:
    """The event as JSON with sorted keys: the serializer of structlog's `JSONRenderer`, which passes its own
    fallback for objects JSON does not know (`__structlog__`, else `repr`) as `default`; decimals and times
    go as in the stored record (`_as_stored`). Non-finite floats are written as null (strict JSON); the
    standard library's encoder (built once) takes what orjson refuses."""
    default = _as_stored(default)
    try:
        return orjson.dumps(event_dict, default=default, option=_ORJSON).decode()
    except TypeError:  # orjson.JSONEncodeError
        return _sorted_encoder(default).encode(event_dict)


def canonical_json(value: Any) -> bytes:
    """Canonical JSON, UTF-8: sorted keys, no whitespace, non-ASCII unescaped, and what JSON does not know
    (decimals, times, sets...) as `str()`; numbers as orjson writes them."""
    try:
        return orjson.dumps(value, default=str, option=_ORJSON)
    except TypeError:  # orjson.JSONEncodeError: an int beyond 64 bits
        return _CANONICAL.encode(value).encode()


def configure_logging(stream: Any = None) -> None:
    """JSON lines on stderr (or `stream`); called once by entry points."""
    global _decision_log
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.JSONRenderer(serializer=_sorted_json)],
        logger_factory=_turn_logger_factory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
    _decision_log = structlog.get_logger("dealdesk.decision").bind()


def digest(value: Any) -> str:
    """sha256 of the canonical JSON of `value` (the input digest of a node)."""
    return "sha256:" + hashlib.sha256(canonical_json(value)).hexdigest()[:32]


def make_record(state: dict[str, Any], node: str, *, operation: str, started: float, inputs: Any = None,
                rule_ids: list[str] | tuple[str, ...] = (), figures: dict[str, Any] | None = None,
                **attrs: Any) -> dict[str, Any]:
    """One decision record for `node` in the current turn."""
    input_digest = digest(inputs)
    record = {
        "gen_ai.conversation.id": state.get("negotiation_id"),
        "gen_ai.operation.name": operation,
        "dealdesk.node": node,
        "node": node,
        "turn": state.get("turn", 0),
        "message_id": state.get("message_id"),
        "dealdesk.input.digest": input_digest,
        "dealdesk.rule_ids": list(rule_ids),
        "dealdesk.latency_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    if figures:
        record["dealdesk.figures"] = figures
    for k, v in attrs.items():
        if v is not None:
            record[k] = v
    pending = _pending.get()
    if pending is None:
        _log(record, inputs, input_digest)
    else:
        pending.append((record, inputs, input_digest))
    return record


@contextmanager
def deferred_log(*, on_error: bool = True) -> Iterator[None]:
    """Log the records made inside (a turn's) when it ends, also when it ends in an error unless `on_error` is
    False (an operator's decision that was refused never happened: its record must not be read as one): one after
    the other, each through structlog as it would be at once, and as the turn left it (a node may add to its
    record after making it); their lines leave in one write. A turn's records are persisted together at its
    end as well."""
    pending: list[tuple[dict[str, Any], Any, str]] = []
    token = _pending.set(pending)
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        _pending.reset(token)
        if pending and (on_error or not failed):
            batch: dict[Any, list[str]] = {}
            batching = _lines.set(batch)
            try:
                for record, inputs, input_digest in pending:
                    _log(record, inputs, input_digest)
            finally:
                _lines.reset(batching)
                for logger, lines in batch.items():  # the lines PrintLogger would print one by one
                    structlog.PrintLogger.msg(logger, "\n".join(lines))


def _log(record: dict[str, Any], inputs: Any, input_digest: str) -> None:
    if _decision_log is None:
        configure_logging()
    # The log file may travel further than the database: drafts (which may hold blocked leaks) go as digests.
    if _DIGEST_IN_LOG.isdisjoint(record):
        _decision_log.info("decision", **record)
    else:
        logged = dict(record)
        for k in _DIGEST_IN_LOG.intersection(record):
            logged[k] = input_digest if record[k] is inputs else digest(record[k])  # the input: digested already
        _decision_log.info("decision", **logged)
