"""The operator commands on the demo data after a simulated day of negotiations (issue 6, Done-when).

Thirty negotiations are driven through `agent.service.Seller` into a SQLite file (every buyer
strategy, escalations approved, rejected, edited and left pending, two guardrail blocks), with
the decision log written to a file as `dealdesk` deploys it. The commands then run in-process
(Typer's CliRunner) against that database and log. Tampering and pruning work on copies.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, update
from typer.testing import CliRunner

from agent.cli import app
from agent.records import configure_logging
from agent.store import Store
from agent.store import schema as t
from agent.store.db import transaction

from .day import simulate_day

HEAD = re.compile(r"^\d+:[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """(db_url, log path, Day): the simulated day on a SQLite file, its decision log beside it."""
    from agent.config import load_data
    from agent.service import Seller

    from .day import leaky_model

    base = tmp_path_factory.mktemp("opsday")
    log = base / "decisions.log"
    url = f"sqlite:///{base / 'day.db'}"
    catalog, policy = load_data()
    with log.open("a", encoding="utf-8") as fh:
        configure_logging(fh)
        seller = Seller(catalog, policy, Store(url), model=leaky_model())
        try:
            sim = simulate_day(seller, n=30)
        finally:
            seller.close()
            configure_logging(open(os.devnull, "w"))  # noqa: SIM115
    return url, log, sim


@pytest.fixture
def cli(day, monkeypatch):
    """cli(*args, db=None) -> CliRunner result against the day's database (or `db`) and log."""
    url, log, _ = day
    monkeypatch.setenv("DEALDESK_LOG", str(log))
    monkeypatch.delenv("DEALDESK_DB", raising=False)
    monkeypatch.setenv("COLUMNS", "400")
    runner = CliRunner()

    def invoke(*args: str, db: str | None = None):
        return runner.invoke(app, [*args, "--db", db or url] if args[0] != "log" else list(args),
                             catch_exceptions=False)

    return invoke


def store_of(url: str) -> Store:
    return Store(url)


def copy_db(url: str, dest: Path) -> str:
    """A consistent copy of the SQLite database (WAL included), for tests that change it."""
    src = sqlite3.connect(url.split("///", 1)[1])
    dst = sqlite3.connect(dest)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return f"sqlite:///{dest}"


# --- deals -----------------------------------------------------------------------------------------


def test_the_day_covers_what_operators_review(day) -> None:
    url, log, sim = day
    store = store_of(url)
    try:
        statuses = {n.status for n in store.list_negotiations(limit=100)}
        approvals = store.approvals()
    finally:
        store.dispose()
    assert len(sim.negotiations) == 30
    assert {"deal", "open", "closed"} <= statuses
    assert set(sim.decided.values()) == {"approve", "reject", "edit"} and sim.pending
    assert {a.status for a in approvals} >= {"approved", "rejected", "edited", "pending"}
    assert log.stat().st_size > 0


def test_deals_list_with_filters(cli, day) -> None:
    _url, _, sim = day
    result = cli("deals", "list")
    assert result.exit_code == 0, result.output
    assert "30 negotiation(s)" in result.output
    for nid in sim.negotiations:
        assert nid in result.output
    rows = json.loads(cli("deals", "list", "--json").output)
    by_outcome = {o: {r["negotiation_id"] for r in rows if r["outcome"] == o} for o in ("deal", "no_deal", "open")}
    for outcome, ids in by_outcome.items():
        got = json.loads(cli("deals", "list", "--outcome", outcome, "--json").output)
        assert {r["negotiation_id"] for r in got} == ids
    assert by_outcome["deal"] and by_outcome["no_deal"] and by_outcome["open"]
    text_only = cli("deals", "list", "--buyer", "org-text")
    assert "2 negotiation(s)" in text_only.output
    blocked = json.loads(cli("deals", "list", "--blocked", "--json").output)
    assert sorted(r["negotiation_id"] for r in blocked) == sorted(sim.texts)
    assert "0 negotiation(s)" in cli("deals", "list", "--since", "2999-01-01").output
    assert "30 negotiation(s)" in cli("deals", "list", "--since", "2h").output
    assert cli("deals", "list", "--outcome", "won").exit_code == 2
    assert cli("deals", "list", "--since", "whenever").exit_code == 2


