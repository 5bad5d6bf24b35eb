"""The tamper-evident audit trail of the decision records (issue 6 §3, §5).

Chains. Every persisted batch of a turn's decision records (one `Store._insert_records` call)
appends one entry per negotiation, in the same transaction as the records:

    entry.hash = sha256(prev_hash + canonical_json(records))        (hex; prev of the first = 64 zeros)

canonical JSON: sorted keys, no whitespace, UTF-8, decimals (and times) as strings, the records
exactly as the database returns them. Each entry also keeps the ids of the rows it covers and
each record's own sha256, so verification can tell an edit from a deletion, an insertion or a
reordering.

Roots. The daily root of day D hashes the heads (last entries) of that day's chains, and the
previous day's root, so the latest root commits to the whole history:

    root(D) = sha256(root(previous day) + canonical_json({"day": D, "heads": [[negotiation, hash], ...]}))

A published head is `<position>:<root>`: the root over the entries with id <= position (entry ids
give one global order: appends serialise on one lock). `verify(head=...)` recomputes the root at
that position from today's chains, so even a rewrite of a whole chain with every hash recomputed
fails against a head printed before it.

Retention. `prune(before)` deletes the decision records (and the events and decided approvals)
of negotiations that ended before a date. Of their chains it keeps, with their hashes, the entries
the roots need: each day's last entry per chain and each chain's head at every position a root was
published at (`dd_audit_published`, written by `publish`). Every daily root, and every published
head, stays provable; verification skips the pruned entries' record checks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, and_, delete, func, insert, select, text, update

from agent.store import direct as D
from agent.store import queries as Q
from agent.store import schema as t
from agent.store.audit_tables import check_tables

GENESIS = "0" * 64
AUDIT_LOCK = (7272, 4)  # (class, key) of the PostgreSQL advisory lock that serialises appends
_AUDIT_LOCK = text("SELECT pg_advisory_xact_lock(:c, :k)")


# --- hashing ---------------------------------------------------------------------------------------


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def normalise(value: Any) -> Any:
    """The value as the JSON column gives it back (decimals and times as strings, tuples as lists)."""
    return json.loads(json.dumps(value, default=_default))


_STORED = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def stored_json(value: Any) -> tuple[str, Any]:
    """A record's JSON text (keys in their order, compact) where `stored_and_canonical`'s sorted orjson
    output is refused (keys that are not strings, ints beyond 64 bits), and what that text reads back as:
    `normalise(value)`, but for non-finite floats, which orjson writes as null. The standard library for
    what orjson refuses even so (ints beyond 64 bits), and to read its text back (orjson would read such an
    int as a float)."""
    try:
        text_ = orjson.dumps(value, default=_default, option=_STORED)
    except TypeError:  # orjson.JSONEncodeError
        text_str = json.dumps(value, default=_default, separators=(",", ":"), ensure_ascii=False)
        return text_str, json.loads(text_str)
    return text_.decode(), orjson.loads(text_)


_STORED_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def stored_and_canonical(value: Any) -> tuple[str, str]:
    """The JSON text a record is stored as, and the canonical JSON of what that text reads back as (what the
    chain hashes): mostly one text, written once. orjson's sorted, compact output is canonical but where it
    writes a float in another form than the standard library; keys that are not strings and ints beyond 64
    bits, which orjson refuses without `stored_json`'s options, go through `stored_json`."""
    try:
        out = orjson.dumps(value, default=_default, option=_STORED_SORTED)
    except TypeError:  # orjson.JSONEncodeError
        text_, back = stored_json(value)
        return text_, canonical_of_json(back)
    text_ = out.decode()
    if _other_float_form(out):
        return text_, canonical(orjson.loads(out))  # (its ints are within 64 bits: orjson wrote them)
    return text_, text_


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8, decimals as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


