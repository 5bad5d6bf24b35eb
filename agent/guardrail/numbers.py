"""Figure extraction: every figure a draft reply states, normalised to exact values.

`extract_figures(text)` returns the figures (money, percent, quantity, days,
date, payment terms, bare number) and the money-like tokens it could not
read. Pure, no I/O; the regular expressions are compiled once at import.

Heuristics (pragmatic, biased towards blocking: a figure we misread is
reported untraced rather than silently let through):

Ignored spans (never figures)
- Identifiers: a number glued to letters, directly or through `-`, `/`,
  `.` or `_` (BRG-6204, FST-M8X30-A2, M12, 2RS, 6204-2RS, IP67, IE3, P-12,
  A2-70, G1/4, 4-pin, 2nd). Exceptions that stay figures: a currency code
  (EUR3.10, 3.10EUR), `x500` / `500x`, `NET30` / `Net-90`, a `k` multiplier
  (1.6k), known unit suffixes (20mm, 500pcs, 13.5kN, 2d, 48h) and
  hyphenated units (30-day, 500-unit, 15-percent).
- Standard numbers after an upper-case standards body: EN 388, ISO 4017,
  DIN 976-1, EN ISO 20345:2011, IP 67, AISI 52100, UL 508 ...; Incoterms 2020.
- Times of day (14:00, 5 pm), URLs, e-mail addresses and the idiom `24/7`.
- Strings the caller protects (`protected=`): the verbatim text of id and
  spec facts (product names such as "Hex head screw ISO 4017 M8x30 A2-70,
  box of 100", spec values such as "230 V delta / 400 V star").
- Number words worth 0 or 1 with no unit ("one of our bearings", "zero
  defects"), and `100%` unless followed by off/discount (an idiom).
- Article durations ("a week") are not figures; "one week" is.

Numbers
- Grouping and decimal separators: when both `.` and `,` occur, the last is
  the decimal separator and the other groups thousands (1,625.00 and
  1.625,00). Repeated single separators group thousands (1,234,567). A single
  separator followed by exactly three digits after 1-3 leading digits is
  ambiguous: "1,234" yields both 1234 and 1.234, except for quantities,
  durations and money in a currency with fewer than three minor units
  (EUR, USD ...), where it groups thousands. Apostrophes and (next to a
  currency or a unit) spaces group thousands: 1'625.00 CHF, 1 625,00 €.
  Groups that are not three digits make the token unreadable (3,1,0).
- Number words up to the millions: "five hundred and fifty", "twenty-five",
  "a dozen", "two dozen".
- Ranges ("3-5 days", "10 to 15%", "EUR 3.05-3.25") give the unit to both ends.
- A minus sign before a number (not a hyphen after a digit or a letter) adds
  the negative reading: "-30 °C" matches a spec of -30, "-7%" a 7% discount.

Kinds, decided from the neighbours, in this order
- percent: followed by %, percent, per cent, pct. "half price" / "half off"
  is 50 percent.
- money: a currency symbol or ISO 4217 code before or after ($, €, £, ¥, ₹,
  US$, C$, A$, CHF, EUR 3.10, 3.10 EUR, 3,10 €, euros, dollars); `cents`
  divides by 100 and has no currency. Upper-case codes that are English words
  (ALL, TOP, CUP, PEN, MAD ...) are not currencies; lower-case eur/usd/gbp/chf
  are. A currency mark whose amount cannot be read ("3,1,0 EUR", "EUR 3.1.0",
  "$ lots", "EUR XX.XX", "{price} EUR") is an unparsable money token; a code
  followed by a word ("prices in EUR excl. VAT") and a symbol after in/per
  are fine.
- terms: `net` before a whole number of at most three digits (NET30, net 60,
  Net-90, "net thirty"), "30 days net"; prepay, prepayment, payment in
  advance, cash in advance -> PREPAY ("freight prepaid" is a shipping term,
  not read); COD, cash on delivery -> COD.
- days: followed by day(s) (business / working / calendar days count as
  days), week(s) x 7, month(s) x 30, year(s) x 365, hour(s) / 24; attached
  `d` and `h`. The raw unit is kept in `Figure.unit`.
- quantity: followed by units, pcs, pieces, items, boxes, pairs, sets, x ...
  or preceded by x (x500).
- date: ISO (2026-12-09, with an optional time), 9 December 2026, 9th of
  December, December 9, 2026, Dec 9 (yearless: a `PartialDate`), December
  2026 (month and year), 09.12.2026 (day first), 09/12/2026 (both readings
  when both are valid dates). A day-month date that cannot exist (31 Feb)
  has no values, so it can never trace.
- number: anything else.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from operator import attrgetter, itemgetter
from typing import Literal

from tools.money import MINOR_UNITS

FigureKind = Literal["money", "percent", "quantity", "days", "date", "terms", "number"]

FILL = "\x00"  # replaces ignored or already-claimed text; not a word character, not a space


@dataclass(frozen=True)
class PartialDate:
    """A date written without its year ("9 December") or without its day ("December 2026")."""

    year: int | None
    month: int
    day: int | None

    def matches(self, date: dt.date) -> bool:
        return (date.month == self.month and (self.year is None or date.year == self.year)
                and (self.day is None or date.day == self.day))


@dataclass(frozen=True)
class Figure:
    """One figure found in the text, with every value it can be read as."""

    text: str
    start: int
    end: int
    kind: FigureKind
    values: tuple  # Decimal for numeric kinds, str for terms, dt.date or PartialDate for dates
    currency: str | None = None
    unit: str | None = None  # days: day/week/month/year/hour as written; money: "cents"


# --- vocabulary --------------------------------------------------------------------------

# Upper-case ISO codes that are ordinary English words in upper-case text; never read as currencies.
_NOT_CURRENCY = {"ALL", "TOP", "CUP", "PEN", "MOP", "BAM", "GEL", "SOS", "TRY", "MAD", "BOB", "COP"}
CODES = frozenset(c for c in MINOR_UNITS if c not in _NOT_CURRENCY)
_LOWER_CODES = {"eur": "EUR", "usd": "USD", "gbp": "GBP", "chf": "CHF"}
_SYMBOLS = {"$": "USD", "US$": "USD", "U$": "USD", "C$": "CAD", "CA$": "CAD", "A$": "AUD", "AU$": "AUD",
            "NZ$": "NZD", "HK$": "HKD", "S$": "SGD", "R$": "BRL", "MX$": "MXN", "€": "EUR", "£": "GBP",
            "¥": None, "₹": "INR", "₩": "KRW", "₺": "TRY", "₽": "RUB", "₪": "ILS", "₫": "VND", "฿": "THB",
            "zł": "PLN", "Fr.": "CHF", "SFr.": "CHF"}
_WORD_CURRENCY = {"euro": "EUR", "euros": "EUR", "dollar": "USD", "dollars": "USD"}

_SYM_RE = "|".join(re.escape(s) for s in sorted(_SYMBOLS, key=len, reverse=True))
_SP = r"[ \u00a0\u202f\u2009]"

_DAY_UNITS = {"day": Decimal(1), "days": Decimal(1), "d": Decimal(1), "week": Decimal(7), "weeks": Decimal(7),
              "wk": Decimal(7), "wks": Decimal(7), "month": Decimal(30), "months": Decimal(30),
              "year": Decimal(365), "years": Decimal(365), "yr": Decimal(365), "yrs": Decimal(365),
              "hour": Decimal(-24), "hours": Decimal(-24), "hr": Decimal(-24), "hrs": Decimal(-24),
              "h": Decimal(-24)}  # negative: divide (hours are exact fractions of a day)
_UNIT_NAME = {"d": "day", "days": "day", "week": "week", "weeks": "week", "wk": "week", "wks": "week",
              "months": "month", "years": "year", "yr": "year", "yrs": "year", "hours": "hour", "hr": "hour",
              "hrs": "hour", "h": "hour"}

# Letters that may be glued to the end of a number without making it an identifier.
_ATTACHED = {"k", "x", "mm", "cm", "m", "km", "kg", "g", "t", "kw", "w", "kn", "n", "nm", "v", "vdc", "vac",
             "ma", "a", "bar", "psi", "rpm", "hz", "khz", "pcs", "pc", "d", "h", "hrs", "days", "day", "units",
             "unit", "mm2", "l", "ml", "kwh", "s", "ms", "mbar", "lbs", "lb", "in", "ft", "c"}
# Words that may follow a number through a hyphen without making it an identifier ("30-day").
_HYPHEN_UNITS = {"day", "days", "week", "weeks", "month", "months", "year", "years", "hour", "hours", "unit",
                 "units", "piece", "pieces", "percent", "pc", "pcs", "box", "pack", "pair", "set", "mm", "cm",
                 "kg", "item", "items"}

_ONES = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
         "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
         "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
         "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
# The number words as a trie (zero ... ninety, hundred, thousand, million, dozen): much faster to scan.
_NW_WORD = (r"(?:t(?:en|wo|hree|hirteen|hirty|welve|wenty|housand)|f(?:our(?:teen)?|ive|ifteen|orty|ifty)|"
            r"s(?:ix(?:teen|ty)?|even(?:teen|ty)?)|e(?:ight(?:een|y)?|leven)|n(?:ine(?:teen|ty)?)|one|zero|hundred|"
            r"million|dozen)")
_NW = _NW_WORD + r"\b"

_MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10,
           "nov": 11, "dec": 12}
_MON = (r"(?P<m>[Jj](?:an(?:uary)?|une?|uly?)|[Ff]eb(?:ruary)?|M(?:ar(?:ch)?|ay)|mar(?:ch)?|"
        r"[Aa](?:pr(?:il)?|ug(?:ust)?)|[Ss]ep(?:t(?:ember)?)?|[Oo]ct(?:ober)?|[Nn]ov(?:ember)?|[Dd]ec(?:ember)?)"
        r"(?![a-z])\.?")

# --- compiled patterns -------------------------------------------------------------------------

# Ignored spans, each behind a cheap test (most drafts have none of them). The tests are literal searches,
# much faster than the patterns' scans, and each finds something every match of its pattern contains.
_URL = re.compile(r"https?://\S+|www\.\S+|[\w.+-]+@[\w-]+\.[\w.-]+")
_TIME = re.compile(r"\d(?<![\w.:]\d)\d?:\d{2}(?::\d{2})?(?:\s?(?:[ap]\.?m\.?|h|UTC|CET|CEST|GMT|EST|PST)\b)?(?![\w:])"
                   r"|\d(?<![\w.]\d)\d?\s?(?:am|pm|a\.m\.|p\.m\.)(?!\w)", re.I)
_CLOCK = re.compile(r":\d\d")  # in every time with a colon
_247 = re.compile(r"24(?<![\w/]24)\s?[/x]\s?7(?![\w/])")  # the literal first: a fast scan
# Standard numbers after an upper-case standards body: EN 388, ISO 4017, DIN 976-1, EN ISO 20345:2011.
_BODIES = (r"EN\s+ISO|ISO/IEC|ISO/TS|EN|ISO|DIN|IEC|ASTM|ANSI|UL|NEMA|IEEE|SAE|BS|JIS|NFPA|AISI|VDE|CSA|IP|NBR|GB/T|NF|"
           r"API|ASME|MIL")
_STANDARD = re.compile(rf"(?:{_BODIES})(?:\s?[A-Z])?[\s-]?\d+(?:[-.:/]\d+)*(?![\w])"
                       r"|(?:Incoterms|INCOTERMS)®?\s?\d{4}(?![\w])")
_STANDARD_BODY = re.compile(rf"{_BODIES}|Incoterms|INCOTERMS")
_ISO_DATE = re.compile(
    r"(?P<y>\d(?<![\w.-]\d)\d{3})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2}|\s?UTC)?)?(?![\w-])")
_DOT_DATE = re.compile(r"(?P<d>\d(?<![\w.,-]\d)\d?)\.(?P<m>\d{1,2})\.(?P<y>\d{4})(?![\w]|[.,]\d)")
_SLASH_DATE = re.compile(r"(?P<a>\d(?<![\w./-]\d)\d?)/(?P<b>\d{1,2})/(?P<y>\d{4})(?![\w/])")
_DMY = re.compile(rf"(?P<d>\d(?<![\w.,-]\d)\d?)(?:st|nd|rd|th)?(?:\s+of)?[\s-]+{_MON}(?:,?[\s-]+(?P<y>\d{{4}}))?"
                  r"(?![\w])")
_MDY = re.compile(rf"(?<![\w]){_MON},?\s+(?:(?:the\s+)?(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y>\d{{4}}))?|"
                  r"(?P<y2>\d{4}))(?![\w])")  # December 9, 2026 / Dec 9th / December 2026
# Each date pattern with the cheap test before its scan (None: always scanned): separator, month, separator,
# digit is in every numeric date of that pattern. Pairs, not a dict: hashing a compiled pattern hashes its code.
_DATES = ((_ISO_DATE, re.compile(r"-\d\d?-\d")), (_DOT_DATE, re.compile(r"\.\d\d?\.\d")),
          (_SLASH_DATE, re.compile(r"/\d\d?/\d")), (_DMY, None), (_MDY, None))

# Run on the lower-cased text.
_TERMS_WORDS = re.compile(
    r"(?<![\w-])(?P<prepay>pre-?pay(?:ment|ments)?|payment\s+in\s+advance|cash\s+in\s+advance|"
    r"advance\s+payment)(?![\w-])|(?<![\w-])(?P<cod>cod|cash\s+on\s+delivery)(?![\w-])")
_HALF = re.compile(r"(?<![\w-])half[\s-](?:price|off)(?![\w-])")

_PLACEHOLDER = (r"(?:[X#_?]{2,}(?:[.,][X#_?]+)?|[X#](?:[.,][X#_?]+)?|x{2,}(?:[.,]x+)?|\{[^{}\n]{0,40}\}|"
                r"\[[^\[\]\n]{0,40}\]|<[^<>\n]{0,40}>|TBD|TBC|N/A)")
_CODE_PLACEHOLDER = re.compile(
    rf"(?<![A-Za-z])(?P<c1>[A-Z]{{3}}){_SP}?{_PLACEHOLDER}(?![A-Za-z0-9])"
    rf"|(?<![A-Za-z0-9]){_PLACEHOLDER}{_SP}?(?P<c2>[A-Z]{{3}})(?![A-Za-z])")
_PLACEHOLDER_MARK = re.compile(r"[X#_?{\[<]")  # with "xx", TBD, TBC and N/A: in every placeholder
_BARE_SYMBOL = re.compile(r"[$€£¥₹₩₺₽₪₫฿]")
_SYMBOL_WORD = re.compile(rf"{_SP}?(?:[A-Za-z?#_\[{{<]|[$€£¥₹])")
_SYMBOL_OK_BEFORE = re.compile(r"(?:\b(?:in|into|per|from|to|of|or|and)\s?|\(\s?|/)$", re.I)

_NUM = re.compile(r"\d+(?:[.,'’]\d+)*")
_SPACE_NUM = re.compile(rf"\d(?<![\w.,'’]\d)\d{{0,2}}(?:{_SP}\d{{3}})+(?:[.,]\d+)?(?![\w]|[.,'’]\d)")
_SPACE_GROUP = re.compile(rf"\d{_SP}\d")  # in every match of _SPACE_NUM (the cheap test before its scan)
_WORDS = re.compile(  # on the lower-cased text; the left boundary (no hyphen before) is checked in code
    rf"\b(?:a\s+(?=(?:hundred|thousand|million|dozen)\b))?{_NW}"
    rf"(?:(?:(?<=hundred)\s+and\s+|(?<=thousand)\s+and\s+|(?<=million)\s+and\s+|\s+|-){_NW})*"
    r"(?!-(?!(?:days?|weeks?|months?|years?|units?|pieces?|percent)\b)\w)")
_MONTH_KEY = re.compile("|".join(_MONTHS))  # any month's first three letters (the cheap test before the word dates)
_NUMBER_WORD = re.compile(_NW_WORD)  # in every match of _WORDS (the cheap test before its scan)

_HEAD_CUR = re.compile(rf"(?:(?<![A-Za-z])(?P<code>[A-Z]{{3}})|(?P<sym>{_SYM_RE})|"
                       rf"(?<![A-Za-z])(?P<low>eur|usd|gbp|chf)){_SP}?$")
# The last character of every mark `_HEAD_CUR` reads: an upper-case code, a symbol, eur/usd/gbp/chf.
_MARK_ENDS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ") | {s[-1] for s in _SYMBOLS} | {c[-1] for c in _LOWER_CODES}
_HEAD_X = re.compile(r"(?<![\w])[x×]\s?$")
_HEAD_NET = re.compile(r"(?<![\w])net[\s-]?$", re.I)
_TAIL_PCT = re.compile(rf"{_SP}?-?(?:%|per[\s-]?cent\b|percent(?:age)?\b|pct\b)", re.I)
_TAIL_CUR = re.compile(
    rf"{_SP}?(?:(?P<code>[A-Z]{{3}})(?![A-Za-z])|(?P<sym>{_SYM_RE})|(?P<word>(?:[Ee]uros?|EUROS?|[Dd]ollars?|DOLLARS?)"
    r"\b)|(?P<us>(?:US|U\.S\.)\s+[Dd]ollars?\b)|(?P<low>eur|usd|gbp|chf)\b|(?P<cents>cents?)\b)")
_TAIL_DAYS = re.compile(
    rf"(?:{_SP}?-?{_SP}?(?:(?:business|working|calendar|work|production|shipping|banking)[\s-]+)?"
    r"(?P<u>days?|weeks?|wks?|months?|years?|yrs?|hours?|hrs?)\b|(?P<a>d|h)(?![\w]))", re.I)
_TAIL_NET = re.compile(r"\s+net\b", re.I)
_TAIL_QTY = re.compile(
    rf"{_SP}?-?(?:units?|pcs\.?|pieces?|pc\.?|items?|boxes|box|pairs?|sets?|packs?|pails?|rolls?|cartons?|pallets?|"
    rf"bags?|drums?|reels?|bearings?)\b|{_SP}?[x×](?![\w])", re.I)
_TAIL_RANGE = re.compile(rf"{_SP}?(?:-|–|—|to|and){_SP}?")
# A number with no currency that the words around it make an amount of money ("for 1.00 all in", "1 total", "the
# whole order: 1.00", "1.00 each"): it must trace to money, never to a count such as a version or an MOQ of 1.
_TAIL_MONEY_WORDS = re.compile(rf"{_SP}?(?:all[\s-]in\b|in{_SP}total\b|total\b|each\b|apiece\b)", re.I)
_HEAD_MONEY_WORDS = re.compile(rf"\b(?:(?:grand{_SP})?total|(?:whole|entire){_SP}order|all[\s-]in(?:{_SP}price)?)"
                               rf"(?:{_SP}(?:is|of|comes{_SP}to))?{_SP}?:?{_SP}?$", re.I)
# Written with cents that are zero and nothing after it ("1.00." or "1,00"): money-shaped, not a count.
_WHOLE_CENTS = re.compile(r"\d[.,]00")
_LETTER_AFTER = re.compile(rf"{_SP}?[^\W\d_]")
_TAIL_OFF = re.compile(r"\s*(?:off|discount|reduction)\b", re.I)
_TAIL_DAYS_AFTER_NET = re.compile(rf"{_SP}?(?:days?)\b", re.I)
_TOKEN_AFTER_SYMBOL = re.compile(r"[ \u00a0]?\S{1,20}")
_LIST_PART = re.compile(r"\d+(?:\.\d+)?")
_UP_TO_3_DIGITS = re.compile(r"\d{1,3}")
_SEPARATOR = re.compile(r"([.,'’ \u00a0\u202f\u2009])")
_WORD_BREAK = re.compile(r"[\s-]+")
_NOT_TERMS_CHAR = re.compile(r"[^A-Z0-9]")
_NET_DAYS = re.compile(r"NET0*(\d+)(?:DAYS?)?")


# --- number parsing ------------------------------------------------------------------------

_GROUP_CHARS = "'’ \u00a0\u202f\u2009"
_ONE, _THOUSAND, _CENT = Decimal(1), Decimal(1000), Decimal("0.01")


@lru_cache(maxsize=4096)  # the same tokens (prices, quantities, days) come back in draft after draft
def parse_number(raw: str) -> tuple[Decimal, ...] | None:
    """Every value a numeric token can be read as; None when it cannot be read at all.

    "1,625.00" -> (1625.00,); "1.625,00" -> (1625.00,); "3,10" -> (3.10,);
    "1,234" -> (1234, 1.234) (ambiguous: grouping first); "3,1,0" -> None.
    """
    parts = _SEPARATOR.split(raw)
    groups, seps = parts[0::2], parts[1::2]
    if not all(g.isdigit() for g in groups):
        return None
    if not seps:
        return (Decimal(raw),)

    def grouped(gs: Sequence[str]) -> bool:
        return 1 <= len(gs[0]) <= 3 and all(len(g) == 3 for g in gs[1:])

    last = seps[-1]
    if last in _GROUP_CHARS:  # no decimal part
        if len(set(seps)) != 1 or not grouped(groups):
            return None
        return (Decimal("".join(groups)),)
    if len(set(seps)) == 1 and len(seps) >= 2:  # 1,234,567 or 1.234.567
        return (Decimal("".join(groups)),) if grouped(groups) else None
    head = seps[:-1]
    if head and (len(set(head)) != 1 or head[0] == last or not grouped(groups[:-1])):
        return None
    whole, frac = "".join(groups[:-1]), groups[-1]
    decimal = Decimal(f"{whole}.{frac}")
    if not head and len(frac) == 3 and 1 <= len(whole) <= 3 and not whole.startswith("0"):
        return (Decimal(whole + frac), decimal)
    return (decimal,)


def number_words(low: str) -> list[tuple[int, int, Decimal]]:
    """The numbers written in words in lower-cased `low` ("twenty-five", "two hundred and fifty", "a dozen"):
    (start, end, value) each. Not inside a word or after a hyphen, not "four-bolt"."""
    out = []
    for m in _WORDS.finditer(low) if _NUMBER_WORD.search(low) else ():
        if m.start() and (_is_word_char(low[m.start() - 1]) or low[m.start() - 1] == "-"):
            continue
        out.append((m.start(), m.end(), _words_value(m.group())))
    return out


def _words_value(phrase: str) -> Decimal:
    total, cur = 0, 0
    for w in _WORD_BREAK.split(phrase.lower()):
        if w in ("a", "and", ""):
            continue
        if w == "hundred":
            cur = (cur or 1) * 100
        elif w in ("thousand", "million"):
            total += (cur or 1) * (1000 if w == "thousand" else 1_000_000)
            cur = 0
        elif w == "dozen":
            cur = (cur or 1) * 12
        else:
            cur += _ONES[w]
    return Decimal(total + cur)


def normalise_terms(value: str) -> str:
    """NET30, "net 30", "Net-30" -> NET30; prepayment / pre-paid -> PREPAY."""
    t = _NOT_TERMS_CHAR.sub("", value.upper())
    if t.startswith("PREPA") or t in ("PAYMENTINADVANCE", "CASHINADVANCE", "ADVANCEPAYMENT", "CIA"):
        return "PREPAY"
    if t == "CASHONDELIVERY":
        return "COD"
    m = _NET_DAYS.fullmatch(t)
    return f"NET{m.group(1)}" if m else t


# --- the scan ------------------------------------------------------------------------------


@dataclass
class _Num:
    start: int
    end: int
    raw: str                      # digits as written (without k, unit or currency)
    words: bool = False
    value: Decimal | None = None  # for number words
    mult: Decimal = _ONE          # k
    prefix: str | None = None     # "cur", "x", "net": letters glued before (EUR3.10, x500, NET30)
    kind: str = "number"
    currency: str | None = None
    unit: str | None = None
    unit_mult: Decimal = _ONE
    fig_start: int = 0
    fig_end: int = 0
    tail_end: int = 0
    negative: bool = False        # a minus sign stands before it ("-30", not the hyphen of "3-5")


def _fill(text: str, start: int, end: int) -> str:
    return text[:start] + FILL * (end - start) + text[end:]


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def _left_ok(t: str, i: int) -> tuple[bool, str | None]:
    """Whether the number starting at `i` stands alone (not inside an identifier), and any glued prefix."""
    j = i
    while j > 0 and t[j - 1].isalpha():
        j -= 1
    if j < i:  # letters glued before the digits
        run = t[j:i]
        if j > 0 and (_is_word_char(t[j - 1]) or (t[j - 1] in "-/._" and j > 1 and t[j - 2].isalnum())):
            return False, None
        if run in CODES or run.lower() in _LOWER_CODES:
            return True, "cur"
        if run in ("x", "X"):
            return True, "x"
        if run.lower() == "net":
            return True, "net"
        return False, None
    if i > 1 and t[i - 1] in "-/._" and t[i - 2].isalnum():
        k = i - 1
        while k > 0 and (t[k - 1].isalnum() or t[k - 1] in "-/._"):
            k -= 1
        compound = t[k:i - 1]
        if any(c.isalpha() for c in compound):
            if t[i - 1] == "-" and compound.lower() == "net":
                return True, "net"
            return False, None
    return True, None


def _right_ok(t: str, e: int) -> tuple[bool, int, Decimal]:
    """Whether the number ending at `e` stands alone; returns (ok, new end, multiplier) for a glued `k`."""
    n = len(t)
    if e < n and t[e] in "kK" and (e + 1 == n or not _is_word_char(t[e + 1])) and not (
            e + 2 < n and t[e + 1] == "-" and t[e + 2].isalnum()):
        return True, e + 1, _THOUSAND
    j = e
    while j < n and t[j].isalpha():
        j += 1
    if j > e:
        run = t[e:j]
        if j < n and (t[j].isdigit() or t[j] == "_" or (t[j] in "-." and j + 1 < n and t[j + 1].isalnum())):
            return False, e, _ONE
        if run in CODES or run.lower() in _ATTACHED or run.lower() in _LOWER_CODES:
            return True, e, _ONE
        return False, e, _ONE
    if e + 1 < n and t[e] in "-_" and t[e + 1].isalnum():
        k = e + 1
        while k < n and (t[k].isalnum() or (t[k] in "-/._" and k + 1 < n and t[k + 1].isalnum())):
            k += 1
        compound = t[e + 1:k]
        if t[e] == "_" or (any(c.isalpha() for c in compound) and compound.lower() not in _HYPHEN_UNITS):
            return False, e, _ONE
    return True, e, _ONE


def _currency_of(m: re.Match[str]) -> str | None:
    """The currency of a `_HEAD_CUR` / `_TAIL_CUR` match: each alternative of those is one named group, so the
    last group matched names the kind of mark."""
    kind = m.lastgroup
    if kind == "code":
        return m.group(kind)
    if kind == "sym":
        return _SYMBOLS[m.group(kind)]
    if kind == "low":
        return _LOWER_CODES[m.group(kind).lower()]
    if kind == "word":
        return _WORD_CURRENCY[m.group(kind).lower()]
    if kind == "us":
        return "USD"
    return None


def _head_currency(t: str, start: int, window: int) -> re.Match[str] | None:
    """`_HEAD_CUR` in t[window:start], searched only when a character that can end a currency mark stands in
    the last three: a match is the mark, at most one space, then the end (or a newline at the end)."""
    if _MARK_ENDS.isdisjoint(t[max(0, start - 3):start]):
        return None
    return _HEAD_CUR.search(t, window, start)


def _classify(t: str, num: _Num, consumed: set[tuple[int, int]], tail_at: int | None = None) -> None:
    """Decide the kind of one number from what is written around it."""
    e = num.end if tail_at is None else tail_at
    num.fig_start, num.fig_end = num.start, num.end
    if (m := _TAIL_PCT.match(t, e)):
        num.kind, num.fig_end = "percent", m.end()
        return
    if (m := _TAIL_CUR.match(t, e)) and (not m.group("code") or m.group("code") in CODES):
        num.kind, num.fig_end = "money", m.end()
        num.currency = _currency_of(m)
        if m.group("cents"):
            num.unit, num.unit_mult = "cents", _CENT
        consumed.add((m.start(), m.end()))
        return
    window = max(0, num.start - 8)
    if num.prefix == "cur" or ((m := _head_currency(t, num.start, window))
                               and (not m.group("code") or m.group("code") in CODES)):
        if num.prefix == "cur":
            j = num.start
            while j > 0 and t[j - 1].isalpha():
                j -= 1
            run = t[j:num.start]
            num.currency = run if run in CODES else _LOWER_CODES[run.lower()]
            num.kind, num.fig_start = "money", j
            return
        assert m is not None
        marker = (m.start(), m.end())
        if not any(a <= marker[0] < b for a, b in consumed):
            num.kind, num.currency, num.fig_start = "money", _currency_of(m), m.start()
            consumed.add(marker)
            return
    net = num.prefix == "net" or _HEAD_NET.search(t, window, num.start)
    whole = num.words or _UP_TO_3_DIGITS.fullmatch(num.raw)
    if net and whole:
        num.kind = "terms"
        if num.prefix != "net":
            num.fig_start = _HEAD_NET.search(t, window, num.start).start()  # type: ignore[union-attr]
        else:
            num.fig_start = num.start - 3 if t[num.start - 1] != "-" else num.start - 4
        if (m := _TAIL_DAYS_AFTER_NET.match(t, e)):
            num.fig_end = m.end()
        return
    if (m := _TAIL_DAYS.match(t, e)):
        unit = (m.group("u") or m.group("a")).lower()
        if whole and (n := _TAIL_NET.match(t, m.end())):
            num.kind, num.fig_end = "terms", n.end()
            return
        num.kind, num.fig_end = "days", m.end()
        num.unit, num.unit_mult = _UNIT_NAME.get(unit, unit), _DAY_UNITS[unit]
        return
    if (m := _TAIL_QTY.match(t, e)):
        num.kind, num.fig_end = "quantity", m.end()
        return
    if num.prefix == "x" or _HEAD_X.search(t, window, num.start):
        num.kind = "quantity"
        num.fig_start = num.start - 1 if num.prefix == "x" else _HEAD_X.search(  # type: ignore[union-attr]
            t, window, num.start).start()
        return
    if not num.words and num.prefix is None and (
            _TAIL_MONEY_WORDS.match(t, e)
            or ((_HEAD_MONEY_WORDS.search(t, max(0, num.start - 24), num.start) or _WHOLE_CENTS.fullmatch(num.raw[-4:]))
                and not _LETTER_AFTER.match(t, e))):
        num.kind = "money"  # no currency: traced to money facts in any currency
        return
    num.kind = "number"


def _values(num: _Num) -> tuple[Decimal, ...] | None:
    if num.words:
        assert num.value is not None
        cands: tuple[Decimal, ...] = (num.value,)
    else:
        parsed = parse_number(num.raw)
        if parsed is None:
            return None
        cands = parsed
        if len(cands) == 2:
            minor = MINOR_UNITS.get(num.currency or "", 3)
            if num.kind in ("quantity", "days", "terms") or (num.kind == "money" and num.unit != "cents"
                                                              and num.currency and minor < 3):
                cands = cands[:1]
    scale = num.unit_mult
    out = tuple(c * num.mult / -scale if scale < 0 else c * num.mult * scale for c in cands)
    if num.negative and num.kind != "terms":  # "-30 °C": both readings ("-7%" off list is a 7% discount)
        out += tuple(-v for v in out if v)
    return out


def _date_figures(t: str, low: str, out: list[Figure], *, months: bool) -> tuple[str, str]:
    for rx, hint in _DATES if months else _DATES[:3]:
        if hint is not None and not hint.search(t):
            continue
        for m in rx.finditer(t):
            g = m.groupdict()
            values: list[object] = []
            if rx is _SLASH_DATE:
                a, b, y = int(g["a"]), int(g["b"]), int(g["y"])
                for d, mo in ((a, b), (b, a)):
                    try:
                        values.append(dt.date(y, mo, d))
                    except ValueError:
                        pass
                values = list(dict.fromkeys(values))
                if not values:
                    continue
            else:
                mon = g["m"]
                month = int(mon) if mon.isdigit() else _MONTHS[mon[:3].lower()]
                year = int(g.get("y") or g.get("y2") or 0) or None
                day = int(g["d"]) if g.get("d") else None
                try:
                    if year is not None and day is not None:
                        values.append(dt.date(year, month, day))
                    else:
                        dt.date(year or 2000, month, day or 1)  # 2000 is a leap year: 29 February exists
                        values.append(PartialDate(year, month, day))
                except ValueError:
                    if rx is _ISO_DATE or rx is _DOT_DATE:
                        continue  # digits that only look like a date: read them as numbers
            out.append(Figure(t[m.start():m.end()], m.start(), m.end(), "date", tuple(values)))
            t, low = _fill(t, m.start(), m.end()), _fill(low, m.start(), m.end())
    return t, low


_START = attrgetter("start")  # the sort key of numbers and figures


def extract_figures(text: str, *, protected: Sequence[str] = ()) -> tuple[list[Figure], list[tuple[str, int, int]]]:
    """The figures of `text`, and the money-like tokens that cannot be read (token, start, end).

    `protected` strings (verbatim ids, names, spec texts) are skipped wherever they occur as whole words.
    """
    return extract_masked(text, mask_protected(text, protected))


def extract_masked(text: str, t: str) -> tuple[list[Figure], list[tuple[str, int, int]]]:
    """`extract_figures` of `text` whose protected strings are already blanked out in `t` (`mask_protected`):
    a caller that needs the masked text too masks once."""
    figures: list[Figure] = []
    bad: list[tuple[str, int, int]] = []
    low = t.lower()
    if len(low) != len(t):  # a few characters change length when lower-cased; keep offsets exact
        low = "".join(c.lower() if len(c.lower()) == 1 else c for c in t)
    ignore = []
    if "://" in t or "www." in low or "@" in t:
        ignore.append(_URL)
    if _CLOCK.search(t) or "am" in low or "pm" in low or "a.m" in low or "p.m" in low:
        ignore.append(_TIME)
    if "24" in t:
        ignore.append(_247)
    if _STANDARD_BODY.search(t):
        ignore.append(_STANDARD)
    for rx in ignore:
        for m in rx.finditer(t):
            if rx is _STANDARD and m.start() and (_is_word_char(t[m.start() - 1]) or t[m.start() - 1] == "/"):
                continue
            t, low = _fill(t, m.start(), m.end()), _fill(low, m.start(), m.end())
    t, low = _date_figures(t, low, figures, months=_MONTH_KEY.search(low) is not None)
    # Words the pattern needs, so that "payment" alone costs no scan ("cash on delivery" is still read
    # only with a "pay" somewhere in the text, as before).
    if ("advance" in low or "cod" in low or "prepay" in low or "pre-pay" in low
            or ("cash" in low and "pay" in low)):
        for m in _TERMS_WORDS.finditer(low):
            figures.append(Figure(text[m.start():m.end()], m.start(), m.end(), "terms",
                                  ("PREPAY" if m.group("prepay") else "COD",)))
            t, low = _fill(t, m.start(), m.end()), _fill(low, m.start(), m.end())
    if "half" in low:
        for m in _HALF.finditer(low):
            figures.append(Figure(text[m.start():m.end()], m.start(), m.end(), "percent", (Decimal(50),)))
            t, low = _fill(t, m.start(), m.end()), _fill(low, m.start(), m.end())
    if _PLACEHOLDER_MARK.search(t) or "xx" in t or "TBD" in t or "TBC" in t or "N/A" in t:
        for m in _CODE_PLACEHOLDER.finditer(t):
            if (m.group("c1") or m.group("c2")) in CODES:
                bad.append((text[m.start():m.end()], m.start(), m.end()))
                t, low = _fill(t, m.start(), m.end()), _fill(low, m.start(), m.end())

    nums: list[_Num] = []
    for m in _SPACE_NUM.finditer(t) if _SPACE_GROUP.search(t) else ():
        after = m.end()
        if (_TAIL_CUR.match(t, after) or _TAIL_QTY.match(t, after) or _TAIL_DAYS.match(t, after)
                or _head_currency(t, m.start(), max(0, m.start() - 8))):  # (a non-currency code: harmless)
            nums.append(_Num(m.start(), m.end(), m.group()))
    taken = [(n.start, n.end) for n in nums]
    for m in _NUM.finditer(t):
        s, e = m.start(), m.end()
        if taken and any(a < e and s < b for a, b in taken):
            continue
        ok, prefix = _left_ok(t, s)
        if not ok:
            continue
        ok, end, mult = _right_ok(t, e)
        if not ok:
            continue
        nums.append(_Num(s, end, m.group(), mult=mult, prefix=prefix,
                         negative=s > 0 and t[s - 1] in "-−" and (s == 1 or not t[s - 2].isalnum())))
        if end != e:
            nums[-1].end = e
            nums[-1].tail_end = end
    for start, end, value in number_words(low):
        nums.append(_Num(start, end, low[start:end], words=True, value=value))
    nums.sort(key=_START)

    consumed: set[tuple[int, int]] = set()
    for n in nums:
        _classify(t, n, consumed, tail_at=n.tail_end or None)
        if n.tail_end:
            n.fig_end = max(n.fig_end, n.tail_end)
    # ranges: "3-5 days", "10 to 15%", "EUR 3.05-3.25"
    for a, b in zip(nums, nums[1:]):
        after = a.tail_end or a.end
        if b.start - after > 5:  # no link in between: a link is at most five characters
            continue
        link = _TAIL_RANGE.match(t, after)
        if not link or link.end() != b.start:
            continue
        if a.kind == "number" and b.kind in ("percent", "money", "days", "quantity"):
            _classify(t, a, consumed, tail_at=b.tail_end or b.end)
            a.fig_end = a.tail_end or a.end
            if b.kind == "money" and a.kind == "number":
                a.kind, a.currency = "money", b.currency
        elif b.kind == "number" and a.kind in ("money", "percent") and not b.words:
            b.kind, b.currency = a.kind, a.currency

    for n in nums:
        values = _values(n)
        span_text = text[n.fig_start:n.fig_end]
        if values is None:
            if n.kind == "money":
                bad.append((span_text, n.fig_start, n.fig_end))
                continue
            for p in _LIST_PART.finditer(n.raw):  # an odd list such as 20,25,30: each part
                figures.append(Figure(p.group(), n.start + p.start(), n.start + p.end(), "number",
                                      (Decimal(p.group()),)))
            continue
        if n.words and n.kind == "number" and values[0] in (0, 1):
            continue  # "one of our bearings", "zero defects"
        if n.kind == "percent" and values == (Decimal(100),) and not _TAIL_OFF.match(t, n.fig_end):
            continue  # "100% inspected"
        if n.kind == "terms":
            values = (f"NET{int(values[0])}",)
        figures.append(Figure(span_text, n.fig_start, n.fig_end, n.kind, values,  # type: ignore[arg-type]
                              n.currency, n.unit))

    for m in _BARE_SYMBOL.finditer(t):
        if any(a <= m.start() < b for a, b in consumed):
            continue
        if any(f.kind == "money" and f.start <= m.start() < f.end for f in figures):
            continue
        if _SYMBOL_WORD.match(t, m.end()) and not _SYMBOL_OK_BEFORE.search(t, max(0, m.start() - 8), m.start()):
            end = m.end()
            w = _TOKEN_AFTER_SYMBOL.match(t, end)
            end = w.end() if w else end
            bad.append((text[m.start():end], m.start(), end))
    figures.sort(key=_START)
    bad.sort(key=itemgetter(1))
    return figures, bad


def mask_protected(text: str, protected: Sequence[str]) -> str:
    """`text` with every whole-word, case-insensitive occurrence of a protected string blanked out."""
    if not protected:
        return text
    low = text.lower()
    for p in sorted({p.lower() for p in protected if p}, key=len, reverse=True):
        start = 0
        while (i := low.find(p, start)) != -1:
            j = i + len(p)
            before = text[i - 1] if i else " "
            after = text[j] if j < len(text) else " "
            if not _is_word_char(before) and not _is_word_char(after):
                text = _fill(text, i, j)
                low = _fill(low, i, j)
            start = i + 1
    return text


def raw_count(days: Decimal, unit: str | None) -> Decimal:
    """The count as written for a duration figure: 14 days written as "two weeks" -> 2."""
    scale = _DAY_UNITS.get(unit or "day", Decimal(1))
    return days * -scale if scale < 0 else days / scale