def test_deals_show_is_a_readable_timeline(cli, day) -> None:
    url, _, sim = day
    store = store_of(url)
    try:
        approved = next(a for a in store.approvals() if a.status == "approved")
        rejected = next(a for a in store.approvals() if a.status == "rejected")
    finally:
        store.dispose()
    out = cli("deals", "show", approved.negotiation_id)
    assert out.exit_code == 0, out.output
    text = out.output
    assert f"negotiation {approved.negotiation_id}" in text
    assert re.search(r"^turn 1 .* buyer: rfq \(data\)$", text, re.MULTILINE)
    assert re.search(r"^  buyer: +counter \S+ x\d+ at \d", text, re.MULTILINE)  # the buyer's message
    assert re.search(r"^  offer: +P-\w+ v1 ", text, re.MULTILINE)  # the offer ...
    assert re.search(r"^  rules: +.*strategy\.", text, re.MULTILINE)  # ... the rule ids ...
    assert re.search(r"target \d+\.\d+, floor \d+\.\d+", text)  # ... and figures
    assert "guardrail:   passed" in text  # the verdict
    assert f"approval:    {approved.id} requested" in text and f"approved by {approved.decided_by} at" in text
    assert re.search(rf"operator: approved {approved.id}$", text, re.MULTILINE)
    rej = cli("deals", "show", rejected.negotiation_id).output
    assert f"rejected by {rejected.decided_by}" in rej
    blocked = cli("deals", "show", sim.texts[0]).output
    assert "guardrail:   BLOCKED 1 draft(s), revised" in blocked
    assert "guardrail.text.leak_figure (leak_figure)" in blocked and "blocked text: 'Between us" in blocked
    data = json.loads(cli("deals", "show", approved.negotiation_id, "--json").output)
    assert data["summary"]["negotiation_id"] == approved.negotiation_id and data["turns"][0]["records"]
    with_records = cli("deals", "show", sim.texts[0], "--records").output
    assert "record guardrail/guardrail:" in with_records
    missing = cli("deals", "show", "neg-nope")
    assert missing.exit_code == 2


def test_approvals_show(cli, day) -> None:
    _url, _, sim = day
    pending = sim.pending[0]
    out = cli("approvals", "show", pending)
    assert out.exit_code == 0, out.output
    assert f"approval {pending}" in out.output and "pending: awaiting an operator" in out.output
    assert re.search(r"^  why +policy\.", out.output, re.MULTILINE) and "standing" in out.output
    edited = next(a for a, op in sim.decided.items() if op == "edit")
    shown = cli("approvals", "show", edited).output
    assert "edited by op-edit at" in shown and "prices " in shown
    data = json.loads(cli("approvals", "show", edited, "--json").output)
    assert data["approval"]["status"] == "edited" and data["negotiation"]["negotiation_id"]
    assert cli("approvals", "show", "A-NOPE").exit_code == 2
    listed = cli("approvals", "list")  # the existing inbox still works beside `show`
    assert listed.exit_code == 0 and pending in listed.output


# --- the decision log ---------------------------------------------------------------------------------