# orjson writes floats below 1e-4 differently from the standard library (0.00001 for 1e-05, 1e-7 for
# 1e-07); every such float shows as "0.0000" or as a digit, "e", a sign and a digit (checked on 500,000
# random doubles). Found with `in` and `find`: a regular expression took longer than the encoding saves.
def _other_float_form(out: bytes) -> bool:
    if b"0.0000" in out:
        return True
    for mark in (b"e-", b"e+"):
        i = out.find(mark)
        while i != -1:
            if 0 < i and i + 2 < len(out) and 48 <= out[i - 1] <= 57 and 48 <= out[i + 2] <= 57:
                return True
            i = out.find(mark, i + 2)
    return False


def canonical_of_json(value: Any) -> str:
    """`canonical(value)` for a value as JSON reads it back (str keys; str, int, float, bool, None, lists):
    orjson's sorted output where it is the same text, the standard library's otherwise (a float written
    with an exponent or as 0.0000..., an int beyond 64 bits, a surrogate, and anything that merely looks
    like one of those inside a string)."""
    try:
        out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError
        return canonical(value)
    if _other_float_form(out):
        return canonical(value)
    return out.decode()


def sha256(text_: str) -> str:
    return hashlib.sha256(text_.encode("utf-8")).hexdigest()


def record_digest(record: Any) -> str:
    return sha256(canonical(record))


def chain_hash(prev_hash: str, records: Sequence[Any]) -> str:
    return chain_hash_of_texts(prev_hash, [canonical(r) for r in records])


def chain_hash_of_texts(prev_hash: str, texts: Sequence[str]) -> str:
    """`chain_hash` of records already in canonical JSON: a list's canonical JSON is its items' joined by
    "," in brackets, so a writer that has the texts does not encode the records again."""
    return sha256(prev_hash + "[" + ",".join(texts) + "]")


def day_root(prev_root: str, day: str, heads: Iterable[tuple[str, str]]) -> str:
    return sha256(prev_root + canonical({"day": day, "heads": sorted([list(h) for h in heads])}))


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# --- appending -------------------------------------------------------------------------------------


def _lock(conn: Connection) -> None:
    """Appends serialise (PostgreSQL; SQLite's write lock already does), so entry ids are a global order.

    Taken as the last lock of the write transactions that persist records, so it joins no cycle.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(_AUDIT_LOCK, {"c": AUDIT_LOCK[0], "k": AUDIT_LOCK[1]})


def append(conn: Connection, records: Sequence[dict[str, Any]], ids: Sequence[int], texts: Sequence[str],
           now: dt.datetime | None = None) -> list[str]:
    """Inside the transaction that inserted `records` as rows `ids`: one chain entry per negotiation.

    `texts`: each record's canonical JSON as the JSON column gives it back (`stored_and_canonical`).
    Returns the new heads (entry hashes), in the order of the negotiations' first records.
    """
    if not records:
        return []
    if not len(ids) == len(texts) == len(records):
        raise ValueError(f"{len(records)} records but {len(ids)} row ids and {len(texts)} texts")
    groups: dict[str, tuple[list[int], list[str], Any]] = {}
    for rid, text_, rec in zip(ids, texts, records, strict=True):
        group = groups.setdefault(rec["gen_ai.conversation.id"], ([], [], rec.get("turn")))
        group[0].append(rid)
        group[1].append(text_)
    _lock(conn)
    now = now or _utcnow()
    return [_append_one(conn, nid, group_ids, group_texts, turn, now)
            for nid, (group_ids, group_texts, turn) in groups.items()]


def _append_one(conn: Connection, nid: str, ids: list[int], texts: list[str], turn: Any, now: dt.datetime) -> str:
    """The chain entry over records `ids`, given as their canonical JSON (`texts`): each record's digest and
    the chain's are taken of that text."""
    last = D.first(conn, Q.LAST_AUDIT_ENTRY, {"nid": nid})  # (seq, hash)
    prev, seq = (last[1], last[0] + 1) if last is not None else (GENESIS, 1)
    digest = chain_hash_of_texts(prev, texts)
    D.write(conn, Q.INSERT_AUDIT_ENTRY, {
        "negotiation_id": nid, "seq": seq, "turn": turn if isinstance(turn, int) else None,
        "day": now.date().isoformat(), "record_ids": list(ids), "record_digests": [sha256(x) for x in texts],
        "prev_hash": prev, "hash": digest, "created_at": now})
    return digest


