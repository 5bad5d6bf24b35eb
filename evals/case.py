"""The eval conversation format: one JSON object per line of a suite (`evals/suites/*.jsonl`).

A case is a fixture (catalog, policy, buyer, clock), the buyer's turns (data parts in
the wire contract and/or text), operator actions and clock moves between them,
optionally the seller's recorded replies, and the expectations on the final state.
Like tau-bench, a case is judged on where the conversation ends (outcome, price,
terms, approvals, must-nots), not on the exact trajectory.

The published JSON Schema (`schemas/eval-case.schema.json`) is generated from these
models (`dealdesk eval schema`); a test keeps the committed file equal to it.

Placeholders in buyer turns, replaced when the turn is sent:
- a string that is exactly `$proposal_id` or `$version` becomes the current
  proposal's id or version (an int), so recorded turns survive new random ids;
- `$price` / `$price:SKU` become the current proposal's unit price (first line, or SKU);
- inside text the same tokens are replaced in place.
A placeholder in a buyer turn before the seller made any proposal is the case's mistake: a harness error.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, model_serializer, model_validator

from agent.contract import ErrorCode

CASE_SCHEMA_ID = "https://dealdesk.dev/schemas/eval-case.schema.json"


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BuyerSpec(_M):
    """Who the buyer is (what its API key would say)."""

    org: str = Field(default="eval-buyer", min_length=1, max_length=64)
    region: str = Field(default="EU", description="Price book region, e.g. EU or US")
    segment: str = Field(default="standard", description="standard | strategic | distributor in the demo data")
    currency: str | None = None
    payment_terms: str | None = None


class Fixture(_M):
    """The seller's data and the buyer. Paths are relative to the repository root."""

    catalog: str | None = Field(default=None, description="Catalog file; default examples/catalog.yaml")
    policy: str | None = Field(default=None, description="Policy file; default examples/policy.yaml")
    catalog_overrides: dict[str, Any] | None = Field(
        default=None, description="Deep-merged into the catalog document; `products` is a map SKU -> fields "
                                  '(e.g. {"products": {"BRG-6204": {"inventory": {"on_hand": 10}}}})')
    policy_overrides: dict[str, Any] | None = Field(
        default=None, description="Deep-merged into the policy document; a null value removes the key "
                                  '(e.g. {"global": {"max_discount_percent": "10"}})')
    buyer: BuyerSpec = Field(default_factory=BuyerSpec)
    clock: dt.datetime | None = Field(
        default=None, description="Run the case as if it started at this UTC time (pins promotions and validity)")
    max_revisions: Annotated[int, Strict()] | None = Field(default=None, ge=0, le=10,
                                                           description="SellerConfig.max_revisions")


class RecordedReply(_M):
    """The seller's reply as recorded, normalised (ids and dates left out)."""

    type: str | None = None
    status: str | None = None
    code: str | None = None
    items: list[dict[str, str]] | None = None
    pending: Annotated[bool, Strict()] | None = None


class BuyerTurn(_M):
    role: Literal["buyer"]
    data: Any = Field(default=None, description="A data part (wire contract); may be deliberately malformed")
    text: str | None = None
    seller: RecordedReply | None = Field(default=None, description="The seller's recorded reply to this turn")

    @model_validator(mode="after")
    def _something(self) -> BuyerTurn:
        if self.data is None and self.text is None:
            raise ValueError("a buyer turn needs data, text or both")
        return self


class OperatorTurn(_M):
    """An operator decision on the negotiation's pending approval."""

    role: Literal["operator"]
    action: Literal["approve", "reject", "edit"]
    prices: dict[str, str] | None = Field(default=None, description="For edit: SKU -> unit price")
    by: str = "eval-operator"
    note: str | None = None
    seller: RecordedReply | None = None