def test_log_tail_is_readable_and_filters(cli, day) -> None:
    _, log, sim = day
    raw = [json.loads(line) for line in log.read_text().splitlines()]
    out = cli("log", "tail", "-n", "5")
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert len(lines) == 5
    # instants as every operator command says them: UTC with Z, to the second (it said "2026-11-28 00:14:50")
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  INFO  ", line) for line in lines)
    nid = sim.texts[0]
    mine = cli("log", "tail", "-n", "1000", "--conversation", nid).output.splitlines()
    assert len(mine) == sum(1 for r in raw if r["gen_ai.conversation.id"] == nid)
    assert all(f"  {nid}  " in line for line in mine)
    assert any("BLOCKED guardrail.text.leak_term" in line for line in mine)
    guard = cli("log", "tail", "-n", "1000", "--node", "guardrail", "--json").output.splitlines()
    assert guard and all(json.loads(line)["node"] == "guardrail" for line in guard)
    assert len(guard) == sum(1 for r in raw if r["node"] == "guardrail")
    assert cli("log", "tail", "--level", "error").output == ""
    assert cli("log", "tail", "--level", "loud").exit_code == 2
    assert cli("log", "tail", "--file", str(log.parent / "missing.log")).exit_code == 1


def test_log_tail_follow_prints_new_entries(cli, day, tmp_path, monkeypatch) -> None:
    log = tmp_path / "follow.log"
    log.write_text(json.dumps({"event": "decision", "level": "info", "node": "begin", "turn": 1,
                               "gen_ai.conversation.id": "neg-f", "gen_ai.operation.name": "receive"}) + "\n")
    monkeypatch.setenv("DEALDESK_LOG", str(log))

    def append() -> None:
        time.sleep(0.4)
        with log.open("a") as fh:
            fh.write(json.dumps({"event": "decision", "level": "info", "node": "commit", "turn": 1,
                                 "gen_ai.conversation.id": "neg-f", "gen_ai.operation.name": "commit",
                                 "dealdesk.outgoing.type": "proposal"}) + "\n")

    writer = threading.Thread(target=append)
    writer.start()
    out = cli("log", "tail", "--follow", "--follow-for", "1.5")
    writer.join()
    assert out.exit_code == 0
    assert [line.split("  ")[4] for line in out.output.splitlines()] == ["begin/receive", "commit/commit"]
    assert "reply=proposal" in out.output.splitlines()[1]


# --- export -------------------------------------------------------------------------------------------------


def test_decisions_export_writes_json_lines(cli, day, tmp_path) -> None:
    url, _, sim = day
    out = cli("decisions", "export")
    assert out.exit_code == 0
    lines = [json.loads(line) for line in out.output.splitlines()]
    store = store_of(url)
    try:
        expected = [r for nid in sorted(sim.negotiations) for r in store.records(nid)]
    finally:
        store.dispose()
    assert len(lines) == len(expected) > 300
    ids = [r["dealdesk.record.id"] for r in lines]
    assert ids == sorted(ids)
    stripped = sorted(json.dumps({k: v for k, v in r.items() if k not in ("dealdesk.record.id", "dealdesk.ts")},
                                  sort_keys=True) for r in lines)
    assert stripped == sorted(json.dumps(r, sort_keys=True) for r in expected)
    assert cli("decisions", "export", "--since", "2999-01-01").output == ""
    one = cli("decisions", "export", "--conversation", sim.texts[0], "--out", str(tmp_path / "d.jsonl"))
    assert one.exit_code == 0
    assert len((tmp_path / "d.jsonl").read_text().splitlines()) == sum(
        1 for r in lines if r["gen_ai.conversation.id"] == sim.texts[0])


# --- the audit trail ------------------------------------------------------------------------------------


def test_audit_head_and_verify_on_the_day(cli) -> None:
    head = cli("audit", "head")
    assert head.exit_code == 0 and HEAD.match(head.output.strip()), head.output
    verified = cli("audit", "verify", "--head", head.output.strip())
    assert verified.exit_code == 0, verified.output
    assert re.search(r"^30 chain\(s\), \d+ entries, \d+ decision records$", verified.output, re.MULTILINE)
    assert "OK" in verified.output.splitlines()[-1]
    data = json.loads(cli("audit", "head", "--json", "--no-record").output)
    assert data["head"] == head.output.strip() and data["days"][-1]["chains"] == 30
    assert json.loads(cli("audit", "verify", "--json").output)["ok"] is True
    assert cli("audit", "verify", "--head", "nonsense").exit_code == 2


