"""Decision records (agent/records.py): the digest is sha256 of the canonical JSON, and the log line says
what structlog's stock processors (`add_log_level`, `TimeStamper(fmt="iso", utc=True)`,
`JSONRenderer(sort_keys=True)`) say of the record, drafts and inbound messages as digests, in strict
JSON with sorted keys, and decimals and times as the stored record (canonical JSON) writes them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import time
from decimal import Decimal

import pytest
import structlog

from hypothesis import given
from hypothesis import strategies as st

from agent import records
from agent.records import canonical_json, configure_logging, digest, make_record
from agent.service import Buyer

STATE = {"negotiation_id": "N-1", "turn": 2, "message_id": "m-7"}


class _Custom:
    def __structlog__(self):
        return {"custom": True}


class _Opaque:
    def __repr__(self):
        return "<opaque ü>"


VALUES = [None, "", "ünïcode 日本 😀", {"b": 1, "a": [2.5, None, True]}, [Decimal("3.10"), dt.date(2025, 1, 2)],
          {"nested": {"z": {"y": "x\n\"q\""}, "a": float("inf")}}, 2**70, (1, "x"), {"set": _Opaque()}]


@pytest.fixture
def log():
    stream = io.StringIO()
    configure_logging(stream)
    yield stream
    configure_logging(open(os.devnull, "w"))  # noqa: SIM115  (as tests/conftest.py leaves it)


def _strict(line: str) -> object:
    def refuse(name: str) -> object:
        raise ValueError(f"not strict JSON: {name}")
    return json.loads(line, parse_constant=refuse)


def _finite(value: object) -> object:
    """Non-finite floats as the log writes them (null)."""
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _fallback(value: object) -> object:
    """structlog's own fallback (`__structlog__`, else `repr`), but decimals and times as their str(), as the
    stored record writes them."""
    if isinstance(value, (Decimal, dt.date, dt.time)):
        return str(value)
    return value.__structlog__() if hasattr(value, "__structlog__") else repr(value)


def _stock(event: dict) -> object:
    """What structlog's stock JSONRenderer(sort_keys=True) says of `event`, read back, with decimals and
    times as strings (`_fallback`)."""
    renderer = structlog.processors.JSONRenderer(sort_keys=True, default=_fallback)
    return _finite(json.loads(renderer(None, "info", dict(event))))


def _json_canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.parametrize("value", VALUES)
def test_digest_is_sha256_of_the_canonical_json(value):
    assert digest(value) == "sha256:" + hashlib.sha256(canonical_json(value)).hexdigest()[:32]
    if "2.5" not in repr(value) and "inf" not in repr(value):  # numbers aside, it is the standard library's form
        assert canonical_json(value) == _json_canonical(value)


def test_canonical_numbers_and_keys():
    assert canonical_json({"b": 2.5, "a": 2**70, "c": [Decimal("3.10"), dt.datetime(2025, 1, 2, 3, 4)]}) == \
        b'{"a":1180591620717411303424,"b":2.5,"c":["3.10","2025-01-02 03:04:00"]}'
    assert canonical_json({"b": 1, "a": {"d": None, "c": True}}) == b'{"a":{"c":true,"d":null},"b":1}'
    assert digest({"b": 1, "a": 2}) == digest({"a": 2, "b": 1}) != digest({"a": 1, "b": 2})


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                     max_leaves=20)


@given(_JSON)
def test_canonical_json_is_the_standard_librarys_for_json_without_floats(value):
    assert canonical_json(value) == _json_canonical(value)


def test_record_keys_in_order_and_none_attributes_dropped(log):
    rec = make_record(STATE, "agent", operation="chat", started=time.perf_counter(), inputs={"x": 1},
                      rule_ids=("r.1",), figures={"total": "9.99"},
                      **{"gen_ai.request.model": "m", "dealdesk.skipped": None, "turn": 5})
    assert list(rec) == ["gen_ai.conversation.id", "gen_ai.operation.name", "dealdesk.node", "node", "turn",
                         "message_id", "dealdesk.input.digest", "dealdesk.rule_ids", "dealdesk.latency_ms",
                         "dealdesk.figures", "gen_ai.request.model"]
    assert rec["turn"] == 5 and rec["dealdesk.rule_ids"] == ["r.1"] and rec["dealdesk.input.digest"] == digest({"x": 1})


@pytest.mark.parametrize("value", VALUES)
def test_log_line_is_the_stock_structlog_rendering(log, value):
    rec = make_record(STATE, "prepare", operation="plan", started=time.perf_counter(), inputs=value,
                      figures={"value": value, "custom": _Custom()}, **{"dealdesk.extra": value})
    (line,) = log.getvalue().splitlines()
    logged = _strict(line)
    assert list(logged) == sorted(logged)
    assert logged == _stock({**rec, "event": "decision", "level": "info", "timestamp": logged["timestamp"]})
    assert logged["event"] == "decision" and logged["level"] == "info"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", logged["timestamp"])
    assert logged["dealdesk.input.digest"] == rec["dealdesk.input.digest"]
    assert logged["dealdesk.figures"]["custom"] == {"custom": True}  # __structlog__, as structlog renders it


def test_log_line_figures_are_the_stored_records(log):
    """Money in a log line is the decimal string the database keeps, not Python's repr of a Decimal."""
    figures = {"breaks": [{"quantity": 500, "offer": Decimal("3.25")}], "on": dt.date(2026, 12, 1),
               "valid_until": dt.datetime(2026, 12, 11, 9, 30)}
    make_record(STATE, "prepare", operation="price_breaks", started=time.perf_counter(), figures=figures)
    logged = json.loads(log.getvalue())
    assert logged["dealdesk.figures"] == json.loads(canonical_json(figures)) == {
        "breaks": [{"quantity": 500, "offer": "3.25"}], "on": "2026-12-01", "valid_until": "2026-12-11 09:30:00"}
    assert "Decimal(" not in log.getvalue()


