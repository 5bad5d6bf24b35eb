"""The offline parser's scan of one text (`_Scan`): each step finds what the text names (SKUs, proposal references,
terms, dates, percentages, prices, quantities, places, specs) and blanks what it consumed, so that later steps
never read the same characters twice; and how a written number is read (`_price`, `_quantity`)."""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any

from agent.contract import MAX_TEXT
from agent.guardrail.numbers import number_words
from agent.offline.context import MAX_NOTES, MAX_PRICE, MAX_QUANTITY, _NOTE_CHARS, TextContext
from agent.offline.index import _index
from tools.catalog.search import parse_spec_filter
from agent.offline.patterns import (
    _SKU_FIRST_AFTER, _SKU_FIRST_BEFORE, _PAST_PRICE_BEFORE, _AFTER_NOT_PRICE, _AFTER_YEAR_UNIT, _BARE_TOTAL, _BIND_AFTER, _BIND_AFTER_UNIT, _BIND_BEFORE, _BIND_QTY_KW, _BIND_WEAK_AFTER,
    _BIND_WEAK_BEFORE, _BUDGET_BEFORE, _BUYER_REF, _CAREFUL, _CTRL, _CURRENCY_CODE, _DATE_TRIGGER, _DATES, _DELIVERY_TRIGGER, _DEST_PREP,
    _EU_CODE, _EXPLICIT_QTY_AFTER, _EXPLICIT_QTY_BEFORE, _I, _LETTERS, _LIST_BEFORE, _LOC_PREP, _MONEY_SHAPED, _MONTHS,
    _MORE_CUE, _NAME_STOP, _NB, _NE, _NOT_A_PRICE_BEFORE, _NOT_DELIVERY_BEFORE, _NOT_SKU_PREFIX, _NUM, _ONE_COUNTS, _PCT, _PCT_CONTEXT, _PER_UNIT, _PERIOD_KEYS,
    _PLACE_FIRST, _PLACES, _PRICE_CENTS, _PRICE_CUR, _PRICE_MARK_INSIDE, _PRICE_FOR_Q, _PRICE_KW, _PRICE_PER, _PROPOSAL_GENERIC, _PROPOSAL_WORD,
    _QTY_ALONE, _QTY_BARE, _QTY_BEFORE_PRICE, _QTY_BEFORE_WORD, _QTY_FOR, _QTY_KW, _QTY_VERB, _REGION_KW, _SKU_ANY,
    _SKU_KEYWORD_BEFORE, _SKU_SHAPE, _SKU_SPLIT_QTY_AFTER, _SKU_SPLIT_QTY_BEFORE, _SLASH_TRIGGER, _SPEC_OP, _SPEC_UNIT,
    _SPEC_VALUE, _TERMS_DAYS, _TERMS_NET, _TERMS_PREPAY, _TIME_AFTER, _TOKEN, _TOTAL_AFTER, _TOTAL_BEFORE, _TRANS, _US_CODE,
    _VERSION_AFTER, _VERSION_ALONE, _VOLUME, _WEEKDAYS, _YEAR, _PERIOD_NOT_DELIVERY, _REL_DAY_TRIGGER,
    _CLAUSE_BREAK, _MATCH_ASK, _OTHERS_AFTER, _OTHERS_BEFORE, _OWN_PRICE_BEFORE, _PAID_BEFORE, _DISCOUNT_NOT_ASKED_BEFORE,
    _CASH_DISCOUNT, _CASH_TERMS, _MORE_QTY, _PAST_PRICE_AFTER, _PAST_REMARK_AFTER, _REMARK_BEFORE,
    _sentence_before, _singular, _stems,
)


# --- number reading --------------------------------------------------------------------


def _quantity(raw: str) -> tuple[int | None, str | None]:
    """A written quantity as an int, or (None, why) when it is not one (or out of range)."""
    s = raw.strip()
    mult = 1
    if s[-1:] in ("k", "K"):
        mult, s = 1000, s[:-1]
    if not s or len(s) > 16:
        return None, f"number {raw[:24]!r} is too long"
    if s.isdigit():
        value = int(s)
    elif re.fullmatch(r"[0-9]{1,3}(?:,[0-9]{3})+", s):
        value = int(s.replace(",", ""))
    elif re.fullmatch(r"[0-9]{1,3}(?:\.[0-9]{3})+", s):
        value = int(s.replace(".", ""))
    elif re.fullmatch(r"[0-9]+\.0+", s):
        value = int(s.split(".")[0])
    elif mult == 1000 and re.fullmatch(r"[0-9]{1,6}[.,][0-9]{1,3}", s):  # "2.5k", "2,5k"
        value, mult = int(Decimal(s.replace(",", ".")) * 1000), 1
    else:
        return None, None
    value *= mult
    if value < 1:
        return None, f"quantity {value} dropped: must be at least 1"
    if value > MAX_QUANTITY:
        return None, f"quantity {value} dropped: above {MAX_QUANTITY:,}"
    return value, None


_GROUPED = re.compile(r"(?<![\w.,'])[0-9]{1,3}(?:(?: |')[0-9]{3})+(?![\w]|[.,'][0-9])")