def _tamper_edit(conn, nid):
    row = conn.execute(select(t.decision_records.c.id, t.decision_records.c.record).where(
        t.decision_records.c.negotiation_id == nid, t.decision_records.c.node == "prepare")
        .order_by(t.decision_records.c.id)).first()
    changed = dict(row.record)
    changed["dealdesk.rule_ids"] = ["policy.director.override"]
    conn.execute(update(t.decision_records).where(t.decision_records.c.id == row.id).values(record=changed))
    return "edited"


def _tamper_delete(conn, nid):
    row = conn.execute(select(t.decision_records.c.id).where(t.decision_records.c.negotiation_id == nid,
                                                             t.decision_records.c.node == "guardrail")
                       .order_by(t.decision_records.c.id)).first()
    conn.execute(delete(t.decision_records).where(t.decision_records.c.id == row.id))
    return "deleted"


def _tamper_insert(conn, nid):
    conn.execute(insert(t.decision_records).values(
        negotiation_id=nid, turn=1, node="approval", message_id=None, ts=dt.datetime(2025, 1, 1),
        record={"gen_ai.conversation.id": nid, "node": "approval", "turn": 1,
                "dealdesk.approval.routing": "operator", "dealdesk.approval.by": "someone"}))
    return "inserted"


def _tamper_reorder(conn, nid):
    rows = conn.execute(select(t.decision_records.c.id, t.decision_records.c.record).where(
        t.decision_records.c.negotiation_id == nid, t.decision_records.c.turn == 1)
        .order_by(t.decision_records.c.id)).all()
    first, last = rows[0], rows[-1]
    conn.execute(update(t.decision_records).where(t.decision_records.c.id == first.id).values(record=last.record))
    conn.execute(update(t.decision_records).where(t.decision_records.c.id == last.id).values(record=first.record))
    return "reordered"


def _tamper_rewrite(conn, nid):
    """Edit a record and recompute the whole chain: consistent, so only a published head catches it."""
    from agent.store import audit

    _tamper_edit(conn, nid)
    records = dict(conn.execute(select(t.decision_records.c.id, t.decision_records.c.record).where(
        t.decision_records.c.negotiation_id == nid)).all())
    prev = audit.GENESIS
    for x in conn.execute(select(t.audit_entries).where(t.audit_entries.c.negotiation_id == nid)
                          .order_by(t.audit_entries.c.seq)).all():
        recs = [records[i] for i in x.record_ids]
        new = audit.chain_hash(prev, recs)
        conn.execute(update(t.audit_entries).where(t.audit_entries.c.id == x.id).values(
            prev_hash=prev, hash=new, record_digests=[audit.record_digest(r) for r in recs]))
        prev = new
    return "head"


@pytest.mark.parametrize("tamper", [_tamper_edit, _tamper_delete, _tamper_insert, _tamper_reorder, _tamper_rewrite],
                         ids=["edit", "delete", "insert", "reorder", "consistent_rewrite"])
def test_audit_verify_catches_tampering(cli, day, tmp_path, tamper) -> None:
    url, _, _sim = day
    copy = copy_db(url, tmp_path / "tampered.db")
    published = cli("audit", "head", db=copy).output.strip()
    nid = "neg-sim-005"  # an escalator: several turns, an approval
    store = store_of(copy)
    try:
        with transaction(store.engine) as conn:
            kind = tamper(conn, nid)
    finally:
        store.dispose()
    plain = cli("audit", "verify", db=copy)
    checked = cli("audit", "verify", "--head", published, db=copy)
    assert checked.exit_code == 1, checked.output
    assert "FAILED" in checked.output
    if kind == "head":
        assert plain.exit_code == 0, plain.output  # every hash was recomputed ...
        assert "TAMPERED head: head: the chains do not extend the published head" in checked.output  # ... but
    else:
        assert plain.exit_code == 1, plain.output
        problems = [line for line in plain.output.splitlines() if line.startswith("TAMPERED")]
        assert len(problems) == 1 and problems[0].startswith(f"TAMPERED {nid} entry 1 (turn 1): {kind}: "), problems
    # the untouched database still verifies
    assert cli("audit", "verify").exit_code == 0