def backfill(conn: Connection) -> int:
    """Chain decision records that no entry covers yet (written before the audit trail): one entry
    per negotiation and turn, in row order. Returns the entries added."""
    covered: set[int] = set()
    for (ids,) in conn.execute(select(t.audit_entries.c.record_ids)):
        covered.update(ids or [])
    r = t.decision_records.c
    batches: list[tuple[str, Any, list[int], list[Any], dt.datetime]] = []
    for row in conn.execute(select(r.id, r.negotiation_id, r.turn, r.ts, r.record).order_by(r.id)):
        if row.id in covered:
            continue
        if batches and batches[-1][0] == row.negotiation_id and batches[-1][1] == row.turn:
            batches[-1][2].append(row.id)
            batches[-1][3].append(row.record)
        else:
            batches.append((row.negotiation_id, row.turn, [row.id], [row.record], row.ts))
    if batches:
        _lock(conn)
    for nid, _turn, ids, recs, ts in batches:
        read_back = normalise(recs)
        turn = read_back[0].get("turn") if isinstance(read_back[0], dict) else None
        _append_one(conn, nid, ids, [canonical_of_json(r) for r in read_back], turn, ts)
    return len(batches)


# --- roots -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    position: int  # the last entry id the root covers (0: no entries)
    root: str
    day: str | None  # the last day with entries
    days: list[tuple[str, str, int]] = field(default_factory=list)  # (day, root, chains)

    def __str__(self) -> str:
        return f"{self.position}:{self.root}"


def parse_head(value: str) -> tuple[int | None, str]:
    """`<position>:<root>` (as `audit head` prints it), or a bare root (then: the current root)."""
    value = value.strip()
    pos, sep, root = value.rpartition(":")
    root = (root if sep else value).lower()
    if len(root) != 64 or any(c not in "0123456789abcdef" for c in root):
        raise ValueError(f"not a head: {value!r} (expected <position>:<64 hex digits>)")
    if not sep:
        return None, root
    try:
        return int(pos), root
    except ValueError:
        raise ValueError(f"not a head: {value!r} (expected <position>:<64 hex digits>)") from None


def root_at(conn: Connection, position: int | None = None) -> Head:
    """The root over the entries with id <= position (default: all), with each day's root."""
    e = t.audit_entries.c
    if position is None:
        position = conn.execute(select(func.max(e.id))).scalar() or 0
    last = (select(e.day, e.negotiation_id, func.max(e.seq).label("seq")).where(e.id <= position)
            .group_by(e.day, e.negotiation_id).subquery())
    rows = conn.execute(select(e.day, e.negotiation_id, e.hash).join(last, and_(
        e.day == last.c.day, e.negotiation_id == last.c.negotiation_id, e.seq == last.c.seq))).all()
    by_day: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for day, nid, h in rows:
        by_day[day].append((nid, h))
    root = GENESIS
    days = []
    for day in sorted(by_day):
        root = day_root(root, day, by_day[day])
        days.append((day, root, len(by_day[day])))
    return Head(position=position, root=root, day=days[-1][0] if days else None, days=days)


def publish(conn: Connection) -> Head:
    """The current root, remembered as published (retention keeps it provable)."""
    head = root_at(conn)
    if head.position:
        p = t.audit_published.c
        if conn.execute(select(p.position).where(p.position == head.position)).first() is None:
            conn.execute(insert(t.audit_published).values(position=head.position, root=head.root,
                                                          published_at=_utcnow()))
    return head


