"""The text half of the guardrail: the words match the facts and reveal no internals.

Pure functions, no I/O, regular expressions compiled at import.

- `facts_from_proposal(p)`: every figure a proposal lets the text state.
- `check_text(text, facts, secrets)`: a list of `TextViolation`, each with a rule id:
  - `guardrail.text.untraced_figure`: a figure (see `numbers.extract_figures`
    for what counts and how it is normalised) that matches no fact;
  - `guardrail.text.unparsable_money`: a money-like token that cannot be read;
  - `guardrail.text.leak_term`: a phrase that reveals cost, floor, margin,
    approval limits or policy internals;
  - `guardrail.text.leak_figure`: an untraced figure equal to a secret (it is
    reported as a leak instead of as untraced: one violation per figure);
  - `guardrail.text.unbacked_promise`: money or terms promised in words that
    carry no figure, so no fact can back them ("a quarter off", "on the
    house", "we'll match any competitor", "pay whenever you like", "unlimited
    liability", "discount code ...").

Tracing (a figure is traced when one of its candidate values matches a fact)
- money: money facts, exact Decimal equality (3.1 == 3.10, never rounded), in
  the same currency; money written without a currency mark matches any.
- percent: percent facts, where the fact rounded half-up to the figure's
  written decimals gives the figure (7.142857 -> "7%", "7.1%", "7.14%"; not
  "7.15%"). Also spec/number facts whose source names a percent.
- quantity: quantity, number, spec and days facts.
- number (a bare number): the same, plus money facts (a price written without
  currency, "at 3.25 each"), the digit groups of id facts of three or more
  digits, or the only group of an id ("the 6204" for BRG-6204, "proposal 12"
  for P-12) and, for 1900-2199, the year of a date fact.
- days: days facts (lead time, validity days); also number/spec facts whose
  source names the written unit ("24 months" -> a `warranty_months` spec).
- date: date facts; a yearless date (9 December) or a month (December 2026)
  matches a date fact with the same fields.
- terms: terms facts after normalising (net 60 -> NET60, prepayment -> PREPAY).
  A duration in days traces to NETn terms when "pay"/"paid"/"invoice" is
  written within 40 characters ("payment within 30 days", "30-day payment").
- `id` and `spec` facts with text values (SKUs, product names, the proposal's
  non-negotiable terms, spec texts such as "230 V delta / 400 V star") are
  skipped verbatim in the draft, and the figures inside them become facts too
  ("box of 100" in a product name allows 100).

Leak terms (rule chosen: flag phrases that name an internal limit or where it
comes from, not the common words on their own)
- cost: "our/my [one word] cost(s)", internal / landed / purchase cost, "cost price", "at /
  below / above cost", "costs us", "cost to us", COGS, markup, break-even.
  Not: cost-effective, at no extra cost, shipping cost, total cost of ownership.
- margin(s) anywhere, except "margin of error" and "by a wide/narrow margin".
- floor anywhere, except floor-mounted / floor-standing / floor space ... and
  shop / factory / warehouse / ground floor.
- minimum / min. / lowest acceptable / reserve / reservation price; "the
  lowest we can go", "as low as we can go" (but "we can't go lower than 3.25"
  is fine: the figure itself is checked).
- walk-away price / point, walkaway, "our walk-away".
- approval limit / level / threshold / authority / chain ..., auto-approve,
  "get approval down to", "my manager can approve", "can approve up to".
  Not: "awaiting approval", "pending approval".
- maximum / deepest discount, discount limit / cap / ceiling, "I'm (only)
  allowed / authorised to go / offer / give", "the best I'm allowed", "my / our
  [one word] limit / authority", policy internals ("policy says /
  allows / lets", "per our policy", pricing policy / rules), "the system lets
  me / won't let me", target price, aspiration, concession curve, rule ids
  (policy.xxx, catalog.xxx, guardrail.xxx).

Secrets (`Secret`): a secret with a currency, or of kind cost / floor /
walk_away / target, is money, compared with money and bare-number figures
(exact equality, same currency when both are known); the others
(max_discount, margin, approval_limit without currency) are percentages,
compared with percent figures by the same rounding rule as facts.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Literal, NamedTuple

from agent.contract import Proposal
from agent.guardrail.numbers import (Figure, PartialDate, extract_figures, extract_masked, mask_protected,
                                     normalise_terms, raw_count)

__all__ = ["Fact", "Figure", "Secret", "TextViolation", "check_text", "extract_figures", "facts_from_proposal",
           "promise_terms"]

UNTRACED = "guardrail.text.untraced_figure"
UNBACKED = "guardrail.text.unbacked_promise"
UNPARSABLE = "guardrail.text.unparsable_money"
LEAK_TERM = "guardrail.text.leak_term"
LEAK_FIGURE = "guardrail.text.leak_figure"

FactKind = Literal["money", "percent", "quantity", "days", "date", "terms", "spec", "number", "id"]
SecretKind = Literal["cost", "floor", "walk_away", "approval_limit", "margin", "max_discount", "target"]


class Fact(NamedTuple):
    """Something the text may mention (a named tuple: an offer has some sixty, built on every check)."""

    kind: FactKind
    value: Decimal | str | dt.date  # Decimal for numeric kinds; str for terms/id/spec text values; date for dates
    source: str                     # e.g. "proposal.items[0].unit_price", "tool:catalog_lookup:BRG-6204.bore_mm"
    currency: str | None = None     # for money


@dataclass(frozen=True)
class Secret:
    """Something the text must never reveal."""

    kind: SecretKind
    value: Decimal
    currency: str | None = None


@dataclass(frozen=True)
class TextViolation:
    rule_id: str
    message: str
    span: tuple[int, int] | None = None


# --- facts of a proposal ---------------------------------------------------------------------------

def facts_from_proposal(p: Proposal, *, now: dt.datetime | None = None) -> list[Fact]:
    """Every figure of a proposal: lines, totals, discounts, terms, validity, alternatives and pending lines.

    Also a few figures derived from them only: the saving against list (per unit and per line), the list
    value of a line, and the discount and saving of an alternative against the list price of the same SKU.
    With `now`, the validity in days (both the whole days and the started days left).
    """
    cur = p.currency
    out: list[Fact] = [
        Fact("id", p.proposal_id, "proposal.proposal_id"), Fact("number", Decimal(p.version), "proposal.version"),
        Fact("money", p.total, "proposal.total", cur), Fact("terms", p.payment_terms, "proposal.payment_terms"),
        Fact("date", p.valid_until.date(), "proposal.valid_until")]
    if now is not None:
        left = p.valid_until - now
        out.append(Fact("days", Decimal(left.days), "proposal.valid_until (days left)"))
        if left - dt.timedelta(days=left.days):
            out.append(Fact("days", Decimal(left.days + 1), "proposal.valid_until (days left)"))
    list_prices: dict[str, Decimal] = {}
    offered: dict[str, Decimal] = {}
    for i, it in enumerate(p.items):
        w = f"proposal.items[{i}]"
        list_prices.setdefault(it.sku, it.list_price)
        offered.setdefault(it.sku, it.unit_price)
        saving = it.list_price - it.unit_price
        out += [Fact("id", it.sku, f"{w}.sku"), Fact("id", it.name, f"{w}.name"),
                Fact("quantity", Decimal(it.quantity), f"{w}.quantity"),
                Fact("money", it.unit_price, f"{w}.unit_price", cur),
                Fact("money", it.list_price, f"{w}.list_price", cur),
                Fact("percent", it.discount_percent, f"{w}.discount_percent"),
                Fact("money", it.line_total, f"{w}.line_total", cur),
                Fact("days", Decimal(it.lead_time_days), f"{w}.lead_time_days"),
                Fact("money", saving, f"{w}.saving_per_unit", cur),
                Fact("money", saving * it.quantity, f"{w}.saving", cur),
                Fact("money", it.list_price * it.quantity, f"{w}.list_value", cur)]
        if it.delivery_date is not None:
            out.append(Fact("date", it.delivery_date, f"{w}.delivery_date"))
    for i, alt in enumerate(p.alternatives or []):
        w = f"proposal.alternatives[{i}]"
        out += [Fact("id", alt.sku, f"{w}.sku"), Fact("id", alt.name, f"{w}.name"),
                Fact("quantity", Decimal(alt.quantity), f"{w}.quantity"),
                Fact("money", alt.unit_price, f"{w}.unit_price", cur),
                Fact("money", alt.line_total, f"{w}.line_total", cur),
                Fact("terms", alt.payment_terms, f"{w}.payment_terms"),
                Fact("days", Decimal(alt.lead_time_days), f"{w}.lead_time_days")]
        out += _against_list(alt.sku, alt.unit_price, list_prices, offered, w, cur)
    if p.pending is not None:
        out.append(Fact("money", p.pending.total, "proposal.pending.total", cur))
        out.append(Fact("date", p.pending.since.date(), "proposal.pending.since"))
        for i, pi in enumerate(p.pending.items):
            w = f"proposal.pending.items[{i}]"
            out += [Fact("id", pi.sku, f"{w}.sku"), Fact("quantity", Decimal(pi.quantity), f"{w}.quantity"),
                    Fact("money", pi.unit_price, f"{w}.unit_price", cur)]
            out += _against_list(pi.sku, pi.unit_price, list_prices, offered, w, cur)
    for key, value in p.terms.items():
        out.append(Fact("id", value, f"proposal.terms.{key}"))
    return out


def facts_from_own_text(text: str, source: str) -> list[Fact]:
    """The figures of a text the seller's own code wrote (a typed error's message), as facts.

    Such text is not the model's: its figures (a version number, the units
    available) may be said. The secrets are still checked against it.
    """
    figures, _ = extract_figures(text)
    out: list[Fact] = []
    for fig in figures:
        for value in fig.values:
            if isinstance(value, (Decimal, str, dt.date)) and not isinstance(value, bool):
                out.append(Fact(fig.kind, value, source, fig.currency))
    return out


def _against_list(sku: str, price: Decimal, list_prices: dict[str, Decimal], offered: dict[str, Decimal], where: str,
                  cur: str) -> list[Fact]:
    lp = list_prices.get(sku)
    if not lp:
        return []
    out: list[Fact] = [Fact("percent", (lp - price) * 100 / lp, f"{where}.discount_percent (against list)"),
                          Fact("money", lp - price, f"{where}.saving_per_unit (against list)", cur)]
    if sku in offered:
        out.append(Fact("money", offered[sku] - price, f"{where}.saving_per_unit (against the offer)", cur))
    return out


# --- the index of facts ------------------------------------------------------------------------------


_NUMERIC = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)\s*")
_DIGITS = re.compile(r"\d+")


def _dec(value: object) -> Decimal | None:
    if value.__class__ is Decimal:  # nearly every fact: skip the type tests below
        return value if value.is_finite() else None  # type: ignore[attr-defined]
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str) and _NUMERIC.fullmatch(value):
        return Decimal(value.strip())
    return None


@lru_cache(maxsize=4096)
def _text_value(value: str) -> tuple[Decimal | None, tuple[Decimal, ...], bool, tuple[Figure, ...]]:
    """An id or spec text: (its value if it is a plain number, its digit groups, protect it?, its figures)."""
    number = _dec(value)
    if number is not None:
        return number, (), False, ()
    found = _DIGITS.findall(value)
    if not found:
        return None, (), False, ()
    # Digit groups a bare number may cite: SKU-like groups (6204 of BRG-6204), or the only group of an id (P-12).
    runs = tuple(Decimal(r) for r in found if len(r) >= 3 or len(found) == 1)
    return None, runs, any(c.isalpha() for c in value), tuple(extract_figures(value)[0])


_terms_key = lru_cache(maxsize=1024)(normalise_terms)


class _Index:
    """Facts by the kind of figure they can trace; where two facts trace the same figure, the first one's
    source is the answer."""

    def __init__(self, facts: Sequence[Fact]) -> None:
        self.money: list[tuple[Decimal, str | None, str]] = []
        self.percent: list[tuple[Decimal, str]] = []
        self.counts: dict[Decimal, str] = {}
        self.days: dict[Decimal, str] = {}
        self.named: list[tuple[Decimal, str]] = []  # number/spec facts, matched by the unit in their source
        self.dates: list[tuple[dt.date, str]] = []
        self.terms: dict[str, str] = {}
        self.id_numbers: dict[Decimal, str] = {}
        self.protected: list[str] = []
        add = self._add
        for kind, value, src, currency in facts:
            add(kind, value, src, currency)

    def _add(self, kind: str, value: object, src: str, currency: str | None) -> None:
        if kind == "money":  # the commonest kind first; the branches exclude each other
            number = _dec(value)
            if number is not None:
                self.money.append((number, currency, src))
            return
        if kind == "date":
            if isinstance(value, dt.datetime):
                value = value.date()
            if isinstance(value, dt.date):
                self.dates.append((value, src))
            elif isinstance(value, str):
                try:
                    self.dates.append((dt.date.fromisoformat(value[:10]), src))
                except ValueError:
                    pass
            return
        if kind == "terms":
            self.terms.setdefault(_terms_key(str(value)), src)
            return
        if kind in ("id", "spec") and isinstance(value, str):
            number, runs, protect, figures = _text_value(value)
            if number is not None:
                self.counts.setdefault(number, src)
                self.named.append((number, src))
                return
            if kind == "id":
                for run in runs:
                    self.id_numbers.setdefault(run, src)
            if protect:
                self.protected.append(value)  # a SKU, a name or a text: skipped verbatim, its figures allowed
            for fig in figures:
                self._add_figure(fig, src)
            return
        number = _dec(value)
        if number is None:
            return
        if kind == "percent":
            self.percent.append((number, src))
        elif kind == "days":
            self.days.setdefault(number, src)
            self.counts.setdefault(number, src)
        else:  # quantity, number, spec, id with a numeric value
            self.counts.setdefault(number, src)
            if kind in ("number", "spec"):
                self.named.append((number, src))

    def _add_figure(self, fig: Figure, src: str) -> None:
        for v in fig.values:
            if fig.kind == "money":
                self.money.append((v, fig.currency, src))
            elif fig.kind == "percent":
                self.percent.append((v, src))
            elif fig.kind == "days":
                self.days.setdefault(v, src)
            elif fig.kind == "date":
                if isinstance(v, dt.date):
                    self.dates.append((v, src))
            elif fig.kind == "terms":
                self.terms.setdefault(v, src)
            else:
                self.counts.setdefault(v, src)

    def trace(self, fig: Figure) -> str | None:
        """The source of the first fact the figure matches, or None."""
        for v in fig.values:
            src = self._trace_value(fig, v)
            if src is not None:
                return src
        return None

    def _trace_value(self, fig: Figure, v: object) -> str | None:
        kind = fig.kind
        if kind == "date":
            for d, src in self.dates:
                if (v == d) if isinstance(v, dt.date) else (isinstance(v, PartialDate) and v.matches(d)):
                    return src
            return None
        if kind == "terms":
            return self.terms.get(_terms_key(str(v)))
        assert isinstance(v, Decimal)
        if kind == "money":
            for fv, cur, src in self.money:
                if fv == v and (fig.currency is None or cur is None or cur == fig.currency):
                    return src
            return None
        if kind == "percent":
            for fv, src in self.percent:
                if _rounds_to(fv, v):
                    return src
            return self._named(v, ("percent", "pct"))
        if kind == "days":
            if v in self.days:
                return self.days[v]
            unit = fig.unit or "day"
            return self._named(raw_count(v, unit), (unit,))
        if v in self.counts:  # quantity, number
            return self.counts[v]
        if kind == "number":
            for fv, _cur, src in self.money:
                if fv == v:
                    return src
            if v in self.id_numbers:
                return self.id_numbers[v]
            if v == v.to_integral_value() and 1900 <= v <= 2199:
                for d, src in self.dates:
                    if d.year == v:
                        return src
        return None

    def _named(self, v: Decimal, words: Sequence[str]) -> str | None:
        for fv, src in self.named:
            if fv == v and any(w in src.lower() for w in words):
                return src
        return None


def _rounds_to(exact: Decimal, shown: Decimal) -> bool:
    """Whether `exact`, rounded half-up to the decimals `shown` is written with, is `shown`."""
    exp = shown.as_tuple().exponent
    if not isinstance(exp, int):
        return False
    try:
        return exact.quantize(Decimal(1).scaleb(min(exp, 0)), rounding=ROUND_HALF_UP) == shown
    except InvalidOperation:
        return False


# --- leak terms ----------------------------------------------------------------------------------------

_LEAKS: dict[str, str] = {
    "cost": (r"\b(?:our|my)\s+(?!(?:shipping|delivery|freight|handling|transport|logistics)\s)(?:[a-z]+\s+)?"
             r"costs?\b(?!-)|\b(?:internal|landed|purchase|purchasing|acquisition)\s+costs?\b"
             r"|\bcost[\s-]+(?:price|basis|base)\b|\bcosts?\s+to\s+us\b|\bcosts?\s+us\b"
             r"|\b(?:at|below|under|above|over|near|close\s+to|barely\s+above|just\s+above)\s+cost\b(?![-\w])"
             r"|\bcogs\b|\bmark-?ups?\b|\bbreak[\s-]?even\b"),
    "margin": r"(?<!wide\s)(?<!narrow\s)(?<!large\s)(?<!small\s)(?<!comfortable\s)\bmargins?\b(?!\s+of\s+error)",
    "floor": (r"(?<!shop\s)(?<!factory\s)(?<!warehouse\s)(?<!production\s)(?<!ground\s)(?<!plant\s)(?<!first\s)"
              r"\bfloor\b(?![\s-]*(?:mounted|mount|mounting|standing|stand|space|plan|area|level|plate|tiles?|scales?|"
              r"drains?|model|version|type|installation|sweeper|cleaner|marking|tape))"),
    "minimum price": (r"\b(?:minimum|min\.?|lowest\s+(?:acceptable|possible|allowed|permitted)|reserve|reservation|"
                      r"bottom)\s+price\b"
                      r"|\b(?:the\s+)?(?:lowest|furthest|farthest|least|cheapest|deepest)\s+(?:that\s+)?(?:we|i)"
                      r"(?:\s+(?:can|could|may)|(?:\s+are|\s+am|'re|'m)\s+(?:able|allowed)\s+to)\s+"
                      r"(?:go|do|offer|accept|sell|drop|discount)\b"
                      r"|\bas\s+low\s+as\s+(?:we|i)\s+(?:can|could|are\s+allowed\s+to|am\s+allowed\s+to)\s+go\b"),
    "walk-away": (r"\bwalk[\s-]?away\s+(?:price|point|limit|figure|number|threshold|level)\b|\bwalkaway\b"
                  r"|\b(?:our|my|the)\s+walk[\s-]?away\b"),
    "approval limit": (r"\bapprov\w*\s+(?:limits?|levels?|thresholds?|authority|ceilings?|caps?|matrix|chain|rules?|"
                       r"bands?)\b"
                       r"|\bauto(?:matic(?:ally)?)?[\s-]?approv\w*"
                       r"|\b(?:get|getting|got|obtain|seek|request|need)\s+(?:an?\s+)?(?:approval|sign[\s-]?off|"
                       r"authori[sz]ation)\s+(?:down\s+to|up\s+to|for\s+up\s+to|to\s+go|as\s+low\s+as|"
                       r"for\s+as\s+low\s+as|below|under)\b"
                       r"|\b(?:manager|director|supervisor|boss|head\s+of\s+sales|vp|team\s+lead|management)\s+"
                       r"(?:can|could|may|might|would|will|is\s+able\s+to|is\s+allowed\s+to|has\s+authority\s+to)\s+"
                       r"(?:only\s+)?(?:approve|authori[sz]e|sign\s+off|grant|go|allow|accept)\b"
                       r"|\b(?:can|could|may)\s+(?:approve|authori[sz]e|sign\s+off\s+on)\s+(?:up\s+to|down\s+to|"
                       r"as\s+low\s+as|as\s+much\s+as|discounts?\s+(?:up\s+to|of))\b"),
    "maximum discount": (r"\b(?:max(?:imum)?\.?|deepest|highest)\s+(?:possible\s+|allowed\s+|permitted\s+)?discount\b"
                         r"|\b(?:my|our)\s+(?:[a-z]+\s+)?(?:limit|authority|ceiling)s?\b"
                         r"|\b(?:best|most|lowest|deepest)\s+(?:that\s+)?(?:i'm|i\s+am|we're|we\s+are)\s+(?:allowed|"
                         r"authori[sz]ed|permitted)\b"
                         r"|\bdiscount\s+(?:limit|cap|ceiling|authority|threshold)s?\b"
                         r"|\b(?:i|we)(?:'m|'re|\s+am|\s+are)?\s+(?:only\s+|not\s+)?(?:allowed|authori[sz]ed|permitted|"
                         r"empowered|cleared)\s+to\s+(?:go|offer|give|discount|drop|reduce|sell|approve|accept)\b"),
    "policy": (r"(?<!return\s)(?<!returns\s)(?<!privacy\s)(?<!warranty\s)(?<!cancellation\s)\bpolic(?:y|ies)\s+"
               r"(?:says?|allows?|permits?|lets|limits?|caps?|forbids?|prevents?|requires?|states?|sets?|won't|"
               r"doesn't|does\s+not|only|restricts?|prohibits?|dictates?|gives)\b"
               r"|\b(?:per|according\s+to|under|within|by|in\s+line\s+with)\s+(?:our|the|my|company|internal)\s+"
               r"(?:pricing\s+|discount\s+|sales\s+)?polic(?:y|ies)\b"
               r"|\b(?:pricing|discount)\s+(?:policy|policies|rules?|engine|guardrails?)\b"
               r"|\bthe\s+(?:system|tool|engine|software|algorithm|guardrail)s?\s+(?:lets|allows|permits|won't\s+let|"
               r"will\s+not\s+let|doesn't\s+let|does\s+not\s+let|blocks|prevents|caps|limits|only\s+lets|"
               r"only\s+allows)\b"),
    "internals": (r"\btarget\s+(?:price|discount)\b|\baspiration(?:\s+price)?\b|\bconcession\s+(?:curve|strategy|"
                  r"schedule)\b|\bboulware\b|\bdecision\s+surface\b|\brule[\s_]ids?\b"
                  r"|\b(?:policy|catalog|guardrail)\.[a-z_]+"),
}
# Each label's pattern runs (on the lower-cased text) only when one of its trigger words occurs.
_LEAK_TRIGGERS: dict[str, tuple[str, ...]] = {
    "cost": ("cost", "cogs", "mark", "break"),
    "margin": ("margin",),
    "floor": ("floor",),
    "minimum price": ("min", "lowest", "reserv", "bottom", "furthest", "farthest", "least", "cheapest", "deepest",
                      "as low as"),
    "walk-away": ("walk",),
    "approval limit": ("approv", "authori", "sign off", "sign-off"),
    "maximum discount": ("discount", "limit", "authority", "ceiling", "allowed", "authori", "permitted", "empowered",
                         "cleared"),
    "policy": ("polic", "system", "tool", "engine", "software", "algorithm", "guardrail"),
    "internals": ("target", "aspiration", "concession", "boulware", "surface", "rule", "policy.", "catalog.",
                  "guardrail."),
}
_LEAK_RES = [(label, _LEAK_TRIGGERS[label], re.compile(rx)) for label, rx in _LEAKS.items()]


def leak_terms(text: str) -> list[tuple[str, str, int, int]]:
    """Phrases of `text` that reveal pricing internals: (label, phrase, start, end), in text order."""
    low = text.lower()
    if len(low) != len(text):
        low = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    low = low.replace("’", "'")
    out = []
    for label, triggers, rx in _LEAK_RES:
        if any(w in low for w in triggers):
            out += [(label, text[m.start():m.end()], m.start(), m.end()) for m in rx.finditer(low)]
    out.sort(key=lambda x: (x[2], -x[3]))
    kept: list[tuple[str, str, int, int]] = []
    for found in out:  # one report per phrase: drop matches inside an earlier one
        if not kept or found[2] >= kept[-1][3]:
            kept.append(found)
    return kept


# --- promises without a figure ---------------------------------------------------------------------------
# Money or terms a draft promises in words alone: no figure, so nothing to trace, yet a buyer would hold the seller
# to it. The offer's own terms are masked before this runs (a policy term that says "free delivery" is a fact).
# A negation a few words before ("we cannot offer free samples"), not "not only" / "no doubt" / "no minimum order";
# or just after, in the same clause ("unlimited liability is not something we accept", "discount codes do not apply").
_NOT_BEFORE = re.compile(r"(?:\bnot(?!\s+only)|n't|\bno(?!\s+(?:minimum|doubt|need|matter|problem))|\bnever|\bcannot"
                         r"|\bunable\s+to|\bwithout(?!\s+(?:a\s+)?doubt))\s+(?:\w+\s+){0,3}$")
_NOT_AFTER = re.compile(r"[^.!?;:\n]{0,30}?(?:\b(?:not|never|cannot)\b|n't\b)")
_SENTENCE_FIGURE = re.compile(r"\d")
# What a seller might give away besides the price: a promise of one of these for nothing is money too.
_EXTRAS = (r"(?:shipping|delivery|freight|transport|carriage|installation|set[\s-]?up|samples?|returns?|units?|"
           r"pieces?|goods|items?|batch(?:es)?|pallets?|upgrades?|service|support|training|seals|extras?|bonus|"
           r"accessories|spares?|spare\s+parts)")
_PROMISES: dict[str, str] = {
    "a discount in words": (
        r"\b(?:a|one|two|three)[\s-]+(?:quarters?|thirds?|fifths?|eighths?|tenths?)\s+(?:off|discount|cheaper|"
        r"less|reduction)\b|\b(?:quarter|third|fifth|tenth)[\s-]+(?:off|discount)\b|\brebates?\b"),
    "goods or charges for free": (
        rf"\bfor\s+free\b|\bfree\s+of\s+charge\b|\bon\s+the\s+house\b|\b(?:is|are|be|'s)\s+on\s+us\b|\bgratis\b"
        rf"|\bbuy\s+\w+,?\s+get\s+\w+(?:\s+\w+)?\s+free\b|\bbogo\b|\bcomplimentary\s+{_EXTRAS}"
        rf"|(?<![\w]-)\bfree[\s-]+{_EXTRAS}\b|\b{_EXTRAS}\s+(?:is|are|will\s+be|comes?)\s+(?:also\s+|entirely\s+|"
        rf"completely\s+|totally\s+)?(?:free|included\s+free)\b(?!\s+(?:of|from)\b)|\b{_EXTRAS}\s*:\s*free\b"
        rf"|\b{_EXTRAS}\b(?:\s+\w+){{0,4}}\s+at\s+no\s+(?:extra\s+|additional\s+)?(?:cost|charge)\b"
        rf"|\bat\s+our\s+(?:own\s+)?(?:expense|cost)\b|\bno\s+charge\b|\bzero\s+(?:\w+\s+)?(?:cost|charges?)\b"
        rf"|\bcharge\s+(?:you\s+)?nothing\b|\bwon't\s+cost\s+you\s+(?:anything|a\s+(?:cent|penny|thing))\b"
        rf"|\bthrow(?:ing)?\s+(?:in|(?:the|a|some|an)\s+(?:\w+\s+){{0,2}}in)\b|\bthrown\s+in\b"
        rf"|\bwe(?:'ll|\s+will|\s+can)?\s+cover\s+(?:the\s+|all\s+|your\s+)?(?:\w+\s+)?(?:shipping|freight|delivery|"
        rf"transport|costs?|fees?)\b"),
    "a price to be matched or lowered": (
        r"\b(?:we|i)(?:'ll|\s+will|\s+can|\s+could|\s+would|'d)?\s+(?:happily\s+|gladly\s+|always\s+)?(?:match|beat|"
        r"meet|undercut)\s+(?:any|every|their|competitors?'?|competing|other|a\s+cheaper|all)\b|\bundercut\b"
        r"|\b(?:match|beat)\s+(?:any|every)\s+(?:\w+\s+)?(?:price|offer|quote|bid)s?\b"
        r"|\bprice[\s-]match|\bprice\s+protection\b|\brefund\s+the\s+difference\b|\bcredit\s+(?:your\s+account|you)\s+"
        r"(?:for\s+)?the\s+difference\b|\blowest\s+price\s+(?:on\s+the\s+market|guarantee)|\bguarantee\s+(?:you\s+)?"
        r"(?:the\s+)?lowest\s+price\b|\bwe(?:'ll|\s+will)\s+meet\s+it\b"
        r"|\b(?:happy|glad|willing|ready)\s+to\s+(?:go|come|drop|get)\s+(?:even\s+|much\s+|a\s+bit\s+|a\s+little\s+)?"
        r"(?:lower|cheaper|further(?:\s+down)?|down\s+further)\b|\blower\s+the\s+price\s+further\b"
        r"|\bname\s+your\s+(?:own\s+)?price\b|\b(?:any|whatever)\s+price\s+you\s+(?:want|like|name|propose)\b"
        r"|\bmake\s+us\s+an\s+offer\b|\bmore\s+room\s+in\s+the\s+price\b|\bprice\s+is\s+negotiable\b"),
    "payment terms not offered": (
        r"\bpay\s+(?:whenever|what(?:ever)?|when(?:ever)?)\s+(?:you|it)\s+(?:want|like|can|wish|suits)\b|\bpay\s+whenever\b"
        r"|\bno\s+payment\s+(?:is\s+)?(?:needed|required)\b|\bpayment\s+(?:is\s+)?optional\b"
        r"|\b(?:waive|forgive|cancel|write\s+off|drop)\s+(?:the\s+|your\s+|any\s+|all\s+)?(?:\w+\s+)?(?:invoices?|"
        r"payments?|fees?|charges?|interest|penalt\w*)\b|\bconsider\s+(?:the|your)\s+invoice\s+paid\b"
        r"|\bdon't\s+have\s+to\s+pay\b|\bextend\s+(?:the\s+)?payment\s+terms\b|\bpay\s+after\s+you\b"),
    "terms beyond the policy": (
        r"\b(?:unlimited|lifetime|unconditional|no[\s-]questions[\s-]asked)\s+(?:warranty|liability|guarantee|"
        r"returns?|refunds?)\b|\bunlimited\s+\w+\s+liability\b|\bwarranty\s+for\s+life\b|\bwarranty\s*:\s*unlimited\b"
        r"|\b(?:full|all)\s+liability\s+for\b"),
    "a discount code": r"\b(?:discount|promo|promotion|coupon|voucher)\s+codes?\b|\bcoupons?\b|\bvouchers?\b"
                       r"|\buse\s+code\b",
    "a loss or a margin in words": r"\b(?:at|for)\s+(?:a|almost\s+a|nearly\s+a)\s+loss\b|\bgiving\s+it\s+away\b"
                                   r"|\bbelow\s+what\s+we\s+pay\b",
}
# Phrases that promise nothing when the same sentence carries figures: the figures are checked (backed by a move or
# an alternative, or blocked), the words only lead to them ("happy to go lower at 2000 units: 2.71 EUR each").
_UNLESS_FIGURES = frozenset({"a price to be matched or lowered"})
_PROMISE_TRIGGERS: dict[str, tuple[str, ...]] = {
    "a discount in words": ("quarter", "third", "fifth", "eighth", "tenth", "rebate"),
    "goods or charges for free": ("free", "house", "on us", "gratis", "bogo", "complimentary", "no extra",
                                  "no additional", "charge", "throw", "thrown", "no cost", "expense", "our cost",
                                  "zero", "nothing", "cost you", "cover"),
    "a price to be matched or lowered": ("match", "beat", "meet", "undercut", "protection", "difference", "lowest",
                                         "lower", "cheaper", "further", "name your", "price you", "make us",
                                         "room in", "negotiable"),
    "payment terms not offered": ("pay", "waive", "forgive", "cancel", "write off", "drop", "invoice"),
    "terms beyond the policy": ("unlimited", "lifetime", "unconditional", "questions", "warranty", "liability"),
    "a discount code": ("code", "coupon", "voucher"),
    "a loss or a margin in words": ("loss", "giving it away", "what we pay"),
}
_PROMISE_RES = [(label, _PROMISE_TRIGGERS[label], re.compile(rx)) for label, rx in _PROMISES.items()]


def _folded(text: str) -> tuple[str, list[int] | None]:
    """`text` as a reader sees it, lower-cased: compatibility forms folded (fullwidth letters), format characters
    dropped (zero-width spaces, soft hyphens), typographic apostrophes plain; and for each character of it, the
    index of the character of `text` it came from (None: the same index, for ASCII text, every draft's usual case,
    folded at C speed)."""
    if text.isascii():
        return text.lower(), None
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        if ch.isascii():
            out.append(ch.lower())
            where.append(i)
            continue
        if unicodedata.category(ch) == "Cf":
            continue
        for c in unicodedata.normalize("NFKC", ch).lower().replace("’", "'"):
            out.append(c)
            where.append(i)
    where.append(len(text))
    return "".join(out), where


def promise_terms(text: str) -> list[tuple[str, str, int, int]]:
    """Phrases of `text` that promise money or terms in words alone: (label, phrase, start, end), in text order.
    A phrase under a negation just before or after it in its clause ("we cannot go lower", "no free samples",
    "unlimited liability is not something we accept") promises nothing."""
    low, where = _folded(text)
    out = []
    for label, triggers, rx in _PROMISE_RES:
        if not any(w in low for w in triggers):
            continue
        for m in rx.finditer(low):
            if _NOT_BEFORE.search(low, max(0, m.start() - 40), m.start()) or _NOT_AFTER.match(low, m.end()):
                continue
            if label in _UNLESS_FIGURES:
                begin = max(low.rfind(c, 0, m.start()) for c in ".!?;\n") + 1
                stops = [i for i in (low.find(c, m.end()) for c in ".!?;\n") if i >= 0]
                if _SENTENCE_FIGURE.search(low, begin, min(stops, default=len(low))):
                    continue
            start, end = (m.start(), m.end()) if where is None else (where[m.start()], where[m.end()])
            out.append((label, text[start:end], start, end))
    out.sort(key=lambda x: x[2])
    return out


# --- the check -------------------------------------------------------------------------------------------

_MONEY_SECRETS = frozenset({"cost", "floor", "walk_away", "target"})


def _is_money_secret(s: Secret) -> bool:
    return s.currency is not None or s.kind in _MONEY_SECRETS


def _secret_hit(fig: Figure, secrets: Sequence[Secret]) -> Secret | None:
    for s in secrets:
        if _is_money_secret(s):
            if fig.kind not in ("money", "number"):
                continue
            if fig.currency and s.currency and fig.currency != s.currency:
                continue
            if any(isinstance(v, Decimal) and v == s.value for v in fig.values):
                return s
        elif fig.kind == "percent" and any(isinstance(v, Decimal) and _rounds_to(s.value, v) for v in fig.values):
            return s
    return None


_PAYMENT_WORDS = re.compile(r"\bpa(?:y|id)|invoice", re.I)


def _payment_days(fig: Figure, index: _Index, text: str) -> bool:
    """ "Payment within 30 days", "a 30-day payment term": a duration in days that states NET30 terms."""
    if fig.kind != "days" or fig.unit != "day":
        return False
    nets = {f"NET{int(v)}" for v in fig.values if isinstance(v, Decimal) and v == v.to_integral_value()}
    if not nets & index.terms.keys():
        return False
    return bool(_PAYMENT_WORDS.search(text, max(0, fig.start - 40), fig.end + 40))


def _show(values: tuple) -> str:
    return " or ".join(str(v) for v in values) if values else "no valid value"


def check_text(text: str, facts: Sequence[Fact], secrets: Sequence[Secret] = ()) -> list[TextViolation]:
    """Every way the draft's words disagree with the facts or reveal internals (empty: the text may be sent)."""
    index = _Index(facts)
    masked = mask_protected(text, index.protected)
    figures, bad = extract_masked(text, masked)
    out: list[TextViolation] = []
    for token, start, end in bad:
        out.append(TextViolation(UNPARSABLE, f"money-like {token!r} cannot be read as an amount", (start, end)))
    for fig in figures:
        if index.trace(fig) is not None or _payment_days(fig, index, text):
            continue
        hit = _secret_hit(fig, secrets)
        if hit is not None:
            out.append(TextViolation(LEAK_FIGURE, f"{fig.kind} {fig.text!r} equals an internal figure ({hit.kind}) "
                                     "and is not a figure of the offer", (fig.start, fig.end)))
        else:
            cur = f" {fig.currency}" if fig.currency else ""
            out.append(TextViolation(UNTRACED, f"{fig.kind} {fig.text!r} ({_show(fig.values)}{cur}) matches nothing "
                                     "in the offer, its alternatives or this turn's tool results",
                                     (fig.start, fig.end)))
    for label, phrase, start, end in leak_terms(masked):
        out.append(TextViolation(LEAK_TERM, f"{phrase!r} reveals {label} (pricing internals)", (start, end)))
    for label, phrase, start, end in promise_terms(masked):
        out.append(TextViolation(UNBACKED, f"{phrase!r} promises {label}: only the offer's figures and terms may "
                                 "be promised", (start, end)))
    out.sort(key=lambda v: v.span or (0, 0))
    return out