@pytest.mark.parametrize("draft_is_input", [True, False])
def test_drafts_inbound_and_notes_are_logged_as_digests(log, draft_is_input):
    draft = {"text": "our floor is 2.65", "data": None}
    inputs = draft if draft_is_input else {"other": "input"}
    inbound = {"text": "hello"}
    notes = ["place Lyon", "buyer argument: our budget is 3000"]  # the understanding's, with the buyer's words
    rec = make_record(STATE, "guardrail", operation="guardrail", started=time.perf_counter(), inputs=inputs,
                      **{"dealdesk.draft": draft, "dealdesk.inbound": inbound, "dealdesk.intent.notes": notes})
    assert rec["dealdesk.draft"] is draft and rec["dealdesk.inbound"] is inbound  # the record keeps them whole
    assert rec["dealdesk.intent.notes"] is notes
    line = log.getvalue()
    assert "2.65" not in line and "hello" not in line and "Lyon" not in line and "3000" not in line
    logged = json.loads(line)
    assert logged["dealdesk.draft"] == digest(draft) and logged["dealdesk.inbound"] == digest(inbound)
    assert logged["dealdesk.intent.notes"] == digest(notes)
    assert logged["dealdesk.input.digest"] == digest(inputs)


def test_draft_digest_is_its_own_even_when_an_attribute_overrides_the_input_digest(log):
    draft = {"text": "x"}
    make_record(STATE, "guardrail", operation="guardrail", started=time.perf_counter(), inputs=draft,
                **{"dealdesk.draft": draft, "dealdesk.input.digest": "sha256:given"})
    logged = json.loads(log.getvalue())
    assert logged["dealdesk.input.digest"] == "sha256:given" and logged["dealdesk.draft"] == digest(draft)


def test_configured_lazily_on_first_record(monkeypatch, capsys):
    monkeypatch.setattr(records, "_decision_log", None)
    make_record(STATE, "begin", operation="receive", started=time.perf_counter(), inputs={})
    line = capsys.readouterr().err.strip()
    logged = _strict(line)
    assert logged["node"] == "begin" and logged == _stock({**logged})
    configure_logging(open(os.devnull, "w"))  # noqa: SIM115


def test_deferred_records_are_logged_when_the_turn_ends_in_order_and_as_the_turn_left_them(log):
    with records.deferred_log():
        first = make_record(STATE, "begin", operation="receive", started=time.perf_counter(), inputs={"a": 1})
        first["dealdesk.inbound"] = {"text": "secret words"}  # added after the record was made, as `begin` does
        make_record(STATE, "commit", operation="commit", started=time.perf_counter(), inputs={"b": 2})
        assert log.getvalue() == ""  # nothing yet
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert [entry["node"] for entry in lines] == ["begin", "commit"]
    assert lines[0]["dealdesk.inbound"] == digest({"text": "secret words"}) and "secret" not in log.getvalue()
    assert lines[0]["dealdesk.input.digest"] == digest({"a": 1})


class _CountingStream(io.StringIO):
    """A log file that counts its flushes (PrintLogger flushes once per `msg`)."""

    flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_a_turns_deferred_lines_leave_in_one_flush_and_lines_outside_a_turn_at_once():
    stream = _CountingStream()
    configure_logging(stream)
    try:
        with records.deferred_log():
            for node in ("begin", "understand", "commit"):
                make_record(STATE, node, operation=node, started=time.perf_counter(), inputs={"n": node})
            assert stream.getvalue() == "" and stream.flushes == 0
        assert stream.flushes == 1
        assert [json.loads(line)["node"] for line in stream.getvalue().splitlines()] == ["begin", "understand", "commit"]
        assert stream.getvalue().endswith("}\n")
        make_record(STATE, "operator", operation="decide", started=time.perf_counter(), inputs=None)
        assert stream.flushes == 2 and json.loads(stream.getvalue().splitlines()[-1])["node"] == "operator"
        with records.deferred_log():  # a turn that made no record writes nothing
            pass
        assert stream.flushes == 2
    finally:
        configure_logging(open(os.devnull, "w"))  # noqa: SIM115  (as tests/conftest.py leaves it)


def test_deferred_records_are_logged_when_the_turn_fails(log):
    with pytest.raises(RuntimeError), records.deferred_log():
        make_record(STATE, "understand", operation="understand", started=time.perf_counter(), inputs=None)
        raise RuntimeError("the turn broke")
    (line,) = log.getvalue().splitlines()
    assert json.loads(line)["node"] == "understand"
    make_record(STATE, "begin", operation="receive", started=time.perf_counter(), inputs=None)
    assert len(log.getvalue().splitlines()) == 2  # outside a turn: at once again


def test_a_seller_turn_logs_each_nodes_record_once(log, dd_seller_factory):
    seller = dd_seller_factory()
    nid = seller.start(Buyer(org="records-log", region="EU"))
    reply = seller.send(nid, data={"type": "rfq", "items": [{"sku": "BRG-6204", "quantity": "100"}]})
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert [entry["node"] for entry in lines] == [r["node"] for r in reply.records]
    assert lines[0]["node"] == "begin" and lines[0]["dealdesk.inbound"] == digest(reply.records[0]["dealdesk.inbound"])