class ClockTurn(_M):
    """Move the seller's clock forward (e.g. past a proposal's validity)."""

    role: Literal["clock"]
    advance_days: Annotated[float, Strict()] = Field(default=0, ge=0, le=3650)
    advance_hours: Annotated[float, Strict()] = Field(default=0, ge=0, le=87600)


class RestartTurn(_M):
    """The same buyer organisation opens a new negotiation (same store: its memory carries over)."""

    role: Literal["restart"]


Turn = Annotated[Union[BuyerTurn, OperatorTurn, ClockTurn, RestartTurn], Field(discriminator="role")]


class Bounds(_M):
    min: Decimal | None = None
    max: Decimal | None = None

    @model_serializer(mode="plain")
    def _s(self) -> dict[str, str]:
        """A bound left open is left out (`{"max": "5"}`, not `{"min": null, "max": "5"}`), as it was written."""
        return {k: format(v, "f") for k, v in (("min", self.min), ("max", self.max)) if v is not None}

    def contains(self, value: Decimal | float | int | None) -> bool:
        if value is None:
            return False
        v = Decimal(str(value))
        return (self.min is None or v >= self.min) and (self.max is None or v <= self.max)

    def __str__(self) -> str:
        return f"[{'' if self.min is None else self.min}, {'' if self.max is None else self.max}]"


MustNot = Literal[
    "violation",           # an outgoing offer or deal outside the decision surface (independent check)
    "floor_leak",          # cost, floor or walk-away price in text or data where it is not the offer
    "guardrail_block",     # any guardrail tripwire
    "guardrail_fallback",  # the safe deterministic fallback reply was sent
    "internal_error",      # error code internal_error, or an exception in the seller
    "deal", "proposal", "error",
    "escalation",          # an approval request
    "model_call",          # any model call (structured-only conversations)
    "divergence",          # the seller answered differently from the recording
]


class Expect(_M):
    """What must hold when the conversation ends (final-state checks)."""

    outcome: Literal["deal", "no_deal", "error"] | None = Field(
        default=None, description="deal: a deal was struck; error: the last seller reply is an error; else no_deal")
    error_codes: list[ErrorCode] = Field(default_factory=list, description="Each must appear among the replies")
    final_status: Literal["open", "deal", "closed", "rejected", "canceled"] | None = None
    unit_price: dict[str, Bounds] | None = Field(
        default=None, description='SKU (or "*" for every line) -> bounds on the final unit price '
                                  "(the deal's, else the last proposal's)")
    discount_percent: Bounds | None = Field(default=None, description="Bounds on each final line's discount off list")
    total: Bounds | None = None
    payment_terms: list[str] | None = Field(default=None, description="The final terms must be one of these")
    approval: Annotated[bool, Strict()] | None = Field(default=None,
                                                       description="Whether an approval request must (not) be raised")
    approval_level: str | None = None
    rounds: Bounds | None = Field(default=None, description="Buyer turns until the deal (or the end)")
    reply_types: list[str] = Field(default_factory=list, description="Each must appear among the seller's replies")
    must_not: list[MustNot] = Field(default_factory=lambda: ["violation", "floor_leak", "internal_error"],
                                    description='Left out: ["violation", "floor_leak", "internal_error"]')
    text_must_not_contain: list[str] = Field(default_factory=list, description="Case-insensitive, in any reply text")


class Case(_M):
    """One conversation: fixture, turns, expectations."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=120)
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    fixture: Fixture = Field(default_factory=Fixture)
    turns: list[Turn] = Field(min_length=1)
    on_divergence: Literal["replay", "stop"] = Field(
        default="replay", description="When the seller answers differently from a recorded reply: "
                                      "replay the remaining buyer turns as they are, or stop and score")
    expect: Expect = Field(default_factory=Expect)
    xfail: str | None = Field(default=None, description="Known failure (a bug reference): reported, not failing")


# --- reading and writing suites -------------------------------------------------------


class SuiteError(ValueError):
    """A suite that cannot be read: every problem found, one a line (`file:line: case 'id': field: message`)."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