# --- verification ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    negotiation_id: str | None
    seq: int | None  # the chain position of the first bad entry (None: the published head)
    kind: str  # edited | deleted | inserted | reordered | head | table (a row that disagrees with its records)
    detail: str
    entry_id: int | None = None
    turn: int | None = None

    def __str__(self) -> str:
        where = "head" if not self.negotiation_id else (
            f"{self.negotiation_id} entry {self.seq}" if self.seq is not None else self.negotiation_id)
        if self.turn is not None:
            where += f" (turn {self.turn})"
        return f"{where}: {self.kind}: {self.detail}"


@dataclass
class Report:
    chains: int = 0
    entries: int = 0
    records: int = 0
    pruned: int = 0
    problems: list[Problem] = field(default_factory=list)  # the first problem of each bad chain, then the head
    head: Head | None = None  # the current root
    published: tuple[int | None, str] | None = None  # the head checked with --head
    head_ok: bool | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "chains": self.chains, "entries": self.entries, "records": self.records,
                "pruned_entries": self.pruned, "head": str(self.head) if self.head else None,
                "published": None if self.published is None else
                (f"{self.published[0]}:{self.published[1]}" if self.published[0] is not None else self.published[1]),
                "head_ok": self.head_ok,
                "problems": [{"negotiation_id": p.negotiation_id, "seq": p.seq, "turn": p.turn, "kind": p.kind,
                              "entry_id": p.entry_id, "detail": p.detail} for p in self.problems]}


def verify(conn: Connection, *, head: str | None = None, negotiation_id: str | None = None) -> Report:
    """Walk every chain (or one) against the decision records; with `head`, prove the chains extend it."""
    e, r = t.audit_entries.c, t.decision_records.c
    report = Report()
    qe = select(t.audit_entries).order_by(e.negotiation_id, e.seq, e.id)
    qr = select(r.id, r.negotiation_id, r.record).order_by(r.id)
    if negotiation_id is not None:
        qe, qr = qe.where(e.negotiation_id == negotiation_id), qr.where(r.negotiation_id == negotiation_id)
    entries: dict[str, list[Any]] = defaultdict(list)
    for row in conn.execute(qe):
        entries[row.negotiation_id].append(row)
    records: dict[str, dict[int, Any]] = defaultdict(dict)
    for row in conn.execute(qr):
        records[row.negotiation_id][row.id] = row.record
    for nid in sorted(set(entries) | set(records)):
        report.chains += 1
        report.entries += len(entries.get(nid, []))
        report.records += len(records.get(nid, {}))
        report.pruned += sum(1 for x in entries.get(nid, []) if x.pruned_at is not None)
        problem = _check_chain(nid, entries.get(nid, []), records.get(nid, {}))
        if problem is not None:
            report.problems.append(problem)
    pruned = {nid for nid, xs in entries.items() if any(x.pruned_at is not None for x in xs)}
    for p in check_tables(conn, records, skip=pruned, negotiation_id=negotiation_id):
        report.problems.append(Problem(p.negotiation_id, None, "table", f"{p.table} {p.row}: {p.detail}"))
    report.head = root_at(conn)
    if head is not None:
        position, root = parse_head(head)
        report.published = (position, root)
        problem = _check_head(conn, position, root, report.head)
        report.head_ok = problem is None
        if problem is not None:
            report.problems.append(problem)
    return report


def _check_head(conn: Connection, position: int | None, root: str, current: Head) -> Problem | None:
    if position is None:
        if root == current.root:
            return None
        return Problem(None, None, "head", f"the current root {current} is not the given root {root}; give the "
                                           "head as <position>:<root> to prove the chains extend it")
    if position > current.position:
        return Problem(None, None, "head", f"the published head covers entries up to {position}, but the last "
                                           f"entry is {current.position}: entries were deleted")
    then = root_at(conn, position)
    if then.root != root:
        return Problem(None, None, "head", f"the chains do not extend the published head {position}:{root}: "
                                           f"today's entries up to {position} give the root {then.root}, so an "
                                           "entry written before it was published has been rewritten, deleted "
                                           "or inserted")
    return None