def test_audit_prune_keeps_the_chains_provable(cli, day, tmp_path) -> None:
    url, _, sim = day
    copy = copy_db(url, tmp_path / "pruned.db")
    store = store_of(copy)
    old = sorted(nid for nid in sim.negotiations if nid.startswith("neg-sim-"))[:12]
    ended = [n.id for n in store.list_negotiations(limit=100) if n.id in old and n.status != "open"]
    when = dt.datetime(2025, 1, 15, 9)
    try:
        with transaction(store.engine) as conn:  # those negotiations ran (and ended) back in January
            for nid in old:
                conn.execute(update(t.negotiations).where(t.negotiations.c.id == nid).values(updated_at=when))
                conn.execute(update(t.audit_entries).where(t.audit_entries.c.negotiation_id == nid)
                             .values(day="2025-01-15", created_at=when))
    finally:
        store.dispose()
    published = cli("audit", "head", db=copy).output.strip()
    dry = cli("audit", "prune", "--before", "2025-02-01", "--dry-run", db=copy)
    assert dry.exit_code == 0 and f"would prune {len(ended)} negotiation(s)" in dry.output, dry.output
    done = cli("audit", "prune", "--before", "2025-02-01", "--json", db=copy)
    report = json.loads(done.output)
    assert sorted(report["negotiation_ids"]) == sorted(ended) and report["decision_records"] > 0
    assert report["entries_kept"] == len(ended)  # one day each: its head stays behind
    verified = cli("audit", "verify", "--head", published, db=copy)
    assert verified.exit_code == 0, verified.output
    assert f"{report['entries_kept']} pruned entries" in verified.output
    assert cli("audit", "head", "--no-record", db=copy).output.strip() == published  # the root is unchanged
    store = store_of(copy)
    try:
        assert all(store.records(nid) == [] for nid in ended)
        assert all(store.records(nid) for nid in old if nid not in ended)  # open ones are kept whole
    finally:
        store.dispose()
    shown = cli("deals", "show", ended[0], db=copy)  # the deal's summary outlives its decision records
    assert shown.exit_code == 0 and f"negotiation {ended[0]}" in shown.output
    assert cli("audit", "prune", db=copy).exit_code == 2  # no cut-off given
    again = cli("audit", "prune", "--before", "2025-02-01", db=copy)
    assert "pruned 0 negotiation(s)" in again.output


# --- privacy -------------------------------------------------------------------------------------------------


def test_records_and_log_hold_no_secrets_and_only_a_digest_of_buyer_text(day) -> None:
    url, log, sim = day
    text = log.read_text()
    assert "Order ref 0" not in text and "Order ref 1" not in text  # the buyer's words are not logged...
    store = store_of(url)
    try:
        records = [r for nid in sim.negotiations for r in store.records(nid)]
    finally:
        store.dispose()
    begins = [r for r in records if r["node"] == "begin"]
    assert all(r["dealdesk.input.digest"].startswith("sha256:") for r in begins)  # ...only their digest
    dumped = json.dumps(records) + text
    for secret in ("dd_buyer_", "dd_operator_", "dd_admin_", "Bearer ", "api_key", "authorization"):
        assert secret not in dumped.lower() if secret.islower() else secret not in dumped
    assert not re.search(r"\bsk-[A-Za-z0-9_-]{16,}", dumped)  # provider keys (OpenAI style)