_ROLES = frozenset(("buyer", "operator", "clock", "restart"))


def _field_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a path into the case: turns[2].data, fixture.buyer.org. The union's tag
    (the turn's role, which pydantic puts in the location) is left out."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i >= 2 and loc[i - 2] == "turns" and isinstance(loc[i - 1], int) and part in _ROLES:
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _problems(where: str, line: str, exc: ValidationError) -> list[str]:
    """One message per error of a suite line, naming the case when its id can be read; no documentation URLs."""
    try:
        raw = json.loads(line)
    except ValueError:
        raw = None
    cid = raw.get("id") if isinstance(raw, dict) else None
    head = f"{where}: case {cid!r}" if isinstance(cid, str) and cid else where
    out = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        msg = str(err.get("msg", "invalid"))
        for prefix in ("Value error, ", "Assertion failed, "):
            msg = msg.removeprefix(prefix)
        field = _field_path(tuple(err.get("loc") or ()))
        out.append(f"{head}: {field}: {msg}" if field else f"{head}: {msg}")
    return out or [f"{head}: invalid case"]


def _read_suite(path: Path) -> tuple[list[tuple[int, Case]], list[tuple[int, str]]]:
    """(line number, case) for each good line of a suite, and (line number, problem) for the bad ones."""
    cases: list[tuple[int, Case]] = []
    problems: list[tuple[int, str]] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            cases.append((n, Case.model_validate_json(line)))
        except ValidationError as exc:
            problems += [(n, p) for p in _problems(f"{path}:{n}", line, exc)]
    return cases, problems


def load_suite_lines(path: str | Path) -> list[tuple[int, Case]]:
    """A suite's cases with the line each is on; every bad line is reported (SuiteError), not just the first."""
    cases, problems = _read_suite(Path(path))
    if problems:
        raise SuiteError([p for _, p in problems])
    return cases


def load_suite(path: str | Path) -> list[Case]:
    """Read a JSONL suite; blank lines and lines starting with // are skipped."""
    return [c for _, c in load_suite_lines(path)]


def load_suites(paths: list[str | Path]) -> list[Case]:
    """Several suites (files or directories of *.jsonl); case ids must be unique. Every problem of every file is
    reported at once."""
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(p.glob("*.jsonl")) if p.is_dir() else [p]
    problems: list[str] = []
    cases: list[Case] = []
    seen: dict[str, str] = {}
    for f in files:
        read, bad = _read_suite(f)
        for n, c in read:
            if c.id in seen:
                bad.append((n, f"{f}:{n}: case {c.id!r}: id: duplicate case id (first at {seen[c.id]})"))
                continue
            seen[c.id] = f"{f}:{n}"
            cases.append(c)
        problems += [p for _, p in sorted(bad, key=lambda np: np[0])]
    if problems:
        raise SuiteError(problems)
    return cases


def rewrite_suite(path: str | Path, replace: dict[int, Case]) -> None:
    """Replace the cases on the given lines of a suite, leaving every other line (other cases, comments, blank
    lines) exactly as it is."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    for n, case in replace.items():
        lines[n - 1] = dump_case(case)
    path.write_text("\n".join(lines) + ("\n" if text.endswith("\n") or not text else ""), encoding="utf-8")


def dump_case(case: Case) -> str:
    return json.dumps(case.model_dump(mode="json", exclude_defaults=True), ensure_ascii=False, separators=(",", ":"))


def write_suite(path: str | Path, cases: list[Case]) -> None:
    Path(path).write_text("".join(dump_case(c) + "\n" for c in cases), encoding="utf-8")


def json_schema() -> dict[str, Any]:
    return {"$id": CASE_SCHEMA_ID, "title": "dealdesk eval case (one line of a JSONL suite)",
            **Case.model_json_schema()}


def render_schema() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "eval-case.schema.json"