def _check_chain(nid: str, entries: list[Any], records: dict[int, Any]) -> Problem | None:
    problems: list[tuple[tuple[int, int], Problem]] = []
    hashes = {x.hash: x for x in entries}
    covered: set[int] = set()
    for x in entries:
        covered.update(x.record_ids or [])
    expected_seq, expected_prev, prev = 1, GENESIS, None
    before_prev: Any = None
    for x in entries:
        pruned = x.pruned_at is not None or (prev is not None and prev.pruned_at is not None)
        found = None
        if x.seq != expected_seq and not (pruned and x.seq > expected_seq):
            if x.seq > expected_seq:
                found = Problem(nid, expected_seq, "deleted",
                                f"entries {expected_seq}..{x.seq - 1} are missing from the chain", x.id)
            else:
                found = Problem(nid, x.seq, "inserted", f"a second entry {x.seq} (entry id {x.id})", x.id, x.turn)
        elif x.prev_hash != expected_prev and not pruned:
            later = hashes.get(x.prev_hash)
            if later is not None and later.seq > x.seq:
                found = Problem(nid, x.seq, "reordered", f"entry {x.seq} follows entry {later.seq}, which comes "
                                                         "after it in the chain", x.id, x.turn)
            elif before_prev is not None and x.prev_hash == before_prev.hash and prev is not None:
                found = Problem(nid, prev.seq, "inserted", f"entry {prev.seq} (entry id {prev.id}) does not belong "
                                                           f"to the chain: entry {x.seq} follows entry "
                                                           f"{before_prev.seq}", prev.id, prev.turn)
            else:
                found = Problem(nid, prev.seq if prev is not None else x.seq, "edited",
                                f"entry {x.seq} does not follow the hash of entry "
                                f"{prev.seq if prev is not None else 0}", prev.id if prev is not None else x.id,
                                prev.turn if prev is not None else x.turn)
        if found is None and x.pruned_at is None:
            found = _check_records(nid, x, records, entries)
        if found is not None:
            problems.append(((found.seq or 0, 0), found))
            break
        expected_seq, expected_prev, before_prev, prev = x.seq + 1, x.hash, prev, x
    # rows the chain does not cover were inserted afterwards: placed at the entry of the turn they
    # claim, else where their row id falls
    for rid in sorted(set(records) - covered):
        rec = records[rid] or {}
        after = next((x for x in entries if x.turn is not None and x.turn == rec.get("turn")), None) or \
            next((x for x in entries if any(i > rid for i in (x.record_ids or []))), None)
        seq = after.seq if after is not None else (entries[-1].seq + 1 if entries else 1)
        problems.append(((seq, 1), Problem(nid, seq, "inserted", f"decision record {rid} ({rec.get('node')}/"
                                                                 f"{rec.get('gen_ai.operation.name')}) is not in the "
                                                                 "chain", after.id if after is not None else None,
                                           rec.get("turn"))))
        break
    if not problems:
        return None
    return min(problems, key=lambda p: p[0])[1]