def _price(raw: str) -> tuple[Decimal | None, str | None]:
    """A written price as a Decimal (3,10 and 3.10 are 3.10; 1,000 and 1.000,50 group thousands)."""
    s = raw.strip()
    if len(s) > 30:
        return None, f"price {s[:24]!r}... dropped: too many digits"
    if s.isdigit():
        text = s
    elif re.fullmatch(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?", s):
        text = s.replace(",", "")
    elif re.fullmatch(r"[0-9]{1,3}(?:\.[0-9]{3})+,[0-9]+", s):
        text = s.replace(".", "").replace(",", ".")
    elif re.fullmatch(r"[0-9]+,[0-9]{1,2}", s):
        text = s.replace(",", ".")
    elif re.fullmatch(r"[0-9]+\.[0-9]+", s):
        text = s
    else:
        return None, None
    value = Decimal(text)
    if value > MAX_PRICE:
        return None, f"price {s} dropped: above {MAX_PRICE:,.0f}"
    return value, None


def _is_integer_text(raw: str) -> bool:
    return bool(re.fullmatch(r"[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+", raw.strip()))


def _fmt(value: Decimal) -> str:
    return format(value, "f")


def _matches(rx: re.Pattern[str], text: str) -> Iterator[tuple[str, int, int]]:
    """(token, start, end) of each match: its "id" group where the pattern has one."""
    group = "id" if "id" in rx.groupindex else 0
    for m in rx.finditer(text):
        yield m.group(group), m.start(group), m.end(group)


_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_WIDE_CASE = frozenset("iks")


def _id_mentions(text: str, ident: str) -> Iterator[tuple[str, int, int]]:
    """Where `ident` stands in `text` as a whole token, case aside: what the pattern
    `(?<![\\w-])<ident>(?![\\w-])` with IGNORECASE finds, without compiling one pattern per proposal id (a new
    id each negotiation: Python's cache of patterns would only hold the last 512)."""
    low = text.lower()
    # The pattern itself where case goes beyond ASCII: a character whose lower case is longer, and the
    # letters IGNORECASE also matches with a non-ASCII one (i, k, s: dotless i, Kelvin sign, long s).
    if not set(ident) <= _ID_CHARS or _WIDE_CASE & set(ident.lower()) or len(low) != len(text):
        yield from _matches(re.compile(r"(?<![\w-])" + re.escape(ident) + r"(?![\w-])", _I), text)
        return
    key, n = ident.lower(), len(ident)
    i = low.find(key)
    while i != -1:
        j = i + n
        before, after = text[i - 1] if i else "", text[j] if j < len(text) else ""
        if not (before and (before.isalnum() or before in "_-")) and not (after and (after.isalnum() or after in "_-")):
            yield text[i:j], i, j
            i = low.find(key, j)  # matches do not overlap
        else:
            i = low.find(key, i + 1)


def _blank(text: str, spans: Iterable[tuple[int, int]], fill: str = " ") -> str:
    spans = sorted(spans)
    if not spans:
        return text
    out, pos = [], 0
    for a, b in spans:
        a = max(a, pos)
        if a >= b:
            continue
        out.append(text[pos:a])
        out.append(fill * (b - a))
        pos = b
    out.append(text[pos:])
    return "".join(out)


def _clip(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


# --- the scan ----------------------------------------------------------------------------


@dataclass
class _Mention:
    sku: str
    start: int
    end: int
    known: bool
    qty: int | None = None
    more: bool = False  # its quantity is said to be more of the line ("another 100 of BRG-6205")


@dataclass
class _Price:
    value: Decimal
    currency: str | None
    start: int
    total: bool = False
    marked: bool = False  # by a currency mark or a per-unit marker, not only by a keyword
    end: int | None = None  # where its written form (and currency mark) ends in the text
    per: bool = False  # a per-unit marker after it ("each", "/unit")
    budget: bool = False  # said to be a budget ("our budget is 1500 EUR"): a total when far above a unit price


class _Scan:
    """One message read step by step; `masked` is the text with consumed spans blanked."""

    def __init__(self, text: str, ctx: TextContext, today: date):
        self.ctx = ctx
        self.today = today
        self.idx = _index(ctx.catalog)
        self.notes: list[str] = []
        raw = text if isinstance(text, str) else ""
        truncated = len(raw) > MAX_TEXT
        raw = raw[:MAX_TEXT]
        norm = unicodedata.normalize("NFKC", raw)[:MAX_TEXT].translate(_TRANS)
        self.text = _CTRL.sub(" ", norm)
        if truncated:
            self.note(f"message truncated to {MAX_TEXT} characters")
        self.text = self._digits_for_words(self.text)
        self.text = self._grouped_thousands(self.text)
        self.masked = self.text
        self.mentions: list[_Mention] = []
        self.proposal_ref: str | None = None
        self.version_ref: int | None = None
        self.version_bad = False  # a version named that no proposal has ("v0", "version -1")
        self.buyer_ref: str | None = None
        self.terms: str | None = None
        self.date: date | None = None
        self.discount: Decimal | None = None
        self._discount_at: int | None = None  # where the discount is written
        self.cash_discount: Decimal | None = None  # a percentage for paying early: a payment term, not a price
        self.remarks: list[tuple[int, int]] = []  # remarks on a past price ("3.40 was too much"): `scan_price_remarks`
        self.others_named = False  # another supplier's price or discount named, not asked (`scan_competitor_prices`)
        self.prices: list[_Price] = []
        self.bare_qty: list[tuple[int, int]] = []  # (quantity, position)
        self.offer_total_named = False  # the text names the current offer's total (`scan_offer_total`)
        self.specs: dict[str, str] = {}
        self.region: str | None = None
        self.region_known = False  # a destination was named (maybe outside every region)
        self.region_is_destination = False  # the place read was written as a destination ("to Tokyo", "in Lyon")
        self.currency: str | None = None
        self.pending_specs: list[tuple[str, Decimal, str]] = []
        self.spec_words_used: set[str] = set()
        self.date_cues: list[tuple[int, int]] = []  # the words tying a date to the delivery ("by" of "by Friday")

    @cached_property
    def name_words(self) -> set[str]:
        """The words of the text that can name a product (`_stems`): "the seals", "40 cables"; read once."""
        return _stems(self.text)

    def note(self, text: str) -> None:
        if len(self.notes) < MAX_NOTES:
            self.notes.append(text if len(text) <= _NOTE_CHARS else text[:_NOTE_CHARS - 3] + "...")
        elif len(self.notes) == MAX_NOTES:
            self.notes.append("further notes left out")

    def _digits_for_words(self, text: str) -> str:
        """Numbers in words written as digits, padded to the same length so that every position stays
        put ("two hundred x BRG-6205" reads as "200         x BRG-6205"): each later step reads them as
        it reads digits. The guardrail's reading of number words (agent/guardrail/numbers.py)."""
        low = text.lower()
        if len(low) != len(text):  # a few characters change length when lower-cased: left as written
            return text
        out, last = [], 0
        for start, end, value in number_words(low):
            phrase = text[start:end]
            if low[start:end] == "one" and not _ONE_COUNTS.match(text, end):
                continue
            digits = str(value)
            if len(digits) > end - start:
                continue
            out += [text[last:start], digits.ljust(end - start)]
            last = end
            self.note(f"'{_clip(phrase, 30)}' read as {digits}")
        return "".join(out) + text[last:] if out else text

    def _grouped_thousands(self, text: str) -> str:
        """Thousands grouped by a space or an apostrophe ("1 500", "2'000", "1 000 000") written as one number,
        padded before it to the same length so that every position stays put (" 1500", so that "1 500 EUR" keeps
        its mark beside it)."""
        if " " not in text and "'" not in text:
            return text

        def joined(m: re.Match[str]) -> str:
            digits = re.sub(r"[ ']", "", m.group())
            self.note(f"'{m.group()}' read as {digits}")
            return digits.rjust(len(m.group()))

        return _GROUPED.sub(joined, text)

    def blank(self, spans: list[tuple[int, int]], fill: str = " ") -> None:
        if spans:
            self.masked = _blank(self.masked, spans, fill)

    # -- step 2: SKUs, proposal and buyer references ---------------------------------------

    def scan_catalog_skus(self) -> None:
        idx, spans, numbers = self.idx, [], []
        for m in _TOKEN.finditer(self.text):
            token, start = m.group(), m.start()
            core = token.rstrip("._-/")
            for piece, offset in self._pieces(core):
                if not piece or piece.isdigit():
                    continue
                sku = idx.sku(piece)
                if sku is None:
                    sku = idx.designations.get(piece.casefold())
                    if sku is not None:
                        self.note(f"'{_clip(piece, 30)}' read as {sku} (in its name)")
                if sku is not None:
                    a = start + offset
                    self.mentions.append(_Mention(sku, a, a + len(piece), True))
                    spans.append((a, a + len(piece)))
                    continue
                for rx in (_SKU_SPLIT_QTY_AFTER, _SKU_SPLIT_QTY_BEFORE):
                    split = rx.match(piece)
                    sku = idx.sku(split["s"]) if split else None
                    if split and sku is not None:
                        a = start + offset + split.start("s")
                        qty, why = _quantity(split["n"])
                        self.mentions.append(_Mention(sku, a, a + len(split["s"]), True,
                                                      qty if qty is not None else (0 if why else None)))
                        if why:
                            self.note(f"{sku}: {why}")
                        spans.append((a, a + len(split["s"])))
                        numbers.append((start + offset + split.start("n"), start + offset + split.end("n")))
                        break
        self._sentinel(spans)
        self.blank(numbers)

    @staticmethod
    def _pieces(core: str) -> list[tuple[str, int]]:
        if "/" not in core:
            return [(core, 0)]
        out, pos = [], 0
        for part in core.split("/"):
            out.append((part.rstrip("._-"), pos))
            pos += len(part) + 1
        return out

    def _sentinel(self, spans: list[tuple[int, int]]) -> None:
        self.blank(spans, "\x01")

    def scan_proposal_refs(self) -> None:
        ctx, spans, found = self.ctx, [], []
        pid = ctx.proposal_id
        patterns: list[tuple[str | re.Pattern[str], bool]] = []  # the current id (found by `_id_mentions`), patterns
        if isinstance(pid, str) and pid:
            patterns.append((pid, True))
        patterns += [(_PROPOSAL_GENERIC, False), (_PROPOSAL_WORD, False)]
        for rx, is_current in patterns:
            for token, a, b in (_id_mentions(self.masked, rx) if isinstance(rx, str) else _matches(rx, self.masked)):
                if "\x01" in token:
                    continue
                if not is_current:
                    # "P-" and six or more characters is an id as our ids are written, digits or not
                    if not re.search(r"[0-9]", token) and not (rx is _PROPOSAL_GENERIC and len(token) >= 8):
                        continue
                    if rx is _PROPOSAL_WORD and not (re.search(r"[A-Za-z]", token) and (
                            "-" in token or "_" in token or len(token) >= 6)):
                        continue
                    if pid and token.casefold() == pid.casefold():
                        token = pid
                    elif rx is _PROPOSAL_GENERIC:
                        token = token.upper()
                else:
                    token = pid or token
                found.append((a, token))
                spans.append((a, b))
                v = _VERSION_AFTER.match(self.masked, b)
                if v:
                    self._version(v["v"])
                    spans.append((b, v.end()))
            self.blank(spans)
            spans = []
        if found:
            found.sort()
            ids = []
            for _, token in found:
                if token not in ids:
                    ids.append(token)
            self.proposal_ref = ids[0]
            self.note(f"proposal {ids[0]} named" + (f" (also {', '.join(ids[1:3])}; the first is used)"
                                                     if len(ids) > 1 else ""))
        for m in _VERSION_ALONE.finditer(self.masked):
            if self.version_ref is None:
                self._version(m["v"] or m["v2"])
            spans.append(m.span())
        self.blank(spans)

    def _version(self, raw: str) -> None:
        if self.version_ref is not None:
            return
        value = int(raw) if len(raw) <= 9 else 0
        if 1 <= value <= 1_000_000:
            self.version_ref = value
            self.note(f"version {value} named")
        else:
            self.version_bad = True
            self.note(f"version {raw[:12]} dropped: out of range")

    def scan_buyer_ref(self) -> None:
        for m in _BUYER_REF.finditer(self.masked):
            ref = m["ref"]
            if "\x01" in ref or not re.search(r"[0-9]", ref):
                continue
            if self.buyer_ref is None:
                self.buyer_ref = ref
                self.note(f"buyer reference {ref}")
            self.blank([m.span("ref")])

    def scan_unknown_skus(self) -> None:
        spans = []
        for m in _SKU_ANY.finditer(self.masked):
            token = m.group().rstrip("._-")
            a, b = m.start(), m.start() + len(token)
            if not token or not re.search(r"[0-9]", token) or len(token) > 64:
                continue
            before = self.masked[max(0, a - 40):a]
            if not _SKU_KEYWORD_BEFORE.search(before):  # "sku 12345": anything goes; otherwise SKU-shaped only
                if _SKU_SHAPE.fullmatch(token) is None:
                    continue
                prefix = re.match(r"[A-Za-z]+", token)
                if prefix is None or prefix.group().casefold() in _NOT_SKU_PREFIX:
                    continue
                if token != token.upper() and not (_EXPLICIT_QTY_BEFORE.search(before)
                                                   or _EXPLICIT_QTY_AFTER.match(self.masked, b)):
                    continue  # lower case ("m8-nut") only when a quantity is bound to it ("500 x abc-123")
            self.mentions.append(_Mention(token, a, b, False))
            spans.append((a, b))
        self._sentinel(spans)
        for mention in self.mentions:
            if not mention.known:
                self.note(f"{mention.sku} is not a catalog SKU; kept as written")

    # -- step 3: terms, dates, discounts ---------------------------------------------------

    def scan_terms(self) -> None:
        self._scan_cash_terms()
        spans = []
        found: list[tuple[int, str]] = []
        for m in _TERMS_NET.finditer(self.masked):
            spans.append(m.span())
            found.append((m.start(), self._net(m["n"])))
        for m in _TERMS_DAYS.finditer(self.masked):
            spans.append(m.span())
            found.append((m.start(), self._net(m["n"] or m["n2"] or m["n3"])))
        for m in _TERMS_PREPAY.finditer(self.masked):
            spans.append(m.span())
            found.append((m.start(), "PREPAY"))
        self.blank(spans)
        terms = [t for _, t in sorted(found) if t]
        if terms:
            self.terms = terms[0]
            extra = sorted(set(terms) - {terms[0]})
            self.note(f"payment terms {terms[0]}" + (f" (also named: {', '.join(extra)}; the first is used)"
                                                      if extra else ""))

    def _scan_cash_terms(self) -> None:
        """The "2/10" of "2/10 net 30" (2% off when paid within 10 days): a cash discount, which is a payment term,
        noted and blanked so that it is read as neither a date nor a quantity; the "net 30" is read as terms."""
        spans = []
        for m in _CASH_TERMS.finditer(self.masked):
            value, _ = _price(m["p"].replace(",", "."))
            if value is not None and 0 < value < 100 and self.cash_discount is None:
                self.cash_discount = value
                self.note(f"'{m.group().strip()}' read as a {_fmt(value)}% discount for payment within {m['d']} days: "
                          "a payment term, not a price asked")
            spans.append(m.span())
        self.blank(spans)

    def _net(self, raw: str) -> str:
        days = int(raw)
        if 1 <= days <= 365:
            return f"NET{days}"
        self.note(f"payment terms of {raw} days dropped: out of range")
        return ""

    def scan_dates(self) -> None:
        spans, found, strong = [], [], []
        for m in _DATES.finditer(self.masked):
            before = self.masked[max(0, m.start() - 30):m.start()]
            value = self._date(m, bool(_DATE_TRIGGER.search(before)))
            if value is _SKIP:
                continue
            if not m["rel"]:  # "today", "tomorrow" stay for the cue words ("we accept, delivery tomorrow": doubt)
                spans.append(m.span())
            if value is None:
                continue
            said = _NOT_DELIVERY_BEFORE.search(self.masked, max(0, m.start() - 40), m.start())
            if said is not None or _TIME_AFTER.match(self.masked, m.end()):
                # "Following our call on 12/11/2026", "Sent: 27.11.2026 14:05": a date of something else
                self.note(f"date {_clip(m.group(), 30)!r} not read as a delivery date (a date of "
                          f"{'a ' + said.group().split()[0].casefold().strip(':') if said else 'sending'})")
                continue
            found.append(value)
            if (cue := _DELIVERY_TRIGGER.search(before)) is not None:
                strong.append(value)
                at = m.start() - len(before)
                self.date_cues.append((at + cue.start(), at + cue.end()))
        self.blank(spans)
        if strong and strong[0] != found[0]:  # the date tied to the delivery by its words first
            found = [strong[0]] + [d for d in found if d != strong[0]]
        if found:
            self.date = found[0]
            self.note(f"delivery date {found[0].isoformat()}" + (" (in the past)" if found[0] < self.today else "")
                      + (f" (other dates named: {', '.join(d.isoformat() for d in found[1:3])})"
                         if len(found) > 1 else ""))

    def scan_years(self) -> None:
        """A year after a word of time ("is the price fixed for 2027?", "our budget in 2026"): noted and blanked,
        never a quantity or a price. A number with a unit after it ("2027 pcs") stays a quantity."""
        if "20" not in self.masked:
            return
        spans = []
        for m in _YEAR.finditer(self.masked):
            if self.today.year - 1 <= int(m["y"]) <= self.today.year + 5 and not _AFTER_YEAR_UNIT.match(self.masked,
                                                                                                      m.end("y")):
                spans.append(m.span("y"))
                self.note(f"{m['y']} read as a year")
        self.blank(spans)

    def scan_volumes(self) -> None:
        """A volume over time ("we buy 5000 per year", "100/month"): noted for the seller, blanked; a proposal is
        for one order's quantity, so it is neither a quantity nor a price."""
        low = self.masked.casefold()
        if not any(w in low for w in _PERIOD_KEYS):
            return
        spans = []
        for m in _VOLUME.finditer(self.masked):
            spans.append(m.span())
            self.note(f"volume over time noted: {' '.join(m.group().split())} (a proposal is for one order)")
        self.blank(spans)

    def _date(self, m: re.Match[str], trigger: bool) -> Any:
        today = self.today
        try:
            if m["iy"]:
                return self._ymd(int(m["iy"]), int(m["im"]), int(m["id"]))
            if m["mon3"]:
                month = _MONTHS[m["mon3"][:3].casefold()]
                year = int(m["y3"]) if m["y3"] else None
                for y in ([year] if year is not None else range(today.year, today.year + 2)):
                    end = date(y, month, calendar.monthrange(y, month)[1])
                    if year is not None or end >= today:
                        return self._ymd(y, month, end.day)
            if m["mon1"] or m["mon2"]:
                mon = m["mon1"] or m["mon2"]
                if mon.casefold() == "may" and not mon[0].isupper() and not trigger:
                    return _SKIP
                day = int(m["d1"] or m["d2"])
                year = m["y1"] or m["y2"]
                return self._ymd(int(year) if year else None, _MONTHS[mon[:3].casefold()], day)
            if m["dd"]:
                year = int(m["dy"])
                return self._ymd(year + 2000 if year < 100 else year, int(m["dm"]), int(m["dd"]))
            if m["sa"]:
                if not m["sy"] and not _SLASH_TRIGGER.search(self.masked[max(0, m.start() - 30):m.start()]):
                    return _SKIP
                a, b = int(m["sa"]), int(m["sb"])
                year = int(m["sy"]) if m["sy"] else None
                if year is not None and year < 100:
                    year += 2000
                if a > 12 >= b:
                    month, day = b, a
                elif b > 12 >= a:
                    month, day = a, b
                elif self.ctx.region == "US":
                    month, day = a, b
                elif self.ctx.region == "EU":
                    month, day = b, a
                elif a == b:
                    month, day = a, b
                else:
                    self.note(f"date {m.group()} dropped: day and month are ambiguous; write it as YYYY-MM-DD")
                    return None
                return self._ymd(year, month, day)
            if m["wd"]:  # "by Friday", "next Tuesday": the first such day after today
                if not trigger and not m["wnext"]:
                    return _SKIP
                ahead = (_WEEKDAYS.index(m["wd"].casefold()) - today.weekday()) % 7 or 7
                return today + timedelta(days=ahead)
            if m["rel"]:  # "delivered tomorrow", "need it today": that day, counted from the pricing date
                if not _REL_DAY_TRIGGER.search(self.masked, max(0, m.start() - 40), m.start()):
                    return _SKIP
                word = m["rel"].casefold()
                return today + timedelta(days=0 if word == "today" else 1 if word == "tomorrow" else 2)
            if m["r1"]:  # "within a week", "in a fortnight"
                if not trigger and not self._period_is_delivery(m):
                    return _SKIP
                return today + timedelta(days=14 if m["r1"].casefold() == "fortnight" else 7)
            if m["rn"]:
                if not trigger and not self._period_is_delivery(m):
                    return _SKIP
                n = int(m["rn"])
                unit = m["ru"].casefold()
                if n > 3650:
                    self.note(f"delivery in {n} {unit} dropped: too far")
                    return None
                if unit.startswith(("business", "working")):
                    day, left = today, n
                    while left > 0:
                        day += timedelta(days=1)
                        if day.weekday() < 5:
                            left -= 1
                    return day
                return today + timedelta(days=n * (7 if unit.startswith("week") else 1))
        except (ValueError, OverflowError):
            pass
        self.note(f"date {_clip(m.group(), 30)!r} dropped: not a valid date")
        return None

    def _period_is_delivery(self, m: re.Match[str]) -> bool:
        """Whether a period from today ("within 5 days", "in 2 weeks") is said of the delivery: delivery words
        before it, or the lines of an rfq right before it in its sentence ("500 x BRG-6204 in 2 weeks") with no
        word of something else ("we will order 500 x BRG-6204 in 2 weeks")."""
        before = self.masked[max(0, m.start() - 30):m.start()]
        if re.search(r"deliver|ship|arriv|need|within", m.group() + before, _I):
            return True
        sentence = _sentence_before(self.masked, m.start())
        return "\x01" in sentence[-40:] and not _PERIOD_NOT_DELIVERY.search(sentence)

    def _ymd(self, year: int | None, month: int, day: int) -> date | None:
        if year is not None:
            if not 2000 <= year <= 2100:
                raise ValueError("year out of range")
            return date(year, month, day)
        for y in range(self.today.year, self.today.year + 9):
            try:
                candidate = date(y, month, day)
            except ValueError:
                continue
            if candidate >= self.today:
                return candidate
        raise ValueError("no such date")

    def scan_percents(self) -> None:
        spans = []
        for m in _PCT.finditer(self.masked):
            spans.append(m.span())
            window = self.text[max(0, m.start() - 40):m.end() + 30]  # the words, payment terms too ("for prepayment")
            cash = self.terms != "PREPAY" and _CASH_DISCOUNT.search(window) is not None
            if not cash and not _PCT_CONTEXT.search(window):
                continue
            try:
                value = Decimal(m["n"].replace(",", "."))
            except InvalidOperation:
                continue
            if len(m["n"]) > 12 or value > 100 or value <= 0:
                self.note(f"asked discount {_clip(m['n'], 14)}% dropped: a discount is between 0 and 100%")
                continue
            if cash:  # "a 2% early payment discount": a term of payment; "2% for prepayment" stays a discount asked
                if self.cash_discount is None:
                    self.cash_discount = value
                    self.note(f"{_fmt(value)}% for paying early read as a cash discount: a payment term, not a "
                              "discount off the unit price")
                continue
            if self.discount is None:
                self.discount = value
                self._discount_at = m.start()
                self.note(f"asked discount {_fmt(value)}%")
            elif value != self.discount:
                self.note(f"another discount {_fmt(value)}% named; the first ({_fmt(self.discount)}%) is used")
        self.blank(spans)

    # -- step 4-7: prices and quantities -----------------------------------------------------

    def _currency_of(self, mark: str) -> str:
        mark = mark.casefold()
        if mark in ("€", "eur", "euro", "euros"):
            return "EUR"
        if mark in ("£", "gbp"):
            return "GBP"
        if mark == "chf":
            return "CHF"
        if mark in ("$", "dollar", "dollars", "bucks") and self.ctx.currency in ("CAD", "AUD", "NZD", "SGD", "HKD"):
            return self.ctx.currency
        return "USD"

    @cached_property
    def offered_prices(self) -> list[Decimal]:
        """The current offer's unit prices (the context's), what a figure above them is compared with."""
        return [p for p in self.ctx.proposal_prices if isinstance(p, Decimal)]

    @cached_property
    def offer_total(self) -> Decimal | None:
        """The current offer's total (its lines' quantities times their offered prices); None without them."""
        if not self.ctx.proposal_prices or len(self.ctx.proposal_prices) != len(self.ctx.proposal_quantities):
            return None
        total = Decimal(0)
        for q, p in zip(self.ctx.proposal_quantities, self.ctx.proposal_prices):
            if not isinstance(q, int) or not isinstance(p, Decimal):
                return None
            total += q * p
        return total

    def scan_offer_total(self) -> None:
        """The current offer's total named back ("1116 is too much, we can do 1000"): noted and blanked (it is
        neither a price asked nor a quantity), and the figures the buyer names besides it are totals too
        (`offer_total_named`)."""
        total = self.offer_total
        if total is None:
            return
        if str(int(total)) not in self.masked.replace(",", "").replace(".", ""):
            return  # its digits are nowhere in the text (most messages): no number to look at
        spans = []
        for m in re.finditer(rf"{_NB}(?P<n>{_NUM}){_NE}", self.masked):
            value, _ = _price(m["n"])
            if value is not None and value == total and value > max(self.offered_prices) \
                    and value not in self.ctx.proposal_quantities \
                    and not _AFTER_YEAR_UNIT.match(self.masked, m.end("n")):
                spans.append(m.span("n"))  # not a quantity that happens to equal it ("1000 units" of 1000 x 1.00)
        if spans:
            self.offer_total_named = True
            self.note(f"the offer's total {_fmt(total)} named")
            self.blank(spans)

    def scan_currency_prices(self) -> None:
        spans = []
        for m in _PRICE_MARK_INSIDE.finditer(self.masked):  # "3€10": the mark is the decimal point
            value, _ = _price(f"{m['a']}.{m['b']}")
            spans.append(m.span())
            if value is not None:
                self.note(f"{m.group()} read as {_fmt(value)}")
                self._add_price(value, self._currency_of(m["c"]), m.start(), m.end(), marked=True)
        self.blank(spans)
        spans = []
        for m in _PRICE_CENTS.finditer(self.masked):  # "310 cents": 3.10
            value, _ = _price(m["n"])
            spans.append(m.span())
            if value is not None:
                unit = (value / 100).quantize(Decimal("0.01")) if value == value.to_integral_value() else value / 100
                self.note(f"{m.group().strip()} read as {_fmt(unit)}")
                self._add_price(unit, None, m.start(), m.end(), marked=True)
        self.blank(spans)
        spans = []
        for m in _PRICE_CUR.finditer(self.masked):
            raw = m["n1"] or m["n2"]
            mark = m["pre"] or m["post"]
            value, why = _price(raw)
            spans.append(m.span())
            if value is None:
                if why:
                    self.note(why)
                continue
            self._add_price(value, self._currency_of(mark), m.start(), m.end(), marked=True)
        self.blank(spans)

    def _add_price(self, value: Decimal, currency: str | None, start: int, end: int, marked: bool) -> None:
        before = self.masked[max(0, start - 40):start]
        said = _NOT_A_PRICE_BEFORE.search(self.masked, max(0, start - 80), start)
        if said is not None:  # "capital 1 000 000 EUR", "invoice ... of 1,250.00 EUR": no price of the goods
            self.note(f"{_fmt(value)}{' ' + currency if currency else ''} not read as a price (said of "
                      f"'{said.group(1) if said.lastindex else said.group(0).split()[0]}')")
            return
        total = bool(_TOTAL_AFTER.match(self.masked, end) or _TOTAL_BEFORE.search(before))
        per = _PER_UNIT.match(self.masked, end)
        offered = self.offered_prices
        if per:
            self.blank([(end, per.end())])
        elif not total and offered and value > max(offered):  # above the offer: a unit price no buyer asks
            whole = self.offer_total
            if self.offer_total_named:
                total = True
                self.note(f"{_fmt(value)} read as a total (the offer's total is named)")
            elif _BUDGET_BEFORE.search(before):
                total = True
                self.note(f"budget {_fmt(value)} read as a total (above the offered unit "
                          f"price{'s' if len(offered) > 1 else ''})")
            elif whole is not None and whole > 0 and value * 2 >= whole:
                total = True  # "we have 900 EUR for this" on 300 x 3.23: no unit price, the order's worth
                self.note(f"{_fmt(value)} read as a total (near the offer's {_fmt(whole)}, above its unit prices)")
        self.prices.append(_Price(value, currency, start, total=total and not per, marked=marked or bool(per),
                                  end=end, per=bool(per), budget=bool(_BUDGET_BEFORE.search(before))))

    def bind_quantities(self) -> None:
        if not self.mentions:
            return
        used: set[int] = set()
        by_start = {m.start: m for m in self.mentions}
        passes = (_BIND_BEFORE, _BIND_QTY_KW, _BIND_AFTER, _BIND_AFTER_UNIT, _BIND_WEAK_BEFORE, _BIND_WEAK_AFTER)
        first = min(self.mentions, key=lambda m: m.start)
        line_start = self.masked.rfind("\n", 0, first.start) + 1
        if _SKU_FIRST_AFTER.match(self.masked, first.end) \
                and not _SKU_FIRST_BEFORE.search(self.masked, line_start, first.start):
            # "BRG-6204 500\nBRG-6205 300", "BRG-6204 500 pcs BRG-6205 300 pcs": the quantities are written after
            # their SKUs, so a number right after a SKU is its own (never the next SKU's)
            passes = (_BIND_AFTER, _BIND_AFTER_UNIT, _BIND_WEAK_AFTER, _BIND_QTY_KW, _BIND_BEFORE, _BIND_WEAK_BEFORE)
        for rx in passes:
            spans = []
            for m in rx.finditer(self.masked):
                mention = by_start.get(m.start("s"))
                if mention is None or mention.qty is not None or m.start("n") in used:
                    continue
                qty, why = _quantity(m["n"])
                if qty is None:
                    if why:
                        used.add(m.start("n"))
                        spans.append(m.span("n"))
                        self.note(f"{mention.sku}: {why}")
                        mention.qty = 0  # consumed, but no usable quantity
                    continue
                mention.qty = qty
                mention.more = bool(_MORE_BOUND_BEFORE.search(self.masked, 0, m.start("n"))
                                    or _MORE_BOUND_AFTER.match(self.masked, m.end("n")))
                used.add(m.start("n"))
                spans.append(m.span("n"))
            self.blank(spans)

    def scan_quantity_before_price(self) -> None:
        spans = []
        for m in _QTY_BEFORE_PRICE.finditer(self.masked):
            group = "n" if m["n"] else "n2"
            qty, why = _quantity(m[group])
            if qty is None:
                if why:
                    self.note(why)
                    spans.append(m.span(group))
                continue
            self.bare_qty.append((qty, m.start(group)))
            spans.append(m.span(group))
        self.blank(spans)

    def scan_spec_values(self) -> None:
        spans = []
        for m in _SPEC_VALUE.finditer(self.masked):
            spans.append(m.span())
            unit = _SPEC_UNIT.get(re.sub(r"\s+", " ", m["u"].casefold()), m["u"].casefold())
            value, _ = _price(m["n"])
            if value is None:
                continue
            op = _SPEC_OP.get(re.sub(r"\s+", " ", (m["op"] or "").casefold()).rstrip("."), "")
            self.pending_specs.append((unit, value, op))
        self.blank(spans)

    def scan_keyword_prices(self) -> None:
        spans = []
        for rx in (_PRICE_KW, _PRICE_PER):
            for m in rx.finditer(self.masked):
                raw = m["n"]
                if _AFTER_NOT_PRICE.match(self.masked, m.end("n")):
                    continue
                per = _PER_UNIT.match(self.masked, m.end("n"))
                kw = (m["kw"] or "").casefold() if "kw" in rx.groupindex else ""
                integer = _is_integer_text(raw)
                if rx is _PRICE_KW:
                    if kw in ("for", "do", "would", "match") and integer and not per and not self.offer_total_named \
                            and not _TOTAL_AFTER.match(self.masked, m.end("n")):  # "can you do 1000 total?" is money
                        if kw == "do" and self._quantity_not_price(raw, m.start("n"), f"'{m.group().strip()}'"):
                            spans.append(m.span("n"))  # "can you do 1000?" on an offer at 3.40: 1000 units
                        continue
                    if kw == "make it" and integer:
                        continue
                    if kw in ("how about", "what about") and integer and not per and \
                            self._quantity_not_price(raw, m.start("n"), f"'{m.group().strip()}'"):
                        spans.append(m.span("n"))
                        continue
                elif integer and per and per.group().strip().casefold() == "ea":
                    continue
                value, why = _price(raw)
                spans.append(m.span("n"))
                if value is None:
                    if why:
                        self.note(why)
                    continue
                self._add_price(value, None, m.start("n"), m.end("n"), marked=False)
            self.blank(spans)
            spans = []

    def scan_money_shaped(self) -> None:
        """Amounts with two decimals left over: alone (\"2.95?\") or listed after a price (\"2.95 and 3.40\")."""
        found = [m for m in _MONEY_SHAPED.finditer(self.masked) if not _AFTER_NOT_PRICE.match(self.masked, m.end())
                 and not self._remark(m.start(), m.end(), m.group())]  # "we accept 3.25, the 3.40 was too much"
        past = [m for m in found if _PAST_PRICE_BEFORE.search(self.masked, max(0, m.start() - 40), m.start())
                or _PAST_PRICE_AFTER.match(self.masked, m.end())]
        if past and len(past) < len(found):  # "our last price was 3.40, now we want 3.00": the ask is 3.00
            for m in past:
                self.note(f"{m.group()} is a price of the past, not the one asked")
            self.blank([m.span() for m in past])
            found = [m for m in found if m not in past]
        others = [m for m in found if self._said_of_others(m.start(), m.end())]
        asks = _MATCH_ASK.search(self.masked) is not None
        if others and len(others) < len(found) and (not asks or self._one_line):
            # "Competitor X quoted 3.00 but we want 2.80": the ask is 2.80 (another's price, not asked to be met);
            # "X quoted 3.00, can you beat it? we want 2.80": the buyer's own price is the ask, not the one to beat
            for m in others:
                self.note(f"{m.group()} is another supplier's price, " + (
                    "to beat beside the buyer's own price" if asks else "with no request to meet it")
                    + ": not read as a price asked")
            self.others_named = True
            self.blank([m.span() for m in others])
            found = [m for m in found if m not in others]
        if not self.prices:  # one alone ("2.95?"), or one a line of the offer in context ("3.20 and 0.90")
            lines = [x for x in self.ctx.proposal_skus if isinstance(x, str) and x]
            found = found if len(found) == 1 or 1 < len(found) <= len(lines) and not self.ctx.topic else []
        else:
            found = [m for m in found if _LIST_BEFORE.search(self.masked, max(0, m.start() - 8), m.start())]
        for m in found:
            value, _ = _price(m.group())
            if value is not None:
                self.note(f"{m.group()} read as a unit price")
                self._add_price(value, None, m.start(), m.end(), marked=False)
        self.blank([m.span() for m in found])
        self.prices.sort(key=lambda p: p.start)

    def scan_competitor_prices(self) -> None:
        """Prices and a discount said to be another's (a competitor's, the buyer's current supplier's: "Competitor X
        quoted us 2.90", "we pay 2.90 at our current supplier"). With words asking to meet or beat them ("can you
        beat it?", "please match") they are the buyer's ask, noted; without, a mention is no price the buyer asks or
        offers to buy at: dropped, noted (`others_named`)."""
        if not self.prices and self.discount is None:
            return
        asks = _MATCH_ASK.search(self.masked)
        others = [p for p in self.prices if self._said_of_others(p.start, p.end if p.end is not None else p.start)]
        own_beside = asks is not None and self._one_line and 0 < len(others) < len(self.prices)
        kept = []
        for p in self.prices:
            if asks is None and self._paid_before(p.start):
                self.note(f"{_fmt(p.value)} is a price paid before, not asked for again: not read as a price asked")
                continue
            if p not in others:
                kept.append(p)
            elif own_beside:  # "X quoted 3.00 EUR, can you beat it? we want 2.80 EUR": the buyer's own is the ask
                self.others_named = True
                self.note(f"{_fmt(p.value)} is another supplier's price, to beat beside the buyer's own price: not "
                          "read as a price asked")
            elif asks is not None:
                self.note(f"{_fmt(p.value)} is another supplier's price, asked to be met ('{asks.group()}'): read as "
                          "the price asked")
                kept.append(p)
            else:
                self.others_named = True
                self.note(f"{_fmt(p.value)} is another supplier's price, with no request to meet it: not read as a "
                          "price asked")
        self.prices = kept
        if self.discount is not None and asks is None and self._discount_at is not None \
                and self._said_of_others(self._discount_at, self._discount_at):
            self.note(f"{_fmt(self.discount)}% is said of another supplier, with no request to meet it: not read as "
                      "a discount asked")
            self.discount = None
            self.others_named = True
        if self.discount is not None and asks is None and self._discount_at is not None:
            at = self._discount_at
            if _DISCOUNT_NOT_ASKED_BEFORE.search(self.masked, self._clause_start(at), at):
                self.note(f"{_fmt(self.discount)}% is a discount given before or turned down, not asked for now: not "
                          "read as a discount asked")
                self.discount = None

    @cached_property
    def _one_line(self) -> bool:
        """Whether the message is about one line only (the one product it names, else the one in context): then a
        price of the buyer's own beside another's to beat is the ask."""
        named = {m.sku for m in self.mentions}
        return len(named) == 1 if named else len({s for s in self.ctx.proposal_skus if isinstance(s, str) and s}) <= 1

    def scan_price_remarks(self) -> None:
        """A price with a past-tense remark on it, opening its clause ("we accept, 3.40 was too much though", "the
        3.40 before was too high"): how the buyer found an earlier price, not a price asked; dropped, noted, and the
        remark's clause kept (`remarks`) so that an acceptance beside it can be read without it. "2.95 was our
        offer" is no such remark."""
        self.prices = [p for p in self.prices
                       if not self._remark(p.start, p.end if p.end is not None else p.start, _fmt(p.value))]

    def _remark(self, start: int, end: int, said: str) -> bool:
        """Whether the price written from `start` to `end` opens a clause that remarks on it in the past tense; if
        so the remark is kept (`remarks`), noted, and the price blanked."""
        after = _PAST_REMARK_AFTER.match(self.masked, end)
        head = ("\n" if start <= 40 else "") + self.masked[max(0, start - 40):start]
        before = _REMARK_BEFORE.search(head) if after is not None else None
        if after is None or before is None:
            return False
        self.note(f"{said}{after.group().rstrip()}: a remark on a price, not a price asked")
        self.remarks.append((max(0, start - (len(head) - before.start())), after.end()))
        self.blank([(start, end)])
        return True

    def _paid_before(self, start: int) -> bool:
        """Whether the figure at `start` is a price the buyer paid before ("last year we paid 3.00"): its words in
        the figure's clause before it."""
        return bool(_PAID_BEFORE.search(self.masked, self._clause_start(start), start))

    def _clause_start(self, pos: int) -> int:
        """Where the clause holding `pos` starts (`_CLAUSE_BREAK`), looking back at most 80 characters."""
        floor = max(0, pos - 80)
        return max((m.end() for m in _CLAUSE_BREAK.finditer(self.masked, floor, pos)), default=floor)

    def _said_of_others(self, start: int, end: int) -> bool:
        """Whether the figure written from `start` to `end` is another supplier's: its words in the figure's clause
        before it, or right after it; never when the buyer's own price words stand right before it."""
        text = self.masked
        clause = self._clause_start(start)
        if _OWN_PRICE_BEFORE.search(text, clause, start):
            return False
        return bool(_OTHERS_BEFORE.search(text, clause, start) or _OTHERS_AFTER.match(text, end))

    def scan_bare_totals(self) -> None:
        """A bare number said to be the whole order's ("1500 total for the lot", "1520 all in") while an offer
        stands: a total price when it is near the offer's worth (at least half its total) and above its unit
        prices; not an offered quantity ("500 in total" of 500 units stays a quantity, for the later steps)."""
        whole = self.offer_total
        if whole is None or whole <= 0:
            return
        spans = []
        for m in _BARE_TOTAL.finditer(self.masked):
            value, _ = _price(m["n"])
            if value is None or value * 2 < whole or value <= max(self.offered_prices) \
                    or value in self.ctx.proposal_quantities:
                continue
            self.note(f"{_fmt(value)} read as a total (said of the whole order, near the offer's {_fmt(whole)})")
            self._add_price(value, None, m.start("n"), m.end("n"), marked=False)
            spans.append(m.span("n"))
        self.blank(spans)
        self.prices.sort(key=lambda p: p.start)

    def _quantity_not_price(self, raw: str, start: int, said: str, more: bool = False) -> bool:
        """A whole number the words leave open ("what about 1500?", "500 then") read as a quantity of the lines
        in context, when there are some and it cannot be a price asked for them: no unit price is offered, or it
        is above every offered one (a buyer does not counter above the offer), or the words ask for `more`
        ("another 10"); then noted and kept."""
        lines = [s for s in self.ctx.proposal_skus if isinstance(s, str) and s]
        if not lines:
            return False
        qty, _ = _quantity(raw)
        offered = self.offered_prices
        if qty is None or (offered and qty <= max(offered) and not more):
            return False
        self.bare_qty.append((qty, start))
        why = "more asked" if more else \
            f"above the offered unit price{'s' if len(offered) > 1 else ''}" if offered else "no unit price is offered"
        self.note(f"{said} read as a quantity ({why})")
        return True

    def scan_lone_quantity(self) -> None:
        """A message that is a whole number and filler words ("500 then", "ok, 1500 please"): a quantity of the
        lines in context (`_quantity_not_price`), else left for the later steps."""
        m = _QTY_ALONE.fullmatch(self.masked)
        if m is None and self.date is not None and self.date_cues:
            # "1000 by Friday?": the number and a delivery date (its words read): that quantity by then, unless it
            # is the quantity on offer (a lead-time question on the offer)
            m = _QTY_ALONE.fullmatch(_blank(self.masked, self.date_cues))
            if m is not None and (_quantity(m["n"])[0] in self.ctx.proposal_quantities or len(
                    {s for s in self.ctx.proposal_skus if isinstance(s, str)}) != 1):
                m = None
        if m is not None and self._quantity_not_price(m["n"], m.start("n"), f"'{m['n']}'",
                                                      more=bool(_MORE_CUE.search(m.group()))):
            self.blank([m.span("n")])

    def scan_more_quantities(self) -> None:
        """A whole number said to be more of the lines in context, anywhere in the message ("can you deliver by
        Friday, 500 more?", "another 500 by Friday"): a quantity (`_quantity_not_price`, more asked), which the
        decision adds to the line's; blanked. A message that is only that number is `scan_lone_quantity`'s."""
        spans = []
        for m in _MORE_QTY.finditer(self.masked):
            group = "n" if m["n"] else "n2"
            if self._quantity_not_price(m[group], m.start(group), f"'{' '.join(m.group().split())}'", more=True):
                spans.append(m.span(group))
        self.blank(spans)

    def _quantities_where(self, rx: re.Pattern[str], keep: Any = None) -> None:
        """The whole numbers (group "n") of `rx`'s matches that `keep(match)` allows, as bare quantities; blanked."""
        spans = []
        for m in rx.finditer(self.masked):
            qty, _ = _quantity(m["n"])
            if qty is not None and (keep is None or keep(m)):
                self.bare_qty.append((qty, m.start("n")))
                spans.append(m.span("n"))
        self.blank(spans)

    def _names_a_line(self, m: re.Match[str]) -> bool:
        """Whether a number before a product word is the end of the one SKU in context that the word names ("the
        6205 bearings" on an offer with BRG-6205): a line named, no quantity."""
        run = m["n"]
        lines = [s for s in self.ctx.proposal_skus if isinstance(s, str) and re.search(rf"(?<![0-9]){run}$", s)]
        return len(lines) == 1 and _singular(m["w"].casefold()) in self.idx.name_words.get(lines[0], frozenset())

    def _names_a_product(self, m: re.Match[str]) -> bool:
        word = m["w"].casefold()
        return _singular(word) in self.idx.name_stems and word not in _NAME_STOP

    def scan_bare_quantities(self) -> None:
        if _PRICE_FOR_Q.search(self.masked.lower()):  # "how much for 800?": a price question for that many
            self._quantities_where(_QTY_FOR)
        # "40 of the matching cables", "2000 deep groove ball bearings": a number before a word of a product's name
        # (not one a product's name has itself: "6205 bearings")
        self._quantities_where(_QTY_BEFORE_WORD, lambda m: self._names_a_product(m) and (
            bool(self.ctx.proposal_skus or self.mentions)
            or _singular(m["w"].casefold()) not in self.idx.sku_numbers.get(m["n"].replace(",", ""), ()))
            and not self._names_a_line(m))
        spans = []
        for rx in (_QTY_KW, _QTY_BARE, _QTY_VERB):
            for m in rx.finditer(self.masked):
                qty, why = _quantity(m["n"])
                spans.append(m.span() if rx is _QTY_BARE else m.span("n"))
                if qty is None:
                    if why:
                        self.note(why)
                    continue
                self.bare_qty.append((qty, m.start("n")))
            self.blank(spans)
            spans = []
        self.bare_qty.sort(key=lambda q: q[1])

    # -- step 8: places, currency words, specs ----------------------------------------------

    def scan_places(self) -> None:
        found: list[tuple[int, bool, str, str | None]] = []
        for start, end, name in self._place_names():
            before = self.masked[max(0, start - 40):start]
            if name in _CAREFUL and not self.masked[start].isupper() and not _LOC_PREP.search(before):
                continue
            found.append((start, bool(_DEST_PREP.search(before)), self.masked[start:end], _PLACES.get(name)))
        for rx, region in ((_US_CODE, "US"), (_EU_CODE, "EU")):
            for m in rx.finditer(self.masked):
                before = self.masked[max(0, m.start() - 40):m.start()]
                found.append((m.start(), bool(_DEST_PREP.search(before)), m.group(), region))
        for m in _REGION_KW.finditer(self.masked):
            region = self.idx.region_fold.get(m["r"].casefold())
            if region is not None:
                found.append((m.start(), True, m.group(), region))
        if not found:
            return
        found.sort(key=lambda f: (not f[1], f[0]))
        _, dest, name, region = found[0]
        self.region_known = True
        self.region_is_destination = dest
        self.region = region
        if region is None:
            self.note(f"destination {_clip(name, 40)!r} is outside the US and EU regions")
        else:
            self.note(f"region {region} from {_clip(name, 40)!r}")
        others = {r for _, _, _, r in found[1:] if r != region}
        if others:
            self.note("other places named: " + ", ".join(sorted(r or "outside US/EU" for r in others)))

    def _place_names(self) -> list[tuple[int, int, str]]:
        """Places of the table named in the text (longest first), by word lookup rather than one huge regex."""
        words = [(m.start(), m.end(), m.group().casefold()) for m in _LETTERS.finditer(self.masked)]
        out, i = [], 0
        while i < len(words):
            longest = _PLACE_FIRST.get(words[i][2], 0)
            for k in range(min(longest, len(words) - i), 0, -1):
                group = words[i:i + k]
                if k > 1 and any(self.masked[a[1]:b[0]].strip() for a, b in zip(group, group[1:])):
                    continue
                name = " ".join(w for _, _, w in group)
                if name in _PLACES:
                    out.append((group[0][0], group[-1][1], name))
                    i += k
                    break
            else:
                i += 1
        return out

    def scan_currency_words(self) -> None:
        marks = [p.currency for p in self.prices if p.currency]
        if marks:
            self.currency = marks[0]
            if len(set(marks)) > 1:
                self.note("prices named in several currencies: " + ", ".join(sorted(set(marks))))
            self.note(f"currency {marks[0]} from the prices")
            return
        for m in _CURRENCY_CODE.finditer(self.masked):
            code = m["c"] or self._currency_of(m["w"] or m["s"])
            self.currency = code
            self.note(f"currency {code} named")
            return

    def collect_specs(self, category: str | None, words: set[str], synonyms: dict[str, str] | None = None) -> None:
        """The spec filters of a catalog query: each value with a unit (`pending_specs`) on the spec key its words
        name ("47 mm OD": outer_diameter_mm; `words` has the `synonyms` of the text's words: "a 20 mm shaft" is a
        bore or a shaft diameter), else the key more products of the category (and, among those, of the products
        the text names: "bearing", "seal") have at that value; then text values after or before a key's word
        ("thread M8", "size 9"). The words a filter was read from are no search terms (`spec_words_used`)."""
        idx = self.idx
        synonyms = synonyms or {}
        related = {w for w in words if w in synonyms}
        for unit, value, op in self.pending_specs:
            keys = [k for k in idx.unit_keys.get(unit, []) if len(k) <= 64]
            if category is not None:
                keys = [k for k in keys if (k, category) in idx.key_count]
            if not keys:
                self.note(f"{_fmt(value)} {unit} is not a spec of the catalog{' ' + category if category else ''}")
                continue
            spec_words = related.union(*(idx.key_words.get(k, ()) for k in keys))
            named = {w for w in self.name_words & idx.name_stems if w not in spec_words and w not in _NAME_STOP}

            def rank(key: str) -> tuple[int, int, int, int, int, str]:
                explicit = all(w in words for w in idx.key_words.get(key, ())) and bool(idx.key_words.get(key))
                matches = idx.key_values.get((key, category), {}).get(value, 0)
                return (-int(explicit), -self._named_hits(key, op, value, category, named), -matches,
                        -idx.key_count.get((key, category), 0), len(idx.key_words.get(key, ())), key)

            key = min(keys, key=rank)
            if key in self.specs or len(self.specs) >= 20:
                continue
            if rank(key)[0]:
                kw = set(idx.key_words.get(key, ()))
                self.spec_words_used.update(kw)
                self.spec_words_used.update(w for w in words if w in spec_words or w.endswith("s") and w[:-1] in kw)
            self.specs[key] = f"{op}{_fmt(value)}"
            self.note(f"spec {key} {op or '='} {_fmt(value)}")
        self._text_specs(category)

    def _named_hits(self, key: str, op: str, value: Decimal, category: str | None, named: set[str]) -> int:
        """How many products the text names by a word of their name ("bearing", "seal") have `key` at `value`
        (with `op`), in `category` if any; 0 when the text names none."""
        if not named:
            return 0
        want = parse_spec_filter(f"{key}{op or '='}{_fmt(value)}")
        return sum(1 for p in self.ctx.catalog.products.values()
                   if (category is None or p.category == category) and named & self.idx.name_words.get(p.sku, set())
                   and want.matches(p))

    def _text_specs(self, category: str | None) -> None:
        """A spec's value written after or before the one word of its key ("thread M8", "M8 thread", "size 9",
        "profile SPA"): a filter on that key when some product (of the category) has exactly that value."""
        tokens = list(_SPEC_TOKEN.finditer(self.masked))
        for a, b in zip(tokens, tokens[1:]):
            if not _KEY_GAP.fullmatch(self.masked, a.end(), b.start()):
                continue
            for word, token in ((a.group(), b.group()), (b.group(), a.group())):
                if not word.isalpha() or (word is b.group() and not any(c.isdigit() for c in token)):
                    continue  # "M8 thread": a value before its key only with a digit in it
                for key in idx_keys_of(self.idx, word.casefold(), category):
                    found = self.idx.text_values.get((key, category), {}).get(token.casefold())
                    if found is None or key in self.specs or len(self.specs) >= 20:
                        continue
                    self.specs[key] = found
                    self.spec_words_used.update({word.casefold(), token.casefold()})
                    self.note(f"spec {key} = {found}")


def idx_keys_of(idx: Any, word: str, category: str | None) -> list[str]:
    """The spec keys with no unit whose one word is `word` ("thread", "size"), of `category` if any."""
    return [k for k, kw in idx.key_words.items() if kw == (word,) and k.casefold() == word
            and (category is None or (k, category) in idx.key_count)]


# More of a line, said around the quantity bound to its SKU ("another 100 of BRG-6205", "BRG-6205: 100 extra"); not
# "plus", which lists ("500 x BRG-6204 plus 200 x BRG-6205").
_MORE_BOUND_BEFORE = re.compile(r"\b(?:another|an?\s+(?:extra|additional)|extra|additional)\s*$", re.I)
_MORE_BOUND_AFTER = re.compile(r"\s*(?:(?:units?\s+|pcs\s+|pieces\s+|boxes\s+)?more|extra|additional)\b", re.I)

# The words of a key and a value beside it (`_Scan._text_specs`), with at most a colon or "=" between them.
_SPEC_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-/]*[A-Za-z0-9]|[A-Za-z0-9]")
_KEY_GAP = re.compile(r"\s*[:=]?\s*")


_SKIP = object()