def _check_records(nid: str, x: Any, records: dict[int, Any], entries: list[Any]) -> Problem | None:
    ids = list(x.record_ids or [])
    missing = [i for i in ids if i not in records]
    if missing:
        return Problem(nid, x.seq, "deleted", f"decision record {missing[0]} of this entry is missing"
                                              + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
                       x.id, x.turn)
    recs = [records[i] for i in ids]
    if chain_hash(x.prev_hash, recs) == x.hash:
        return None
    actual = [record_digest(rec) for rec in recs]
    stored = list(x.record_digests or [])
    if sorted(actual) == sorted(stored):
        return Problem(nid, x.seq, "reordered", "the entry's records are in another order than chained", x.id, x.turn)
    if len(stored) > len(actual):
        return Problem(nid, x.seq, "deleted", f"{len(stored) - len(actual)} of the entry's records were removed",
                       x.id, x.turn)
    if len(stored) < len(actual):
        return Problem(nid, x.seq, "inserted", f"{len(actual) - len(stored)} records were added to the entry",
                       x.id, x.turn)
    elsewhere = {d for y in entries if y.seq != x.seq for d in (y.record_digests or [])}
    for i, (a, s) in enumerate(zip(actual, stored, strict=True)):
        if a != s:
            rec = recs[i] or {}
            what = f"decision record {ids[i]} ({rec.get('node')}/{rec.get('gen_ai.operation.name')})"
            if a in elsewhere:
                return Problem(nid, x.seq, "reordered", f"{what} belongs to another entry of the chain", x.id, x.turn)
            return Problem(nid, x.seq, "edited", f"{what} differs from what was chained", x.id, x.turn)
    return Problem(nid, x.seq, "edited", "the entry's hash does not match its records", x.id, x.turn)


# --- retention -------------------------------------------------------------------------------------


@dataclass
class PruneReport:
    negotiations: list[str] = field(default_factory=list)
    records: int = 0
    entries_deleted: int = 0
    entries_kept: int = 0
    events: int = 0
    approvals: int = 0


def prune(conn: Connection, before: dt.datetime, *, dry_run: bool = False) -> PruneReport:
    """Delete the decision records (and events, decided approvals) of negotiations that ended before
    `before`, keeping the chain entries every daily root and published head needs (see the module doc).

    Open negotiations are never pruned. Proposals, deals and the negotiation rows stay (commercial records).
    """
    n, e = t.negotiations.c, t.audit_entries.c
    report = PruneReport()
    ended = [nid for (nid,) in conn.execute(select(n.id).where(and_(n.status != "open", n.updated_at < before))
                                            .order_by(n.id))]
    if not ended:
        return report
    _lock(conn)
    published = [p for (p,) in conn.execute(select(t.audit_published.c.position))]
    day = before.date().isoformat()
    for nid in ended:
        rows = conn.execute(select(e.id, e.seq, e.day, e.pruned_at).where(e.negotiation_id == nid)
                            .order_by(e.seq)).all()
        if any(x.day >= day for x in rows):  # written to on or after the cut-off: keep it whole
            continue
        keep: set[int] = set()
        last_of_day: dict[str, Any] = {}
        for x in rows:
            last_of_day[x.day] = x
        keep.update(x.id for x in last_of_day.values())
        for pos in published:
            upto = [x for x in rows if x.id <= pos]
            if upto:
                keep.add(upto[-1].id)
        drop = [x.id for x in rows if x.id not in keep]
        r = t.decision_records.c
        n_records = conn.execute(select(func.count()).select_from(t.decision_records)
                                 .where(r.negotiation_id == nid)).scalar() or 0
        n_events = conn.execute(select(func.count()).select_from(t.events)
                                .where(t.events.c.negotiation_id == nid)).scalar() or 0
        decided = and_(t.approvals.c.negotiation_id == nid, t.approvals.c.status != "pending")
        n_approvals = conn.execute(select(func.count()).select_from(t.approvals).where(decided)).scalar() or 0
        if not (drop or n_records or n_events or n_approvals) and all(x.pruned_at is not None for x in rows):
            continue  # pruned already
        report.negotiations.append(nid)
        report.entries_deleted += len(drop)
        report.entries_kept += len(keep)
        report.records += n_records
        report.events += n_events
        report.approvals += n_approvals
        if dry_run:
            continue
        if drop:
            conn.execute(delete(t.audit_entries).where(e.id.in_(drop)))
        conn.execute(update(t.audit_entries).where(and_(e.negotiation_id == nid, e.pruned_at.is_(None)))
                     .values(pruned_at=_utcnow()))
        conn.execute(delete(t.decision_records).where(r.negotiation_id == nid))
        conn.execute(delete(t.events).where(t.events.c.negotiation_id == nid))
        conn.execute(delete(t.approvals).where(decided))
    return report
