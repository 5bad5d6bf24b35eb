"""Offline understanding of plain-text buyer messages: a pure, deterministic parser (no ML, no network).

`understand(text, ctx)` reads what a procurement bot (or person) wrote and
returns the `BuyerIntent` the seller graph acts on, with `source="offline"`
and `notes` saying what was recognised (for the decision record). It is the
offline model's `with_structured_output(BuyerIntent)`.

How it reads a message, in order (each step blanks what it consumed so that
later steps never read the same characters twice):

1. normalise: NFKC, curly quotes, control characters, at most 4000 chars;
   numbers in words as digits (``two hundred`` is 200, ``ten percent`` 10%, ``a dozen`` 12);
2. SKUs: catalog SKUs in any case (``brg-6204`` is ``BRG-6204``), a designation
   that only one product's name has (``6204-2RS`` is ``BRG-6204``), then
   SKU-shaped tokens kept as given (``ABC-123``) so the seller answers
   ``unknown_sku``; proposal references (``P-12 v3``) and buyer references
   (``PO 4711``) are taken out first so they are never read as SKUs or numbers;
3. payment terms (``net 60``, ``prepay``), delivery dates (``by 2026-12-15``,
   ``before December 15``, ``within 2 weeks``, ``by Friday``), discounts (``5% off``);
4. prices with a currency mark (``3.10 EUR``, ``€3.10``, ``3,10 €``, ``$4.20``);
5. quantities bound to SKUs (``500 x BRG-6204``, ``BRG-6204 x 500``,
   ``500 pcs of``, ``qty 500``, ``1,000 x``, ``1.000 Stück``);
6. spec values with a unit (``20mm``, ``at least 1.1 kW``) for catalog queries;
7. prices named by words (``at 3.10``, ``for 3.10 each``, ``3.10/unit``,
   ``can you do 2.95?``) and bare quantities (``500 units``);
8. destination and region (a small table of countries and major cities),
   currency words, and the cue words that decide the kind.

"Split the difference" on the current offer is a counter-offer at the midpoint of each
offered unit price and the buyer's last ask on that line (`ctx.proposal_asks`, which
the seller fills when `asks_midpoint` says the text asks for it), rounded the same way.

Money is never invented here. A discount in percent (``10% off?``) becomes
prices only against the current offer's own unit prices, which the context
carries: a counter-offer at each line's offered price less that percentage
(only the lines of the products named, if any; the others at their offered
price), rounded to the currency's minor unit, with the arithmetic in `notes`.
Without them (no offer, or other items or quantities named) it stays in `notes`
(``asked discount 5%``) beside a price question. Prompt injection is
only text: instruction-like phrases are noted and otherwise ignored; what the
words ask as a buyer is all that is read. The function is total: any input
gives a valid `BuyerIntent` (``kind="unknown"`` with a note at worst), and
out-of-range numbers (quantity above 10,000,000, price above 1e12) are
dropped with a note.
"""

from __future__ import annotations

import calendar
import re
import threading
import unicodedata
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cached_property
from typing import Any

from agent.contract import (
    MAX_ITEMS, MAX_TEXT, Accept, CatalogQuery, CounterItem, CounterOffer, Reject, Rfq, RfqItem,
)
from agent.guardrail.numbers import number_words
from agent.intent import (
    ACCEPT_AND_REJECT, CONDITIONAL_ACCEPT, NO_PRODUCT_NAMED, NO_PROPOSAL_TO_ACCEPT, NO_PROPOSAL_TO_REJECT, WHICH_LINE,
    BuyerIntent, Question,
)
from tools.catalog.models import Catalog
from tools.catalog.search import best_match, search
from tools.money import HUNDRED, floor_money, is_currency, round_money

MAX_QUANTITY = 10_000_000
MAX_PRICE = Decimal("1e12")
MAX_NOTES = 40
_NOTE_CHARS = 200
_REASON_CHARS = 1000


@dataclass(frozen=True)
class TextContext:
    """What the parser may know besides the text: the catalog and the lines the text may refer to: the
    negotiation's current proposal, a data part's items beside the text, or with neither the products the buyer
    named last (`topic`: agent/topic.py), so that "500 then" has a product."""

    catalog: Catalog
    proposal_id: str | None = None       # the negotiation's current proposal, if any
    proposal_version: int | None = None
    proposal_skus: tuple[str, ...] = ()  # SKUs (and quantities) of those lines, in order
    proposal_quantities: tuple[int | None, ...] = ()
    proposal_prices: tuple[Decimal, ...] = ()  # its offered unit prices, in the same order (a discount's base)
    proposal_asks: tuple[Decimal | None, ...] = ()  # the buyer's last asked unit price on each line (a midpoint's)
    proposal_terms: str | None = None    # its payment terms, while it is offered
    topic: bool = False                  # the lines are the products the buyer named last (no proposal stands)
    region: str | None = None            # buyer's region/currency when known
    currency: str | None = None


# --- patterns ------------------------------------------------------------------------

_I = re.IGNORECASE
# A number as written: 500, 1,000, 1.000, 3.10, 3,10, 1.000,50, 1,000.50 (interpreted by context).
_NUM = r"[0-9](?:[0-9.,]*[0-9])?"
_NB = r"(?<![\w.,/\-])"                      # number start: not inside a word or another number
_NE = r"(?![\w]|[.,][0-9])"                 # number end
_UNITW = (r"(?:pcs|pc|pieces?|units?|items?|ea|nos|boxe?s|box|packs?|pkgs?|pairs?|pails?|rolls?|sets?|kits?"
          r"|cartons?|reels?|drums?|coils?|lengths?|metres?|meters?|mtrs?|m|kgs?|kilos?|st(?:ü|ue|u)ck|stk"
          r"|ct)\.?(?![\w])")
_MEASURE = (r"(?:mm2|mm|cm|kw|w|vdc|vac|v|volts?|hz|rpm|bar|nm|kn|°c|ºc|deg\s?c|db|amps?|"
            r"days?|weeks?|months?|years?|hours?|hrs?|h|min|minutes?|percent|pct|%)(?![\w])")
_CURWORD = r"(?:€|\$|£|eur(?:os?)?\b|usd\b|dollars?\b|bucks\b|gbp\b|chf\b)"

_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff]")
_TRANS = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "`": "'", "\u201c": '"', "\u201d": '"',
                        "\u2013": "-", "\u2014": "-", "\u2010": "-", "\u2011": "-", "\u2212": "-",
                        "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u00d7": "x"})

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-/]*")
_SKU_SHAPE = re.compile(r"[A-Za-z]{2,}[A-Za-z0-9]*(?:[-_.][A-Za-z0-9]+)+")
_SKU_ANY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_SKU_SPLIT_QTY_AFTER = re.compile(r"^(?P<s>.+?)[x*](?P<n>[0-9]{1,9})$", _I)
_SKU_SPLIT_QTY_BEFORE = re.compile(r"^(?P<n>[0-9]{1,9})[x*](?P<s>.+)$", _I)
_NOT_SKU_PREFIX = frozenset(
    "iso din en iec ip net po ref ce ul ansi astm sae nema covid ral gmt utc cet cest vat id no tel fax zip fy "
    "isbn ean upc gtin hs rfq pr pdf url http https www page tel mob ph".split())
_EXPLICIT_QTY_BEFORE = re.compile(
    rf"[0-9](?:[0-9.,]*[0-9])?k?\s*(?:x|\*|{_UNITW}(?:\s*(?:of|x)\b)?|of)\s*(?:the\s+)?$", _I)
_EXPLICIT_QTY_AFTER = re.compile(r"\s*[x*]\s*[0-9]", _I)
_SKU_KEYWORD_BEFORE = re.compile(
    r"\b(?:sku|part(?:\s+(?:no|number|#))?|item(?:\s+(?:no|number|#))?|article|art\.?|p/n|pn|mpn)\s*[:#.]?\s*$", _I)

_PROPOSAL_GENERIC = re.compile(r"(?<![\w-])(?P<id>P-[A-Za-z0-9][A-Za-z0-9_]{0,61})(?![\w-])", _I)
_PROPOSAL_WORD = re.compile(
    r"\b(?:proposal|offer|quote|quotation)\s*(?:#|no\.?|number|id|ref\.?)?\s*[:#]?\s*"
    r"(?P<id>[A-Za-z0-9][A-Za-z0-9_\-]{0,63})(?![\w-])", _I)
_VERSION_AFTER = re.compile(
    r"\s*(?:[,/(]|-)?\s*(?:v|ver\.?|version|rev\.?|revision)\s*[#:.]?\s*(?P<v>[0-9]{1,12})\b\)?", _I)
_VERSION_ALONE = re.compile(
    r"\b(?:version|ver\.|revision|rev\.)\s*[#:]?\s*(?P<v>[0-9]{1,12})\b|\bv(?P<v2>[0-9]{1,12})\b", _I)
_BUYER_REF = re.compile(
    r"(?:\b(?-i:PO)|\bp\.o\.|\bpurchase\s+order|\bour\s+ref(?:erence)?\.?|\bref(?:erence)?\.?|\brequisition)"
    r"\s*(?:no\.?|number|#|:)?\s*[:#]?\s*(?P<ref>[A-Za-z0-9][A-Za-z0-9_\-/]{0,63})(?![\w-])", _I)

_TERMS_NET = re.compile(r"\bnet\s*-?\s*(?P<n>[0-9]{1,6})(?![.,]?[0-9])(?:\s*days?\b)?", _I)
_TERMS_DAYS = re.compile(
    r"\b(?:payment|pay|paying|terms?|credit)\s+(?:in|within|at|of|after)\s+(?P<n>[0-9]{1,6})\s*days?\b"
    r"|\b(?P<n2>[0-9]{1,6})[-\s]days?\s+(?:payment|terms|credit|net)\b", _I)
_TERMS_PREPAY = re.compile(
    r"\bpre-?\s?pa(?:y|id|yment|ying)\b|\bpay(?:ment)?\s+(?:in\s+advance|up\s*front|before\s+(?:shipment|shipping"
    r"|delivery))\b|\b(?:cash|payment)\s+in\s+advance\b|\badvance\s+payment\b", _I)

_MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
           "oct": 10, "nov": 11, "dec": 12}
_MON = (r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
        r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_DATES = re.compile(
    r"(?<![\w.])(?P<iy>[0-9]{4})[-/](?P<im>[0-9]{1,2})[-/](?P<id>[0-9]{1,2})(?![\w]|[.,/-][0-9])"
    rf"|\b{_MON.replace('mon>', 'mon1>')}\s+(?P<d1>[0-9]{{1,2}})(?:st|nd|rd|th)?(?![\w]|[.,:][0-9])"
    r"(?:,?\s+(?P<y1>[0-9]{4})\b)?"
    rf"|(?<![\w.,])(?P<d2>[0-9]{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MON.replace('mon>', 'mon2>')}(?![\w])"
    r"(?:,?\s+(?P<y2>[0-9]{4})\b)?"
    r"|(?<![\w.,])(?P<dd>[0-9]{1,2})\.(?P<dm>[0-9]{1,2})\.(?P<dy>[0-9]{4}|[0-9]{2})(?![\w]|[.,][0-9])"
    r"|(?<![\w./,])(?P<sa>[0-9]{1,2})/(?P<sb>[0-9]{1,2})(?:/(?P<sy>[0-9]{4}|[0-9]{2}))?(?![\w/]|[.,][0-9])"
    r"|\b(?:within|in)\s+(?P<rn>[0-9]{1,4})\s+(?P<ru>(?:business\s+|working\s+)?days?|weeks?)\b"
    rf"|\b(?:the\s+)?end\s+of\s+{_MON.replace('mon>', 'mon3>')}(?![\w])(?:,?\s+(?P<y3>[0-9]{{4}})\b)?"
    r"|\b(?:(?P<wnext>next|this|coming)\s+)?(?P<wd>mon|tue|wed|thu|fri|sat|sun)(?:day|sday|nesday|rsday|urday)?\.?"
    r"(?![\w-])", _I)
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DATE_TRIGGER = re.compile(
    r"(?:\bby|\bbefore|\buntil|\btill|\blatest|\bno\s+later\s+than|\bnot\s+later\s+than|\bdeliver(?:ed|y)?"
    r"(?:\s+(?:on|by|date|for))?|\bon|\bdue|\bneed(?:ed)?\s+(?:it\s+|them\s+)?by|\beta|\bfor|\barrive)\s*:?\s*$", _I)

_SLASH_TRIGGER = re.compile(r"(?:\bby|\bbefore|\buntil|\btill|\blatest|\bno\s+later\s+than|\bdue|\bdeliver(?:ed|y)?"
                            r"(?:\s+(?:on|by|date))?)\s*:?\s*$", _I)
_PCT = re.compile(rf"(?<![\w.,])-?\s?(?P<n>{_NUM})\s*(?:%|percent\b|per\s*cent\b|pct\b)", _I)
# After a lone "one" that counts (elsewhere "one" is rarely a number: "one of", "the one with"): a unit or a SKU.
_ONE_COUNTS = re.compile(r"\s*(?:%|percent\b|per\s*cent\b|pct\b|x\b|units?\b|pcs\b|pieces?\b|boxe?s?\b|"
                         r"(?-i:[A-Z]{2,}[A-Z0-9]*-))", _I)
# "Split the difference", "meet us in the middle", "meet us halfway": a counter at the midpoint of the offer and
# the buyer's ask (`asks_midpoint`).
_MIDPOINT = re.compile(r"\bsplit(?:ting)?\s+(?:the\s+|that\s+)?difference\b|\bmeet\s+(?:(?:me|us)\s+)?(?:in\s+the\s+)?"
                       r"(?:middle|half[\s-]?way)\b|\bgo\s+half[\s-]?way\b|\bmiddle\s+ground\b", _I)
_PCT_CONTEXT = re.compile(r"\b(?:off|discount\w*|rebate|reduc\w*|cheaper|lower|less|knock\w*|cut|deduct\w*|"
                          r"markdown|down|better|skonto|prepay\w*|upfront|up\s+front|early\s+payment|"
                          r"on\s+(?:the\s+|your\s+|these\s+|those\s+|all\s+)?[a-z]{3,})\b", _I)  # "10% on the bearings"

_PRICE_CUR = re.compile(
    rf"(?P<pre>US\$|\$|€|£|\b(?:EUR|USD|GBP|CHF)\b)\s?(?P<n1>{_NUM}){_NE}"
    rf"|{_NB}(?P<n2>{_NUM})\s?(?P<post>€|\$|£|eur(?:os?)?\b|usd\b|dollars?\b|bucks\b|gbp\b|chf\b)", _I)
_PER_UNIT = re.compile(
    r"\s*(?:/\s*(?:unit|pc|pcs|piece|ea|each|item|box|m|metre|meter|kg|pair|pail|set)\b|per\s+(?:unit|piece|pc|"
    r"item|box|metre|meter|m|kg|pair|pail|set|each)\b|each\b|ea\b|apiece\b|a\s+piece\b|a\s+unit\b)", _I)
_TOTAL_AFTER = re.compile(
    r"\s*(?:(?:in\s+)?total\b|for\s+(?:the\s+)?(?:lot|whole\s+(?:order|lot)|entire\s+order|everything|all\s+of\s+"
    r"(?:it|them))\b|altogether\b|all\s+in\b|overall\b)", _I)
_TOTAL_BEFORE = re.compile(
    r"\b(?:total(?:\s+(?:price|cost|budget|amount|value|of|is))*|in\s+total|whole\s+order\s+for|all\s+in\s+for)"
    r"\s*[:=]?\s*(?:of\s+)?$", _I)

# A budget is what the whole order may cost: its figure, with no per-unit word, is a total when no offered unit
# price is as high (`_Scan._add_price`); "our budget is 3.10" on an offer at 3.40 stays a unit price.
_BUDGET_BEFORE = re.compile(r"\bbudget(?:\s+(?:is|was|of|at|would\s+be|will\s+be))?\s*[:=]?\s*(?:of\s+)?"
                            r"(?:(?:around|about|roughly|only|just)\s+)?$", _I)

# A year after a word of time; not one with a unit or an "x" after it (a quantity).
_YEAR = re.compile(r"\b(?:for|in|until|till|thru|through|by|of|from|during|throughout|after|before|fy|year|"
                   r"calendar|fiscal|budget)\s+(?P<y>20\d\d)\b(?![.,]\d)", re.I)
_AFTER_YEAR_UNIT = re.compile(rf"\s*(?:{_UNITW}|x\b|\*)", re.I)

_AFTER_NOT_PRICE = re.compile(rf"\s*(?:{_UNITW}|x\s|x$|\*|{_MEASURE}|[x*]?\s*\x01)", _I)
_PRICE_KW = re.compile(
    r"(?:(?<![\w])(?P<kw>at|for|do|pay|paying|offer(?:ing)?|target(?:\s+price)?(?:\s+(?:is|of))?|"
    r"budget(?:\s+(?:is|of))?|counter(?:\s+(?:at|with))?|meet\s+(?:at|in\s+the\s+middle\s+at)|how\s+about|"
    r"what\s+about|down\s+to|reduce[d]?\s+(?:it\s+)?to|lower(?:ed)?\s+(?:it\s+)?to|drop\s+(?:it\s+)?to|"
    r"go\s+(?:down\s+)?to|(?:unit\s+)?price\s*(?:of|is|at|to|:|=)|make\s+it|would|could\s+accept|match|"
    r"settle\s+(?:at|for|on)|land\s+at)\s*[:=]?\s*|(?P<at>@)\s*)"
    rf"(?P<n>{_NUM}){_NE}", _I)
# A volume over time ("1200 per year", "100/month") is no order's quantity and never a price per unit; a number
# "per order" or "per delivery" is a quantity, never a price per unit either.
_PERIOD = r"(?:year|yr|annum|month|mo|quarter|qtr|week|wk|day)s?\b"
_PER_PERIOD = rf"(?:{_PERIOD}|(?:order|shipment|delivery|call[- ]?off)s?\b)"
_PRICE_PER = re.compile(rf"{_NB}(?P<n>{_NUM})(?=\s*(?:/\s*(?!{_PER_PERIOD})[a-z]|per\s+(?!{_PER_PERIOD})|each\b|"
                        r"ea\b|apiece\b|a\s+piece\b))", _I)
_PERIOD_KEYS = ("year", "yr", "annum", "month", "/mo", " mo", "quarter", "qtr", "week", "wk", "day")  # a cheap check first
_VOLUME = re.compile(rf"{_NB}(?P<n>{_NUM}k?)\s*(?:{_UNITW}\s*)?(?:/\s*|(?:per|a|an|every|each)\s+){_PERIOD}", _I)

_BIND_BEFORE = re.compile(
    rf"{_NB}(?P<n>{_NUM}k?)\s*(?:[x*](?![\w])|[x*](?=\x01)|{_UNITW}(?:\s*(?:of|x)\b)?|of\b)\s*"
    r"(?:the\s+|your\s+|item\s+|sku\s+)?(?P<s>\x01+)", _I)
_BIND_QTY_KW = re.compile(
    rf"\b(?:qty|quantity|menge)\.?\s*(?:of|is)?\s*[:=]?\s*(?P<n>{_NUM}k?)\s*(?:{_UNITW})?\s*(?:of\s+|x\s*|\*\s*)?"
    r"(?P<s>\x01+)", _I)
_BIND_AFTER = re.compile(
    rf"(?P<s>\x01+)\s*(?:[x*:=]|-|\(|,?\s*(?:qty|quantity|menge)\.?\s*[:=]?)\s*(?P<n>{_NUM}k?){_NE}"
    rf"(?:\s*{_UNITW})?(?!\s*(?:{_MEASURE}|{_CURWORD}))", _I)
_BIND_AFTER_UNIT = re.compile(rf"(?P<s>\x01+)\s*,?\s*(?P<n>{_NUM}k?)\s*(?:{_UNITW})", _I)
_BIND_WEAK_BEFORE = re.compile(rf"{_NB}(?P<n>{_NUM}){_NE}\s+(?P<s>\x01+)", _I)
_BIND_WEAK_AFTER = re.compile(rf"(?P<s>\x01+)\s+(?P<n>{_NUM}){_NE}(?!\s*(?:{_MEASURE}|{_CURWORD}|[.,]\s*[0-9]))", _I)

_QTY_BEFORE_PRICE = re.compile(
    rf"\b(?:do|for|quote(?:\s+for)?|price\s+for|pricing\s+for|take|order|need|want|buy)\s+(?P<n>{_NUM}k?){_NE}"
    r"(?=\s*(?:at|@|for)\s*(?:[€$£]\s*)?[0-9])"
    rf"|\b(?:price|prices|pricing|quote|cost|lead\s+time|availability)\s+(?:for|on)\s+(?P<n2>{_NUM}k?){_NE}"
    rf"(?!\s*(?:{_CURWORD}|{_MEASURE}))", _I)
_QTY_BARE = re.compile(rf"{_NB}(?P<n>{_NUM}k?)\s*(?:{_UNITW})", _I)
_QTY_KW = re.compile(rf"\b(?:qty|quantity|menge)\.?\s*(?:of|is)?\s*[:=]?\s*(?P<n>{_NUM}k?){_NE}", _I)
_QTY_VERB = re.compile(
    r"\b(?:make\s+it|increase\s+(?:it\s+)?to|change\s+(?:it\s+|the\s+quantity\s+)?to|go\s+up\s+to|bump\s+(?:it\s+)?"
    r"(?:up\s+)?to|we\s+need|need|order|buy|take|want|get)\s+(?P<n>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+k?)"
    rf"(?![\w.,%])(?!\s*(?:{_CURWORD}|{_MEASURE}))", _I)
# A quantity a price is asked for, with no unit, currency or measure after it: "how much for 800?", "what would
# 2000 cost?" (as "price for 800" above: a quote for that many)
_PRICE_WORDS = r"\bhow\s+much\b|\bprices?\b|\bpricing\b|\bcosts?\b|\brates?\b"
_PRICE_FOR_Q = re.compile(_PRICE_WORDS)
_WHOLE = r"(?P<n>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+k?)"  # a whole number as written: 800, 1,000, 2k
_QTY_FOR = re.compile(
    rf"(?:\bfor|\bwhat\s+(?:would|will|does|do)|\bhow\s+much\s+(?:would|will|does|do|are|is))\s+{_WHOLE}(?![\w.,%/])"
    rf"(?!\s*(?:{_CURWORD}|{_MEASURE}|per\b|each\b|ea\b|a\s+piece\b|apiece\b))", _I)
# A whole number alone, but for words that only carry it ("ok", "then", "please", "let's say", "another")
# Words that ask for more of a line before its number ("another 40", "an extra 10"); "40 more" after it.
_MORE_WORDS = r"another|an?\s+(?:extra|additional)|extra|additional|plus"
_CARRIER_BEFORE = (r"ok(?:ay)?|fine|alright|all\s+right|right|so|well|hmm+|then|and|let'?s\s+(?:do|say|go\s+with|try)"
                   r"|go\s+with|say|maybe|perhaps|just|only|instead|please|pls|plz|try|for|quote(?:\s+(?:us|me))?(?:\s+for)?"
                   rf"|(?:we\s+need\s+)?(?:{_MORE_WORDS})")
_CARRIER_AFTER = (r"then|instead|please|pls|plz|maybe|perhaps|ok(?:ay)?|thanks|thank\s+you|thx|more"
                  r"|units?|pcs|pieces?|of\s+(?:them|those|these|it)")
_QTY_ALONE = re.compile(rf"\W*(?:(?:{_CARRIER_BEFORE})\b\W*)*{_WHOLE}(?:\W*\b(?:{_CARRIER_AFTER})\b)*\W*", _I)
_MORE_CUE = re.compile(rf"\b(?:more|{_MORE_WORDS})\b", _I)
_QTY_BEFORE_WORD = re.compile(
    rf"(?<![\w.,/\-]){_WHOLE}\s+(?:more\s+)?(?:of\s+(?:the|your|those|these)\s+)?"
    r"(?:(?:matching|compatible|related|suitable|fitting|same)\s+)?(?:[A-Za-z]{1,3}[0-9]{1,3}\s+)?"  # "500 M8 hex nuts"
    r"(?P<w>[A-Za-z]{3,})\b")
_LIST_BEFORE = re.compile(r"(?:\band|&|,|/)\s*$", _I)
_MONEY_SHAPED = re.compile(rf"{_NB}[0-9]{{1,9}}[.,][0-9]{{2}}{_NE}")

_SPEC_VALUE = re.compile(
    r"(?:(?P<op>at\s+least|min(?:imum)?\.?|>=|≥|more\s+than|greater\s+than|above|over|at\s+most|max(?:imum)?\.?|"
    r"up\s+to|<=|≤|less\s+than|under|below|<|>)\s*)?"
    rf"{_NB}(?P<n>{_NUM})\s?(?P<u>mm2|mm|cm|kw|vdc|vac|v|volts?|hz|rpm|bar|kg|nm|kn|°c|ºc|deg\s?c|db|(?-i:A)|amps?)"
    r"(?![\w])", _I)
_SPEC_UNIT = {"mm2": "mm2", "mm": "mm", "cm": "cm", "kw": "kw", "vdc": "v", "vac": "v", "v": "v", "volt": "v",
              "volts": "v", "hz": "hz", "rpm": "rpm", "bar": "bar", "kg": "kg", "nm": "nm", "kn": "kn", "°c": "c",
              "ºc": "c", "degc": "c", "deg c": "c", "db": "db", "a": "a", "amp": "a", "amps": "a"}
_SPEC_OP = {"at least": ">=", "min": ">=", "minimum": ">=", ">=": ">=", "≥": ">=", "more than": ">",
            "greater than": ">", "above": ">", "over": ">", ">": ">", "at most": "<=", "max": "<=",
            "maximum": "<=", "up to": "<=", "<=": "<=", "≤": "<=", "less than": "<", "under": "<", "below": "<",
            "<": "<"}
_UNIT_SUFFIX = frozenset("mm mm2 cm m kw w v hz rpm nm kn n bar kg g c db a cst s h".split())

_CURRENCY_CODE = re.compile(r"\b(?P<c>EUR|USD|GBP|CHF|JPY|CAD|AUD|CNY|SEK|NOK|DKK|PLN|CZK|HUF|KWD|INR|MXN|BRL)\b"
                            r"|(?i:\b(?P<w>euros?|eur|usd|dollars?)\b)|(?P<s>€|US\$|\$|£)")
_REGION_KW = re.compile(r"\bregion\s*[:=]?\s*(?P<r>[A-Za-z0-9_\-]{1,16})\b", _I)
_US_CODE = re.compile(r"(?<![\w.])(?:US|USA|U\.S\.A\.?|U\.S\.)(?![\w])")
_EU_CODE = re.compile(r"(?<![\w.])(?:EU|E\.U\.)(?![\w])")
_LOC_PREP = re.compile(r"\b(?:to|in|at|from|near|into|for|ship(?:ped|ping)?\s+to|deliver(?:ed|y)?\s+to)\s+$", _I)
_DEST_PREP = re.compile(r"\b(?:to|into|deliver(?:ed|y)?(?:\s+to|\s+in)?|ship(?:ped|ping)?(?:\s+to)?|destination"
                        r"|site\s+in|plant\s+in|warehouse\s+in|in)\s*:?\s*(?:our\s+\w+\s+in\s+)?$", _I)

_EU_PLACES = (
    "austria belgium bulgaria croatia cyprus czechia czech_republic denmark estonia finland france germany greece "
    "hungary ireland italy latvia lithuania luxembourg malta netherlands the_netherlands holland poland portugal "
    "romania slovakia slovenia spain sweden deutschland österreich osterreich españa espana italia nederland polska "
    "sverige suomi danmark belgique belgië česko hrvatska magyarország europe european_union eurozone "
    "paris lyon marseille toulouse lille bordeaux nantes strasbourg grenoble rennes montpellier le_havre "
    "berlin hamburg munich münchen munchen muenchen cologne köln koln frankfurt stuttgart düsseldorf dusseldorf "
    "dortmund essen leipzig dresden hanover hannover nuremberg nürnberg bremen duisburg bochum mannheim karlsruhe "
    "madrid barcelona valencia seville sevilla bilbao zaragoza malaga málaga rome roma milan milano turin torino "
    "naples napoli bologna florence firenze genoa genova venice venezia verona amsterdam rotterdam eindhoven utrecht "
    "the_hague den_haag tilburg groningen brussels bruxelles brussel antwerp antwerpen ghent gent liège liege "
    "charleroi vienna wien graz linz salzburg innsbruck warsaw warszawa krakow kraków wroclaw wrocław gdansk gdańsk "
    "poznan poznań lodz łódź katowice prague praha brno ostrava budapest debrecen bucharest bucurești cluj "
    "timisoara sofia plovdiv athens thessaloniki lisbon lisboa porto dublin cork copenhagen københavn aarhus "
    "stockholm gothenburg göteborg malmö malmo helsinki tampere espoo tallinn riga vilnius kaunas valletta nicosia "
    "limassol zagreb ljubljana bratislava košice kosice luxembourg_city").split()
_US_PLACES = (
    "united_states united_states_of_america america new_york new_york_city nyc los_angeles chicago houston phoenix "
    "philadelphia san_antonio san_diego dallas san_jose austin detroit seattle boston atlanta miami denver "
    "cleveland columbus cincinnati pittsburgh minneapolis saint_louis st_louis milwaukee charlotte "
    "nashville san_francisco las_vegas baltimore indianapolis toledo akron dayton louisville memphis kansas_city "
    "omaha tulsa oklahoma_city salt_lake_city sacramento orlando tampa raleigh richmond buffalo rochester "
    "grand_rapids fort_worth el_paso albuquerque tucson portland_oregon new_orleans "
    "ohio texas california michigan illinois florida pennsylvania indiana wisconsin minnesota kentucky tennessee "
    "north_carolina south_carolina virginia west_virginia arizona colorado oregon massachusetts new_jersey alabama "
    "louisiana missouri iowa kansas nebraska oklahoma utah nevada connecticut maryland arkansas mississippi "
    "idaho montana wyoming new_mexico south_dakota north_dakota delaware new_hampshire vermont maine rhode_island "
    "alaska hawaii").split()
_OTHER_PLACES = (
    "united_kingdom uk great_britain britain england scotland wales northern_ireland london manchester leeds "
    "glasgow edinburgh liverpool bristol sheffield switzerland schweiz suisse zurich zürich geneva genève basel "
    "bern norway norge oslo bergen iceland reykjavik canada toronto montreal montréal vancouver calgary ottawa "
    "mexico mexico_city monterrey guadalajara brazil brasil são_paulo sao_paulo rio_de_janeiro argentina "
    "buenos_aires chile santiago colombia bogota bogotá peru lima china shanghai beijing shenzhen guangzhou "
    "hong_kong taiwan taipei japan tokyo osaka nagoya korea south_korea seoul busan india mumbai delhi new_delhi "
    "bangalore bengaluru chennai pune australia sydney melbourne brisbane perth new_zealand auckland singapore "
    "turkey türkiye istanbul ankara russia moscow ukraine kyiv kiev israel tel_aviv uae united_arab_emirates "
    "dubai abu_dhabi saudi_arabia riyadh qatar doha south_africa johannesburg cape_town egypt cairo nigeria lagos "
    "kenya nairobi morocco vietnam hanoi thailand bangkok indonesia jakarta malaysia kuala_lumpur philippines "
    "manila pakistan karachi serbia belgrade latin_america south_america central_america").split()
# One-word city names that are also common words or names: only read when capitalised or after "to/in/at".
_CAREFUL = frozenset("austin phoenix sofia florence columbus charlotte richmond rochester buffalo lima perth "
                     "cork essen bern santiago memphis maine cairo".split())


def _place_table() -> dict[str, str | None]:
    table: dict[str, str | None] = {}
    for names, region in ((_OTHER_PLACES, None), (_US_PLACES, "US"), (_EU_PLACES, "EU")):
        for name in names:
            table[name.replace("_", " ").casefold()] = region
    return table


_PLACES = _place_table()
_PLACE_FIRST = {n.split()[0]: max(len(m.split()) for m in _PLACES if m.split()[0] == n.split()[0]) for n in _PLACES}
_LETTERS = re.compile(r"[^\W\d_]+")

# Cue words, matched on the lower-cased text with SKUs, numbers and references blanked out.
_ACCEPT = re.compile(
    r"\baccept(?:ed|ing|s)?\b|\bagreed?\b"
    r"|\b(?:it'?s|that'?s|that\s+is|it\s+is|we\s+have|we'?ve\s+got|you\s+have|you'?ve\s+got)\s+(?:a\s+)?deal\b"
    r"|\bdeal\s*(?:[.!]+|$)|^\W*(?:ok(?:ay)?|fine|great|perfect|good|yes|alright|then)?\W*deal\b(?!\s*\?)"
    r"|\b(?:we|i)(?:'ll|\s+will|'d\s+like\s+to|\s+would\s+like\s+to|\s+can|\s+shall)?\s+take\s+(?:it|this|that|"
    r"the\s+offer|your\s+offer|them|the\s+proposal)\b"
    r"|\bgo\s+ahead\b"
    r"|\blet'?s\s+(?:do\s+it|do\s+this|proceed|close|go\s+ahead|finali[sz]e|go\s+with\s+(?:it|that|this))"
    r"|\b(?:we|i)(?:'ll|\s+will)?\s+go\s+with\s+(?:it|that|this|the\s+offer|your\s+offer|the\s+proposal|proposal)\b"
    r"|\b(?:we|i)(?:'ll|\s+will)?\s+go\s+with\s*[.!]*\s*$"  # "we'll go with version 1" (the reference read apart)
    r"|\bsounds\s+good\b|\bworks\s+for\s+(?:us|me)\b|\b(?:we|i)\s+confirm\b|^\W*confirmed\b|\bplace\s+the\s+order\b"
    r"|\bsign\s+(?:it|us\s+up)\b|\bclose\s+the\s+deal\b|^\W*sold\W*$"
    r"|\b(?:please\s+)?confirm\s+(?:the|our|this)\s+order\b(?![^?]*\?)|\bbook\s+(?:it|the\s+order|this|that)\b(?![^?]*\?)"
    r"|\b(?:we|i)(?:'d|\s+would)\s+like\s+to\s+(?:order|place\s+(?:the|an|our)\s+order)\s*(?:it|that|this)?\W*$"
    r"|\bpo\s+(?:to\s+follow|is\s+on\s+(?:its|the)\s+way)\b")
_YOU_BEFORE = re.compile(r"\b(?:you|u|they|does|do\s+you)\b(?:\s+\S+)?\s*$")
_NEGATION_BEFORE = re.compile(
    r"\b(?:not|never|cannot|can'?t|won'?t|don'?t|do\s+not|will\s+not|unable\s+to|couldn'?t|wouldn'?t|no\s+way|"
    r"hardly|isn'?t|aren'?t|no)\b(?:\s+\S+){0,3}\s*$")
_CONDITIONAL_AFTER = re.compile(r"[^.;!?]{0,80}?\b(?:if|provided|as\s+long\s+as|on\s+condition|only\s+if|assuming|"
                                r"subject\s+to)\b")
_REJECT = re.compile(
    r"\bno,?\s+thank(?:s|\s+you)\b|\bno\s+thx\b|\bnot\s+interested\b|\bno\s+deal\b|\bwalk(?:ing)?\s+away\b"
    r"|\b(?:we|i)(?:'ll|\s+will|'d|\s+would|\s+must|\s+have\s+to|\s+need\s+to|\s+are\s+going\s+to|'re\s+going\s+to)?"
    r"\s+(?:have\s+to\s+)?pass\b(?!\s+(?:it|this|that|the\s+\w+)\s+(?:on|along|to))"
    r"|\bpass(?:ing)?\s+on\s+(?:this|that|it|the\s+offer|your\s+offer|the\s+proposal)\b"
    r"|\breject(?:ed|ing|s)?\b|\bdecline[ds]?\b|\bdeclining\b|\bforget\s+it\b"
    r"|^\W*cancel\b|\bcancel\s+(?:it|this|that|the\s+(?:order|request|negotiation|deal|rfq|quote))\b"
    r"|\bcall\s+it\s+off\b|\b(?:we(?:'re|\s+are)|i'?m)\s+out\b"
    r"|\b(?:not|won'?t\s+be|aren'?t)\s+(?:going\s+ahead|proceeding|moving\s+forward)\b"
    r"|\b(?:went|go|going|gone)\s+with\s+(?:another|a\s+different|other)\s+(?:supplier|vendor|offer|quote)\b"
    r"|\bbought\s+elsewhere\b|\bno\s+longer\s+(?:need|want|interested|required)\b"
    r"|\b(?:have\s+to|must|need\s+to|want\s+to|(?:would|'d)\s+like\s+to|going\s+to|decided\s+to)\s+cancel\b"
    r"|\b(?:we(?:'re|\s+are)|i'?m)\s+cancel+ing\b"
    r"|\b(?:will\s+not|won'?t|shall\s+not|do\s+not\s+wish\s+to|don'?t\s+wish\s+to|decided\s+not\s+to)\s+"
    r"(?:proceed|go\s+ahead|move\s+forward)\b(?!\s+(?:unless|without|if|at\s+th|with\s+th))"
    r"|\bwithdraw(?:ing|n)?\s+(?:our|my|the)\s+(?:request|rfq|inquiry|enquiry|order)\b"
    r"|\bdon'?t\s+(?:need|want)\s+(?:it|this|that|them|these|those)\s+any\s?more\b")
_OBJECTION = re.compile(
    r"\btoo\s+(?:expensive|high|pricey|much|steep|costly)\b|\b(?:price|offer|quote)\s+is\s+(?:too\s+|very\s+)?"
    r"(?:high|steep)\b|\bcheaper\b|\bbetter\s+(?:price|offer|deal)\b|\bbest\s+price\b|\blower\s+(?:the\s+)?price\b"
    r"|\bmore\s+competitive\b|\bexpensive\b|\boverpriced\b|\b(?:final|best|last|lowest)\s+(?:offer|price|quote)\b"
    r"|\bbest\s+you\s+can\s+do\b|\b(?:wiggle\s+room|leeway)\b"
    r"|\bflexib(?:le|ility)\b(?![^.?!]{0,20}\b(?:deliver|ship|payment|date|schedul|lead))"
    r"|\broom\s+(?:to\s+(?:move|negotiate|manoeuvre|maneuver)|for\s+(?:negotiation|improvement|a\s+discount)"
    r"|on\s+(?:the\s+)?price)\b"
    r"|\bsharpen\s+(?:your|the)\s+pencil\b|\bover\s+(?:our|the)\s+budget\b|\babove\s+(?:our|the)\s+budget\b"
    r"|\b(?:go|get|come)\s+(?:any\s+|a\s+bit\s+|a\s+little\s+)?(?:lower|down)\b(?!\s+(?:to|at)\s+[0-9])"
    r"|\b(?:won'?t|will\s+not|can'?t|cannot)\s+proceed\s+(?:unless|without|at\s+th)"
    r"|\bdo\s+(?:any\s+|a\s+(?:bit|little)\s+)?better\b|\bimprove\s+(?:on\s+)?(?:your|the|that|this)\s+(?:price|offer)\b"
    r"|\bsharper\s+price\b")
_QUESTION_START = re.compile(
    r"^\W*(?:what|what'?s|which|how|when|where|why|who|is|are|does|do|did|can|could|would|will|have|has|any|tell|"
    r"please\s+tell|info|information|details?)\b")
_COMPAT = re.compile(
    r"\bcompatib\w*|\bfit(?:s|ting)?\b|\bwork(?:s)?\s+with\b|\bgo(?:es)?\s+with\b|\bmatch(?:es|ing)?\b"
    r"|\bmates?\s+with\b|\bsuitable\s+for\b|\bpairs?\s+with\b|\binterchangeable\b|\breplacement\s+for\b"
    r"|\buse\s+(?:it\s+|them\s+)?with\b|\baccessor(?:y|ies)\b")
_LEAD = re.compile(
    r"\blead[\s-]?times?\b|\bhow\s+(?:long|soon|quickly|fast)\b|\bdelivery\s+(?:time|lead)\b|\bshipping\s+time\b"
    r"|\bwhen\s+(?:can|could|will|would|do)\s+(?:you|it|they|we|this|these)\b[^.?!]{0,30}?\b(?:ship|deliver|arrive|"
    r"dispatch|have|get|receive)|\beta\b|\bturnaround\b|\bdispatch\s+time\b|\bship(?:ping)?\s+date\b"
    r"|\bdelivery\s+dates?\b")
# The order limits of a product: its MOQ, the most one order may have.
_LIMITS_Q = re.compile(
    r"\bmoq\b|\bmin(?:imum|\.)?\s+(?:order|purchase)(?:\s+(?:quantity|qty|size|amount))?\b"
    r"|\bmax(?:imum|\.)?\s+(?:order|purchase)(?:\s+(?:quantity|qty|size|amount))?\b|\border\s+(?:limits?|minimums?)\b"
    r"|\b(?:smallest|largest|biggest)\s+(?:possible\s+)?order\b|\bhow\s+few\b"
    r"|\b(?:order|buy|purchase)\s+at\s+(?:most|least)\b|\bat\s+(?:most|least)\s+per\s+order\b"
    r"|^\W*(?:what(?:'s|\s+is)\s+(?:the|your)\s+)?(?:minimum|maximum)\W*$", re.I)
_AVAIL = re.compile(
    r"\bin\s+stock\b|\bstock\s+(?:level|status|situation)s?\b|\bavailab(?:le|ility)\b|\bon\s+hand\b"
    r"|\bhow\s+many\b|\bdo\s+you\s+(?:have|stock|carry)\b|\bhave\s+you\s+got\b|\bcan\s+you\s+supply\b")
_TERMS_Q = re.compile(
    r"\bpayment\s+terms?\b|\bterms\b|\bconditions\b|\bwarrant(?:y|ies)\b|\bliabilit(?:y|ies)\b|\bgoverning\s+law\b"
    r"|\bincoterms?\b|\breturn\s+policy\b|\bcredit\s+terms\b|\bpayment\s+(?:options|methods?)\b"
    r"|\bhow\s+(?:can|do|should)\s+(?:we|i)\s+pay\b|\bshipping\s+terms\b"
    # what the prices include: delivery and taxes (the price book's basis)
    r"|\b(?:free|included|include[sd]?|including|cost\s+of|costs?|charges?\s+for|fees?\s+for|pays?\s+(?:for\s+)?(?:the\s+)?)"
    r"\s*(?:shipping|freight|delivery|carriage|transport)\b"
    r"|\b(?:shipping|freight|delivery|carriage|transport)\s+(?:costs?|charges?|fees?|included|paid|terms)\b"
    r"|\bvat\b|\bsales\s+tax\b|\btax(?:es)?\s+included\b|\b(?:incl|excl)(?:\.|uding)?\s+tax(?:es)?\b"
    r"|\b(?:dap|ddp|fob|exw|fca|cif|cpt|cip)\b"
    # the offer's currency and how one pays
    r"|\bcurrenc(?:y|ies)\b|\bcredit\s+cards?\b|\b(?:bank|wire)\s+transfers?\b|\bletter\s+of\s+credit\b"
    r"|\bpay\s+(?:by|with|via)\b")
# How long an offer stands ("how long is this offer valid?", "can you hold the price until Friday?"): answered
# with the offer and its terms, validity included (before a lead-time cue reads "how long" as delivery).
_VALIDITY_Q = re.compile(
    r"\bvalid(?:ity)?\b|\bexpir(?:e|es|y|ation|ing)\b|\bhold\s+(?:this|the|that|your)\s+(?:price|offer|quote|proposal)\b"
    r"|\bhow\s+long\s+(?:is|does|will|do)\s+(?:this|the|that|your)\s+(?:offer|quote|proposal|price)\b")
# Where the buyer's request stands: an approval, news of it ("any news on the approval?").
_STATUS_Q = re.compile(
    r"\bapprov(?:al|ed|e)\b|\bany\s+(?:news|update|progress)\b|\bstatus\b|\bupdate\s+on\b|\bheard\s+back\b"
    r"|\b(?:your|the|a)\s+decision\b")
# The buyer pauses ("we'll get back to you", "let me check internally"): the offer stands, restated.
_PAUSE = re.compile(
    r"\b(?:get|come)\s+back\s+to\s+you\b|\b(?:check|discuss|confirm)\s+(?:it\s+|this\s+)?(?:internally|with\s+(?:my|our|the)\s+"
    r"(?:team|manager|boss|colleagues?|management|finance))\b|\bthink\s+(?:it\s+)?(?:about\s+it|over)\b|\bsleep\s+on\s+it\b"
    r"|\b(?:need|give\s+us|take)\s+(?:some|a\s+(?:few|couple\s+of))\s+(?:time|days?|hours?)\b|\bkeep\s+you\s+posted\b")
_PRICE_Q = re.compile(_PRICE_WORDS + r"|\bquote\b|\bquotation\b|\bdiscounts?\b|\b(?:the|grand|order|your)\s+total\b"
                      r"|\btotal\s+(?:price|cost|amount|value)\b")
# Volume pricing ("price breaks", "volume discount above 1000 units?", "tiered pricing"): a price question even
# with a quantity in it; the answer is the product's breaks (and that quantity's price), not a quote.
_VOLUME_Q = re.compile(
    r"\b(?:volume|quantity|bulk|tier(?:ed)?|staggered|graduated)\s+(?:discounts?|pricing|prices?|rates?|breaks?)\b"
    r"|\bprice\s+(?:breaks?|tiers?|scales?|brackets?)\b|\bpricing\s+(?:tiers?|scales?|brackets?)\b"
    r"|\bvolume\s+tiers?\b|\bdiscounts?\s+(?:for|on|at)\s+(?:volume|quantity|larger|bigger|higher)\b")
# A request for a quote in words ("can you quote?", "please send us an offer"), for the product the words name.
_QUOTE_CUE = re.compile(
    r"\bquote\b|\bquotation\b|\brfq\b|\b(?:send|make|give)\s+(?:us\s+|me\s+)?(?:an?\s+|your\s+)?(?:offer|proposal)\b")
_CATALOG = re.compile(
    r"\blooking\s+for\b|\bdo\s+you\s+(?:have|sell|stock|carry|offer|make|supply)\b|\bhave\s+you\s+got\b"
    r"|\bsearch(?:ing)?\b|\bfind\b|\bshow\s+me\b|\blist\b|\bcatalog(?:ue)?\b|\bproducts?\b|\bneed\b|\bwant\b"
    r"|\binterested\s+in\b|\brecommend\b|\bsuggest\b|\boptions?\s+for\b|\bsourcing\b|\brequire\b|\bbrowse\b"
    r"|\bwhat\s+(?:\w+\s+)?do\s+you\s+(?:have|sell|carry|offer)\b|\bany\b|\bsell\b")
_CATALOG_BROWSE = re.compile(r"\bcatalog(?:ue)?\b|\bwhat\s+(?:\w+\s+)?do\s+you\s+(?:have|sell|carry|offer)\b"
                             r"|\b(?:all|your)\s+products\b|\bproduct\s+(?:list|range)\b")
_ADD = re.compile(r"\b(?:add|also|plus|additionally|in\s+addition|as\s+well|on\s+top)\b")
_INJECTION = re.compile(
    r"\bignore\s+(?:all\s+|any\s+|the\s+|your\s+|of\s+)*(?:previous|prior|above|earlier|preceding|system|existing"
    r"|former)?\s*(?:instructions?|prompts?|rules?|messages?|directions?|guidelines?|policy|policies)\b"
    r"|\bdisregard\b|\bsystem\s*prompt\b|\byou\s+are\s+now\b|\bact\s+as\b|\bpretend\b|\bjailbreak\b"
    r"|\bdeveloper\s+mode\b|\bnew\s+instructions?\b|\boverride\b|<\s*/?\s*(?:system|assistant|instructions?)\s*>"
    r"|^\s*(?:system|assistant)\s*:|\bas\s+an\s+ai\b|\bforget\s+(?:all|everything|your)\b|\bbypass\b"
    r"|\b(?:admin|operator|manager)\s+(?:override|approval\s+granted|says)\b", _I | re.MULTILINE)
# Cheap substring pre-checks: the cue regexes above only run when one of these occurs.
_ACCEPT_KEYS = ("accept", "agree", "deal", "take", "ahead", "let", "go with", "sounds", "works", "confirm", "order",
                "sign", "sold", "book", "po ")
_REJECT_KEYS = ("no", "pass", "interest", "reject", "declin", "forget", "cancel", "off", "out", "ahead", "proceed",
                "forward", "with", "elsewhere", "walk", "longer", "withdraw", "don")
_INJECTION_KEYS = ("ignor", "disregard", "system", "you are", "act as", "pretend", "jailbreak", "developer",
                   "instruction", "override", "assistant", "as an ai", "forget", "bypass", "admin", "operator",
                   "manager")


def _has_any(text: str, keys: tuple[str, ...]) -> bool:
    return any(k in text for k in keys)


_WORD = re.compile(r"[a-z0-9][a-z0-9+.\-/]*[a-z0-9]|[a-z0-9]")
_QUERY_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9+.\-/]*[A-Za-z0-9]|[A-Za-z0-9]")

_SPEC_SYNONYMS = {"maximum": "max", "minimum": "min", "temp": "temperature", "dia": "diameter", "colour": "color",
                  "od": "outer diameter", "thick": "thickness", "long": "length", "wide": "width", "weight": "weight",
                  "ip": "ip rating", "speed": "speed", "rpm": "speed", "power": "power", "volts": "voltage",
                  "distance": "range", "reach": "range"}
_STOPWORDS = frozenset(
    "a an the and or of for to in on at by with without from we i you your our us me my is are am be been do does "
    "did have has had any some looking look need needs want wants would like could can please pls show find search "
    "searching sell sells stock carry offer offering products product items item something anything things thing "
    "there here it its this that these those what which who how much many about hi hello hey thanks thank "
    "regards got get buy buying purchase require required requirement interested recommend suggest options option "
    "catalog catalogue list browse type types kind kinds sort range sourcing supply supplier vendor also just "
    "available availability ok okay yes no not any other more less than approx approximately around "
    "mm cm kw v hz rpm bar kg nm kn db a amp amps volts volt price prices pricing cost costs quote".split())


# --- catalog index (built once per catalog object) -----------------------------------------


_NAME_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-/]*[A-Za-z0-9]")
# Words of a product name that say nothing about which product it is (packaging, units, the price itself).
_NAME_STOP = frozenset({"unit", "each", "piece", "price", "pack", "pail", "pair", "with", "from", "your", "offer",
                        "line", "item", "order", "please", "could", "would",
                        # words of three letters that name no product ("nut", "hex", "box" may)
                        "the", "and", "for", "you", "can", "our", "are", "not", "but", "how", "per", "any", "all",
                        "off", "net", "get", "buy", "pay", "day", "out", "new", "one", "two", "six", "ten", "its",
                        "who", "why", "was", "has", "had", "let", "lot", "yes", "bit", "too", "way", "may", "see",
                        "ship", "what", "about", "make", "take", "them", "those", "these", "that", "this", "then",
                        "okay", "need", "want", "some", "more", "less"})
_NAME_WORD = re.compile(r"[a-z]{3,}")


def _singular(word: str) -> str:
    """A plural made singular as product names need it: "bearings" "bearing", "boxes" "box", "assemblies"
    "assembly"; "glass" stays."""
    if word.endswith(("xes", "ches", "shes", "sses", "zes")):
        return word[:-2]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _stems(text: str) -> set[str]:
    """The words of `text` that can name a product, singular ("bearings" is "bearing", "nuts" "nut")."""
    return {_singular(w) for w in _NAME_WORD.findall(text.casefold())} - _NAME_STOP


class _Index:
    """Lookup tables derived from a catalog: SKUs by case-folded spelling, category words, spec keys, text."""

    def words_of(self, skus: Iterable[str]) -> frozenset[str]:
        """The name words (`_stems`) of any of `skus`: what the lines of an offer are called."""
        return frozenset().union(*(self.name_words.get(s, frozenset()) for s in skus))

    def __init__(self, catalog: Catalog | None):
        products = list(catalog.products.values()) if catalog is not None else []
        self.exact: frozenset[str] = frozenset(p.sku for p in products)
        self.fold: dict[str, str] = {}
        for sku in sorted(self.exact):
            self.fold.setdefault(sku.casefold(), sku)
        self.specs_of: dict[str, tuple[str, ...]] = {p.sku: tuple(p.specs) for p in products}
        self.category_of: dict[str, str] = {p.sku: p.category for p in products}
        forms: dict[str, str] = {}
        for cat in sorted({p.category for p in products}):
            base = cat.casefold()
            variants = {base, base.replace("-", " "), base.replace("_", " ")}
            for v in list(variants):
                if v.endswith("s") and not v.endswith("ss") and len(v) > 3:
                    variants.add(v[:-1])
                elif len(v) > 2:
                    variants.add(v + "s")
            for v in sorted(variants):
                forms.setdefault(v, cat)
        self.categories = forms
        self.cat_re = re.compile(
            r"(?<![\w-])(?:" + "|".join(re.escape(f).replace(r"\ ", r"[\s\-]+")
                                        for f in sorted(forms, key=len, reverse=True)) + r")(?![\w-])", _I
        ) if forms else None
        # Spec keys: phrase words and unit ("outer_diameter_mm" -> ("outer", "diameter"), "mm").
        self.key_words: dict[str, tuple[str, ...]] = {}
        self.unit_keys: dict[str, list[str]] = {}
        self.key_count: dict[tuple[str, str | None], int] = {}
        self.key_values: dict[tuple[str, str | None], dict[Decimal, int]] = {}
        for p in products:
            for key, value in p.specs.items():
                if key not in self.key_words:
                    parts = tuple(w for w in key.casefold().replace("-", "_").split("_") if w)
                    unit = parts[-1] if len(parts) > 1 and parts[-1] in _UNIT_SUFFIX else None
                    self.key_words[key] = parts[:-1] if unit else parts
                    if unit:
                        self.unit_keys.setdefault(unit, []).append(key)
                number = _spec_number(value)
                for scope in (p.category, None):
                    self.key_count[(key, scope)] = self.key_count.get((key, scope), 0) + 1
                    if number is not None:
                        bucket = self.key_values.setdefault((key, scope), {})
                        bucket[number] = bucket.get(number, 0) + 1
        # Designations in product names a buyer may write for the SKU ("6204-2RS", "UCP204", "20x47x7"): a token
        # with digits and at least two letters, each run of letters a capital code or one letter ("3-phase" is a
        # word), of one product only ("M12", "A2-70" name several: not kept).
        named: dict[str, set[str]] = {}
        for p in products:
            for token in _NAME_TOKEN.findall(p.name):
                runs = re.findall(r"[A-Za-z]+", token)
                if len(token) >= 4 and sum(map(len, runs)) >= 2 and any(c.isdigit() for c in token) \
                        and all(r.isupper() or len(r) == 1 for r in runs):
                    named.setdefault(token.casefold(), set()).add(p.sku)
        self.designations = {t: next(iter(skus)) for t, skus in named.items() if len(skus) == 1}
        # The digit runs of product names ("6204" of "6204-2RS" and "6204-ZZ"): a number the buyer writes that is
        # not a quantity or a price and is one of these is a search term ("1000 bearings 6204").
        self.name_numbers = frozenset(run for p in products for run in re.findall(r"\d{3,}", p.name))
        # ... and of SKUs, with the name words of their products ("6205": bearing, ball, ...): "6205 bearings"
        # names a product, it is no quantity of bearings; "100 inductive sensors" is (PT100 is no sensor of those).
        sku_numbers: dict[str, set[str]] = {}
        for p in products:
            for run in re.findall(r"\d{3,}", p.sku):
                sku_numbers.setdefault(run, set()).update(_stems(p.name))
        self.sku_numbers = {run: frozenset(words) for run, words in sku_numbers.items()}
        # The words of each product's name (`_stems`): a buyer's "the bearings" names the line whose name has one.
        self.name_words = {p.sku: frozenset(_stems(p.name)) for p in products}
        self.name_stems = frozenset().union(*self.name_words.values())
        fields: list[str] = []
        for p in products:
            fields += [p.sku, p.name, p.description, p.category]
            fields += [_spec_str(v) for v in p.specs.values()]
        self.hay = "\x00".join(f.casefold() for f in fields)
        books = list(catalog.price_books.values()) if catalog is not None else []
        self.currencies = frozenset(b.currency for b in books)
        self.regions = frozenset(b.region for b in books)
        self.region_fold = {r.casefold(): r for r in sorted(self.regions)}
        by_cur: dict[str, set[str]] = {}
        for b in books:
            by_cur.setdefault(b.currency, set()).add(b.region)
        self.region_of_currency = {c: next(iter(r)) for c, r in by_cur.items() if len(r) == 1}

    def sku(self, token: str) -> str | None:
        if token in self.exact:
            return token
        return self.fold.get(token.casefold())


def _spec_number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, str) and len(value) <= 30:
        try:
            out = Decimal(value.strip())
        except (InvalidOperation, ValueError):
            return None
        return out if out.is_finite() else None
    return None


def _spec_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


_INDEXES: weakref.WeakKeyDictionary[Any, _Index] = weakref.WeakKeyDictionary()
_INDEX_LOCK = threading.Lock()
_EMPTY_INDEX = _Index(None)


def _index(catalog: Catalog | None) -> _Index:
    """The catalog's index, built on first use and kept as long as the catalog object lives."""
    if catalog is None:
        return _EMPTY_INDEX
    with _INDEX_LOCK:
        try:
            found = _INDEXES.get(catalog)
        except TypeError:  # not weak-referenceable or unhashable: build each time
            return _Index(catalog)
        if found is None:
            found = _Index(catalog)
            try:
                _INDEXES[catalog] = found
            except TypeError:
                pass
        return found


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
    else:
        return None, None
    value *= mult
    if value < 1:
        return None, f"quantity {value} dropped: must be at least 1"
    if value > MAX_QUANTITY:
        return None, f"quantity {value} dropped: above {MAX_QUANTITY:,}"
    return value, None


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


@dataclass
class _Price:
    value: Decimal
    currency: str | None
    start: int
    total: bool = False
    marked: bool = False  # by a currency mark or a per-unit marker, not only by a keyword


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
        self.masked = self.text
        self.mentions: list[_Mention] = []
        self.proposal_ref: str | None = None
        self.version_ref: int | None = None
        self.buyer_ref: str | None = None
        self.terms: str | None = None
        self.date: date | None = None
        self.discount: Decimal | None = None
        self.prices: list[_Price] = []
        self.bare_qty: list[tuple[int, int]] = []  # (quantity, position)
        self.offer_total_named = False  # the text names the current offer's total (`scan_offer_total`)
        self.specs: dict[str, str] = {}
        self.region: str | None = None
        self.region_known = False  # a destination was named (maybe outside every region)
        self.currency: str | None = None
        self.pending_specs: list[tuple[str, Decimal, str]] = []
        self.spec_words_used: set[str] = set()

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
                    if not re.search(r"[0-9]", token):
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
        spans = []
        found: list[tuple[int, str]] = []
        for m in _TERMS_NET.finditer(self.masked):
            spans.append(m.span())
            found.append((m.start(), self._net(m["n"])))
        for m in _TERMS_DAYS.finditer(self.masked):
            spans.append(m.span())
            found.append((m.start(), self._net(m["n"] or m["n2"])))
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

    def _net(self, raw: str) -> str:
        days = int(raw)
        if 1 <= days <= 365:
            return f"NET{days}"
        self.note(f"payment terms of {raw} days dropped: out of range")
        return ""

    def scan_dates(self) -> None:
        spans, found = [], []
        for m in _DATES.finditer(self.masked):
            before = self.masked[max(0, m.start() - 30):m.start()]
            value = self._date(m, bool(_DATE_TRIGGER.search(before)))
            if value is _SKIP:
                continue
            spans.append(m.span())
            if value is not None:
                found.append(value)
        self.blank(spans)
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
            if m["rn"]:
                if not trigger and not re.search(r"deliver|ship|arriv|need|within", m.group() + self.masked[
                        max(0, m.start() - 30):m.start()], _I):
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
            if not _PCT_CONTEXT.search(window):
                continue
            try:
                value = Decimal(m["n"].replace(",", "."))
            except InvalidOperation:
                continue
            if len(m["n"]) > 12 or value > 100 or value <= 0:
                self.note(f"asked discount {_clip(m['n'], 14)}% dropped: a discount is between 0 and 100%")
                continue
            if self.discount is None:
                self.discount = value
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

    def scan_offer_total(self) -> None:
        """The current offer's total named back ("1116 is too much, we can do 1000"): noted and blanked (it is
        neither a price asked nor a quantity), and the figures the buyer names besides it are totals too
        (`offer_total_named`)."""
        if not self.ctx.proposal_prices:
            return
        offer = list(zip(self.ctx.proposal_quantities, self.ctx.proposal_prices))
        total = Decimal(0)
        for q, p in offer:
            if not isinstance(q, int) or not isinstance(p, Decimal):
                return
            total += q * p
        if str(int(total)) not in self.masked.replace(",", "").replace(".", ""):
            return  # its digits are nowhere in the text (most messages): no number to look at
        spans = []
        for m in re.finditer(rf"{_NB}(?P<n>{_NUM}){_NE}", self.masked):
            value, _ = _price(m["n"])
            if value is not None and value == total and value > max(p for _, p in offer) \
                    and value not in {q for q, _ in offer} and not _AFTER_YEAR_UNIT.match(self.masked, m.end("n")):
                spans.append(m.span("n"))  # not a quantity that happens to equal it ("1000 units" of 1000 x 1.00)
        if spans:
            self.offer_total_named = True
            self.note(f"the offer's total {_fmt(total)} named")
            self.blank(spans)

    def scan_currency_prices(self) -> None:
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
        total = bool(_TOTAL_AFTER.match(self.masked, end) or _TOTAL_BEFORE.search(before))
        per = _PER_UNIT.match(self.masked, end)
        if self.offer_total_named and not per and not total and value > max(
                (p for p in self.ctx.proposal_prices if isinstance(p, Decimal)), default=value):
            total = True
            self.note(f"{_fmt(value)} read as a total (the offer's total is named)")
        if per:
            self.blank([(end, per.end())])
        elif not total and _BUDGET_BEFORE.search(before):
            offered = [p for p in self.ctx.proposal_prices if isinstance(p, Decimal)]
            if offered and value > max(offered):
                total = True
                self.note(f"budget {_fmt(value)} read as a total (above the offered unit "
                          f"price{'s' if len(offered) > 1 else ''})")
        self.prices.append(_Price(value, currency, start, total=total and not per, marked=marked or bool(per)))

    def bind_quantities(self) -> None:
        if not self.mentions:
            return
        used: set[int] = set()
        by_start = {m.start: m for m in self.mentions}
        passes = (_BIND_BEFORE, _BIND_QTY_KW, _BIND_AFTER, _BIND_AFTER_UNIT, _BIND_WEAK_BEFORE, _BIND_WEAK_AFTER)
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
        found = [m for m in _MONEY_SHAPED.finditer(self.masked) if not _AFTER_NOT_PRICE.match(self.masked, m.end())]
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

    def _quantity_not_price(self, raw: str, start: int, said: str, more: bool = False) -> bool:
        """A whole number the words leave open ("what about 1500?", "500 then") read as a quantity of the lines
        in context, when there are some and it cannot be a price asked for them: no unit price is offered, or it
        is above every offered one (a buyer does not counter above the offer), or the words ask for `more`
        ("another 10"); then noted and kept."""
        lines = [s for s in self.ctx.proposal_skus if isinstance(s, str) and s]
        if not lines:
            return False
        qty, _ = _quantity(raw)
        offered = [p for p in self.ctx.proposal_prices if isinstance(p, Decimal)]
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
        if m is not None and self._quantity_not_price(m["n"], m.start("n"), f"'{m['n']}'",
                                                      more=bool(_MORE_CUE.search(m.group()))):
            self.blank([m.span("n")])

    def _quantities_where(self, rx: re.Pattern[str], keep: Any = None) -> None:
        """The whole numbers (group "n") of `rx`'s matches that `keep(match)` allows, as bare quantities; blanked."""
        spans = []
        for m in rx.finditer(self.masked):
            qty, _ = _quantity(m["n"])
            if qty is not None and (keep is None or keep(m)):
                self.bare_qty.append((qty, m.start("n")))
                spans.append(m.span("n"))
        self.blank(spans)

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
            or _singular(m["w"].casefold()) not in self.idx.sku_numbers.get(m["n"].replace(",", ""), ())))
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
        _, _, name, region = found[0]
        self.region_known = True
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

    def collect_specs(self, category: str | None, words: set[str]) -> None:
        idx = self.idx
        for unit, value, op in self.pending_specs:
            keys = [k for k in idx.unit_keys.get(unit, []) if len(k) <= 64]
            if category is not None:
                keys = [k for k in keys if (k, category) in idx.key_count]
            if not keys:
                self.note(f"{_fmt(value)} {unit} is not a spec of the catalog{' ' + category if category else ''}")
                continue

            def rank(key: str) -> tuple[int, int, int, int, str]:
                explicit = all(w in words for w in idx.key_words.get(key, ())) and bool(idx.key_words.get(key))
                matches = idx.key_values.get((key, category), {}).get(value, 0)
                return (-int(explicit), -matches, -idx.key_count.get((key, category), 0),
                        len(idx.key_words.get(key, ())), key)

            key = min(keys, key=rank)
            if key in self.specs or len(self.specs) >= 20:
                continue
            if rank(key)[0]:
                self.spec_words_used.update(idx.key_words.get(key, ()))
            self.specs[key] = f"{op}{_fmt(value)}"
            self.note(f"spec {key} {op or '='} {_fmt(value)}")


_SKIP = object()


# --- the entry point ---------------------------------------------------------------------------


def understand(text: str, ctx: TextContext, today: date | None = None) -> BuyerIntent:
    """What a plain-text buyer message asks, as a `BuyerIntent` (source "offline"); never raises."""
    try:
        return _understand(text, ctx, today or date.today())
    except Exception as exc:  # noqa: BLE001 - the parser must be total; the caller then asks for structured data
        return BuyerIntent(kind="unknown", source="offline",
                           notes=[f"the offline parser could not read this message ({type(exc).__name__})"])


def _understand(text: str, ctx: TextContext, today: date) -> BuyerIntent:
    scan = _Scan(text, ctx, today)
    if not scan.text.strip():
        return _unknown(scan, "empty message")
    if _has_any(scan.text.casefold(), _INJECTION_KEYS) and _INJECTION.search(scan.text):
        scan.note("instruction-like phrases ignored: the message is read only as a buyer's request")
    scan.scan_catalog_skus()
    scan.scan_proposal_refs()
    scan.scan_buyer_ref()
    scan.scan_unknown_skus()
    scan.scan_terms()
    scan.scan_dates()
    scan.scan_years()
    scan.scan_volumes()
    scan.scan_percents()
    scan.scan_offer_total()
    scan.scan_currency_prices()
    scan.bind_quantities()
    scan.scan_quantity_before_price()
    scan.scan_spec_values()
    scan.scan_lone_quantity()
    scan.scan_keyword_prices()
    scan.scan_bare_quantities()
    scan.scan_money_shaped()
    scan.scan_places()
    scan.scan_currency_words()
    return _decide(scan)


def _unknown(scan: _Scan, why: str) -> BuyerIntent:
    scan.note(why)
    return BuyerIntent(kind="unknown", source="offline", notes=scan.notes)


_PROPOSAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}")


def _proposal(scan: _Scan) -> tuple[str | None, int | None]:
    ctx = scan.ctx
    pid = scan.proposal_ref or (ctx.proposal_id if isinstance(ctx.proposal_id, str) and ctx.proposal_id else None)
    if pid is None:
        return None, None
    if not _PROPOSAL_ID.fullmatch(pid):
        scan.note("the proposal id is not a valid id")
        return None, None
    if scan.version_ref is not None:
        return pid, scan.version_ref
    if pid == ctx.proposal_id and isinstance(ctx.proposal_version, int) and ctx.proposal_version >= 1:
        return pid, ctx.proposal_version
    return pid, None


def _proposal_lines(ctx: TextContext) -> list[tuple[str, int | None]]:
    skus = [s for s in ctx.proposal_skus if isinstance(s, str) and s]
    qtys = list(ctx.proposal_quantities)
    out = []
    for i, sku in enumerate(skus):
        q = qtys[i] if i < len(qtys) and isinstance(qtys[i], int) and 1 <= qtys[i] <= MAX_QUANTITY else None
        out.append((sku, q))
    return out


def _skus(mentions: list[_Mention]) -> list[str]:
    out: list[str] = []
    for m in mentions:
        if m.sku not in out:
            out.append(m.sku)
    return out


def _decide(scan: _Scan) -> BuyerIntent:
    ctx = scan.ctx
    low = scan.masked.casefold()
    words = set(_WORD.findall(low))
    pid, pver = _proposal(scan)
    prop_lines = _proposal_lines(ctx) if pid == ctx.proposal_id else []
    prop_skus = [s for s, _ in prop_lines]
    mentions = scan.mentions
    mention_skus = _skus(mentions)
    quantified = [m for m in mentions if m.qty]
    question_form = "?" in scan.text or bool(_QUESTION_START.search(low))

    # the category a catalog query would search (spec values are matched to keys only if it comes to that)
    category = None
    if scan.idx.cat_re is not None:
        cats = []
        for m in scan.idx.cat_re.finditer(scan.masked):
            cat = scan.idx.categories.get(re.sub(r"[\s\-]+", " ", m.group().casefold()))
            if cat is None:
                cat = scan.idx.categories.get(m.group().casefold())
            if cat is not None and cat not in cats:
                cats.append(cat)
        if cats:
            category = cats[0]
    spec_words = _expand_words(words)

    # accept / reject cues
    accept, negated, conditional = _accept_cues(low)
    reject = (_has_any(low, _REJECT_KEYS) and bool(_REJECT.search(low))) or negated
    money = bool(scan.prices) or scan.discount is not None

    if asks_midpoint(low) and not money and pid is not None and pid == ctx.proposal_id:
        return _midpoint_counter(scan, pid, pver, prop_skus)
    if accept and reject:
        return _unknown(scan, ACCEPT_AND_REJECT)
    if accept and not money and len(prop_lines) >= 2 and not _changes(quantified, prop_lines) and not conditional:
        part = _part_accepted(scan, prop_lines, low)
        if part is not None:  # never a deal on lines the buyer did not take: the lines taken are quoted first
            return part
    if accept and not money and not _changes(quantified, prop_lines):
        if conditional:
            return _unknown(scan, CONDITIONAL_ACCEPT)
        if scan.terms is not None:
            scan.note("acceptance names payment terms: please confirm the proposal's terms or send a counter-offer")
            return _question(scan, "terms", prop_skus or mention_skus)
        if pid is None:
            quoted = _topic_quote(scan, mention_skus)
            if quoted is not None:  # "go ahead" after a price answer: the proposal for what was asked about
                return quoted
            return _unknown(scan, NO_PROPOSAL_TO_ACCEPT)
        if pver is None:
            return _unknown(scan, f"acceptance of {pid}, but its version is not known; name it (e.g. {pid} v1)")
        if scan.date is not None:
            scan.note("a delivery date cannot be part of an acceptance; accepted as offered")
        scan.note(f"accept {pid} version {pver}")
        return _intent(scan, "accept", Accept(proposal_id=pid, version=pver))
    if reject and not money:
        if pid is None:
            return _unknown(scan, NO_PROPOSAL_TO_REJECT)
        reason = " ".join(scan.text.split())[:_REASON_CHARS] or None
        scan.note(f"reject {pid}")
        return _intent(scan, "reject", Reject(proposal_id=pid, reason=reason))
    if accept and money:
        scan.note("acceptance with new figures read as a counter-offer")
    if len(prop_lines) >= 2 and not money and not scan.bare_qty and _REMOVE.search(low):
        removed = _removed(scan, prop_lines)
        if removed is not None:
            return removed

    # money: prices or a discount
    if money:
        result = _money(scan, pid, pver, prop_lines, low)
        if result is not None:
            return result

    # questions (no prices); with quantities only when asked as a question
    topic_skus = mention_skus or prop_skus
    if not mention_skus and len(prop_skus) > 1 and (one := _line_named(scan, prop_skus, note=False)) is not None:
        topic_skus = [one]  # "what's the minimum order for the seals?" on bearings and seals
    if question_form or not quantified:
        if topic_skus and _COMPAT.search(low) and (len(mention_skus) >= 2 or question_form):
            return _question(scan, "compatibility", mention_skus if len(mention_skus) >= 2 else
                             _merge(mention_skus, prop_skus))
        if prop_skus and not quantified and not scan.bare_qty and _STATUS_Q.search(low) \
                and not _OBJECTION.search(low) and not _PRICE_Q.search(low):
            scan.note("asks where the request stands")
            return _question(scan, "status", prop_skus)
        if prop_skus and not quantified and not scan.bare_qty and _VALIDITY_Q.search(low):
            scan.note("asks how long the offer stands")
            return _question(scan, "terms", prop_skus)
        if _LEAD.search(low):
            _quantity_notes(scan, quantified)
            if scan.date is not None:
                scan.note(f"asks about delivery by {scan.date.isoformat()}")
            return _question(scan, "lead_time", topic_skus, quantity=_asked_quantity(scan, quantified, topic_skus))
        if topic_skus and _LIMITS_Q.search(low):
            return _question(scan, "order_limits", topic_skus)
        if topic_skus and _VOLUME_Q.search(low):
            _quantity_notes(scan, quantified)
            return _question(scan, "price", topic_skus, quantity=_asked_quantity(scan, quantified, topic_skus))
        if topic_skus and _AVAIL.search(low):
            _quantity_notes(scan, quantified)
            return _question(scan, "availability", topic_skus,
                             quantity=_asked_quantity(scan, quantified, topic_skus))
        if _TERMS_Q.search(low) or (scan.terms is not None and not quantified and not scan.bare_qty):
            if scan.terms is not None and pid is not None and pid == ctx.proposal_id and pver is not None \
                    and scan.terms != ctx.proposal_terms and not quantified and set(mention_skus) <= set(prop_skus):
                counter = _terms_counter(scan, pid, pver)
                if counter is not None:
                    return counter
            if scan.terms is not None:
                scan.note(f"asks for payment terms {scan.terms}")
            return _question(scan, "terms", topic_skus)
        if pid is None and _QUOTE_CUE.search(low) and (quoted := _topic_quote(scan, mention_skus)) is not None:
            return quoted  # "we'd like a quote" for the products named before, at the quantity named then
        if topic_skus and _PRICE_Q.search(low) and not quantified and not scan.bare_qty:
            scan.note("no quantity named" if mention_skus else "price question on the current proposal")
            return _question(scan, "price", topic_skus)
    # quantities without prices: a request for quotation
    if quantified or (prop_lines and scan.bare_qty and not mention_skus):
        result = _money(scan, pid, pver, prop_lines, low)
        if result is not None:
            return result
    spec = _spec_key(scan, spec_words, topic_skus) if topic_skus else None
    if spec is not None and (mention_skus or question_form):
        return _question(scan, "spec", topic_skus, spec=spec)
    if any(m.qty == 0 for m in mentions) and not quantified:
        return _unknown(scan, "no usable quantity: a quantity is a whole number from 1 to 10,000,000")
    if mention_skus and question_form and _PRICE_Q.search(low):  # "the price of BRG-6204 at 1000 units?"
        _quantity_notes(scan, quantified)
        return _question(scan, "price", mention_skus, quantity=_asked_quantity(scan, quantified, mention_skus))
    if mention_skus:
        if scan.date is not None and prop_lines:
            return _question(scan, "lead_time", topic_skus)
        if len(mention_skus) == 1:
            scan.note(f"product lookup {mention_skus[0]}")
            return _intent(scan, "catalog_query", CatalogQuery(sku=mention_skus[0]))
        return _question(scan, "other", mention_skus)
    if prop_skus and scan.date is not None:
        scan.note(f"asks about delivery by {scan.date.isoformat()}")
        return _question(scan, "lead_time", prop_skus)
    if prop_skus and not quantified and not scan.bare_qty and _PAUSE.search(low):
        scan.note("the buyer will come back to the offer; it stands")
        return _question(scan, "price", prop_skus)
    if prop_skus and _OBJECTION.search(low) and scan.name_words & scan.idx.name_stems <= scan.idx.words_of(prop_skus):
        # "ok for the bearings, but the seals are too expensive": the offer's own products, not a search
        scan.note("the buyer objects to the price without naming one")
        return _question(scan, "price", prop_skus)
    scan.collect_specs(category, spec_words)
    # "what's the price of the M8 screws?" with no SKU and no offer on them: the products the words name
    # "can you quote 2000 deep groove ball bearings 6204?": a quote for a quantity of the product the words name
    named_words = bool(not prop_skus and scan.name_words & scan.idx.name_stems)
    price_of_named = named_words and bool(_PRICE_Q.search(low))
    quote_named = named_words and len(scan.bare_qty) == 1 and bool(_QUOTE_CUE.search(low))
    catalog_cue = bool(_CATALOG.search(low)) or price_of_named or quote_named
    if category is not None or scan.specs or catalog_cue:
        query = _query_terms(scan, category)
        if (price_of_named or quote_named) and query and not scan.specs:
            best = best_match(search(ctx.catalog, query, category, limit=None), query)
            if best is not None:  # the one product the words name best: a quote, or its price (volume breaks)
                scan.note(f"'{query}' read as {best.sku} (the closest match)")
                qty = scan.bare_qty[0][0] if len(scan.bare_qty) == 1 else None
                if quote_named and qty:
                    return _rfq(scan, None, [], low, [_Mention(best.sku, 0, 0, True, qty)])
                return _question(scan, "price", [best.sku], quantity=qty)
        if category is not None or scan.specs or query or _CATALOG_BROWSE.search(low):
            if category is not None:
                scan.note(f"category {category}")
            if query:
                scan.note(f"search terms {query!r}")
            if category is None and not scan.specs and not query:
                scan.note("catalog browse")
            if scan.bare_qty:
                scan.note(f"quantity {scan.bare_qty[0][0]} noted; a quote needs a SKU")
            found = _intent(scan, "catalog_query", CatalogQuery(query=query, category=category,
                                                                specs=dict(scan.specs) or None))
            return found.model_copy(update={"quantity": scan.bare_qty[0][0]}) if len(scan.bare_qty) == 1 else found
    if prop_skus and _OBJECTION.search(low):
        scan.note("the buyer objects to the price without naming one")
        return _question(scan, "price", prop_skus)
    if prop_skus and _PRICE_Q.search(low):
        return _question(scan, "price", prop_skus)
    if spec is not None:
        return _question(scan, "spec", topic_skus, spec=spec)
    if scan.bare_qty:
        scan.note(f"quantity {scan.bare_qty[0][0]} named without a SKU")
        return _unknown(scan, NO_PRODUCT_NAMED)
    return _unknown(scan, "no request recognised")


def _accept_cues(low: str) -> tuple[bool, bool, bool]:
    """(accepted, negated acceptance, conditional acceptance) from the cue words."""
    accept = negated = conditional = False
    if not _has_any(low, _ACCEPT_KEYS):
        return False, False, False
    for m in _ACCEPT.finditer(low):
        before = low[max(0, m.start() - 40):m.start()]
        if _YOU_BEFORE.search(before):
            continue
        if _NEGATION_BEFORE.search(before):
            negated = True
            continue
        accept = True
        if _CONDITIONAL_AFTER.match(low, m.end()):
            conditional = True
    return accept, negated, conditional


def _changes(quantified: list[_Mention], prop_lines: list[tuple[str, int | None]]) -> bool:
    """Whether the text names items that differ from the current proposal."""
    if not quantified:
        return False
    current = dict(prop_lines)
    return any(m.sku not in current or (current[m.sku] is not None and m.qty != current[m.sku]) for m in quantified)


def _merge(first: list[str], second: list[str]) -> list[str]:
    out = list(first)
    for s in second:
        if s not in out:
            out.append(s)
    return out


def _quantity_notes(scan: _Scan, quantified: list[_Mention]) -> None:
    for m in quantified:
        scan.note(f"quantity {m.qty} x {m.sku}")
    if not quantified and scan.bare_qty:
        scan.note(f"quantity {scan.bare_qty[0][0]}")


def discount_items(ctx: TextContext, percent: Decimal, currency: str | None,
                   only: set[str] | None = None) -> tuple[list[CounterItem], list[str]] | None:
    """A percentage off the current offer as counter-offer lines, with a note per line saying how each price was
    reached: each line at its offered unit price (`ctx.proposal_prices`) less `percent`, rounded half up to the
    currency's minor unit; with `only`, just those products' lines, the others asked at their offered price
    (the offer stays whole). The buyer's ask in the seller's own figures; the text model's reading
    (agent/models/resilient.py) takes it from here too. None when the context lacks what it needs."""
    offer = _offer_lines(ctx, currency)
    if (offer is None or not percent.is_finite() or not 0 < percent < 100
            or (only is not None and not only <= {s for s, _, _ in offer})):
        return None
    share = (HUNDRED - percent) / HUNDRED
    asked = {i: round_money(offered * share, currency) for i, (sku, _, offered) in enumerate(offer[:MAX_ITEMS])
             if only is None or sku in only}
    return _asked_over_offer(offer, currency, asked, lambda line, price: (
        f"{_fmt(percent)}% off the offered {_fmt(line[2])} {currency} read as {_fmt(price)} for {line[0]} x {line[1]}"))


def total_items(ctx: TextContext, total: Decimal, currency: str | None) -> tuple[list[CounterItem], list[str]] | None:
    """A total for the whole current offer ("1000 EUR for the lot", "our budget is 900") as counter-offer lines:
    each line's offered unit price scaled by the total's share of the offer's total, rounded down to the
    currency's minor unit so the lines add up to no more than the total; a total at or above the offer's asks
    the offered prices. A note per line says how its price was reached. None when the context lacks the offer's
    prices or currency, or a line would be priced at nothing."""
    offer = _offer_lines(ctx, currency)
    if offer is None or not total.is_finite() or total <= 0:
        return None
    offered_total = sum((qty * offered for _, qty, offered in offer[:MAX_ITEMS]), Decimal(0))
    share = min(total / offered_total, Decimal(1))
    asked = {i: floor_money(offered * share, currency)  # type: ignore[arg-type]
             for i, (_, _, offered) in enumerate(offer[:MAX_ITEMS])}
    return _asked_over_offer(offer, currency, asked, lambda line, price: (
        f"total {_fmt(total)} {currency} for the offer's {_fmt(offered_total)} read as {_fmt(price)} for "
        f"{line[0]} x {line[1]} (offered {_fmt(line[2])})"))


def _asked_over_offer(offer: list[tuple[str, int, Decimal]], currency: str | None, asked: dict[int, Decimal],
                      how: Any) -> tuple[list[CounterItem], list[str]] | None:
    """The offer with the lines in `asked` (by position) at their asked price, each noted as `how(line, price)`
    says it was reached (`_over_offer`); None when a price comes to nothing."""
    if any(price <= 0 for price in asked.values()):
        return None
    return _over_offer(offer, currency, {i: (
        CounterItem(sku=offer[i][0], quantity=offer[i][1], unit_price=price),  # type: ignore[arg-type]
        how(offer[i], price)) for i, price in asked.items()})


def asks_midpoint(text: str) -> bool:
    """Does the text ask to split the difference? (The caller then gives the context the buyer's last asks.)"""
    return bool(_MIDPOINT.search(text))


def midpoint_items(ctx: TextContext, currency: str | None) -> tuple[list[CounterItem], list[str]] | None:
    """'Split the difference' on the current offer as counter-offer lines, a note per line: each line the buyer
    asked a lower price on at the midpoint of its offered unit price and that ask (`ctx.proposal_asks`),
    rounded half up to the currency's minor unit, the others at their offered price. None without the offer's
    prices or without an ask below them."""
    offer = _offer_lines(ctx, currency)
    if offer is None or len(ctx.proposal_asks) != len(offer):
        return None
    priced = {}
    for i, ((sku, qty, offered), ask) in enumerate(zip(offer[:MAX_ITEMS], ctx.proposal_asks)):
        if isinstance(ask, Decimal) and ask.is_finite() and 0 < ask < offered:
            asked = round_money((offered + ask) / 2, currency)
            priced[i] = (CounterItem(sku=sku, quantity=qty, unit_price=asked),  # type: ignore[arg-type]
                         f"the difference between the offered {_fmt(offered)} and your {_fmt(ask)} {currency} "
                         f"split: read as {_fmt(asked)} for {sku} x {qty}")
    return _over_offer(offer, currency, priced) if priced else None


def _offer_lines(ctx: TextContext, currency: str | None) -> list[tuple[str, int, Decimal]] | None:
    """The current offer's lines with their offered unit prices, what a percentage or a midpoint is taken from;
    None when the context lacks them or the currency."""
    lines = _proposal_lines(ctx)
    prices = [p for p in ctx.proposal_prices if isinstance(p, Decimal) and p.is_finite() and p > 0]
    if currency is None or not is_currency(currency) or not lines or len(prices) != len(lines) \
            or any(q is None for _, q in lines):
        return None
    return [(sku, qty, offered) for (sku, qty), offered in zip(lines, prices)]  # type: ignore[misc]


def _over_offer(offer: list[tuple[str, int, Decimal]], currency: str | None,
                priced: dict[int, tuple[CounterItem, str | None]]) -> tuple[list[CounterItem], list[str]]:
    """A counter-offer over the whole current offer, in its order: the lines in `priced` (by position) as given,
    with their notes; every other line asked at its offered price, noted as kept."""
    items, notes = [], []
    for i, (sku, qty, offered) in enumerate(offer[:MAX_ITEMS]):
        item, note = priced.get(i) or (CounterItem(sku=sku, quantity=qty, unit_price=offered),  # type: ignore[arg-type]
                                       f"{sku} x {qty} kept at the offered {_fmt(offered)} {currency}")
        items.append(item)
        if note:
            notes.append(note)
    return items, notes


def _line_named(scan: _Scan, skus: list[str], note: bool = True, words: set[str] | None = None) -> str | None:
    """The one proposal line whose product name has a word of the text (or of `words`: "3.00 for the bearings"
    on a proposal for bearings and seals), noted; None when no line's name, or more than one, has one. Words
    every line's name has ("hex", "box" on screws and nuts) name none of them."""
    words = scan.name_words if words is None else words
    names = [scan.idx.name_words[sku] for sku in skus if sku in scan.idx.name_words]
    common = frozenset.intersection(*names) if len(names) > 1 else frozenset()  # "hex", "box"
    hits = [(sku, sorted(words & (scan.idx.name_words[sku] - common))) for sku in skus if sku in scan.idx.name_words]
    hits = [(sku, shared) for sku, shared in hits if shared]
    if len(hits) != 1:
        return None
    sku, shared = hits[0]
    if note:
        scan.note(f"'{shared[0]}' read as {sku} (in its name)")
    return sku


_REMOVE = re.compile(r"\b(?:remove|drop|delete|take\s+(?:out|off)|leave\s+out|cancel|without|skip|no\s+more|"
                     r"except(?:\s+for)?|but\s+not|minus)\b")
# What a removal is of: the words after its cue, up to the next clause ("drop the seals and do 3.20 ...").
_CLAUSE_END = re.compile(r"[,.;:!?]|\band\b|\bbut\b|\bthen\b|\bplease\b", re.I)


def _line_removed(scan: _Scan, skus: list[str]) -> str | None:
    """The one line of several that the words after a removal cue name ("remove the seals", "drop the seals and
    do 3.20 for the bearings", "we accept, except the seals"), noted; None when there is no cue or it names no
    single line."""
    m = _REMOVE.search(scan.masked.casefold())
    if m is None or len(skus) < 2:
        return None
    end = _CLAUSE_END.search(scan.text, m.end())
    return _line_named(scan, skus, words=_stems(scan.text[m.end():end.start() if end else len(scan.text)]))


_WRITTEN_NUMBER = re.compile(r"[0-9][0-9.,]*k?", re.I)
_MORE_AFTER = re.compile(r"\s*(?:units?\s+|pcs\s+|pieces\s+|boxes\s+)?more\b", re.I)
_MORE_BEFORE = re.compile(rf"\b(?:{_MORE_WORDS})\s*$", re.I)


def _more(scan: _Scan, had: int | None, qty: int, start: int) -> int:
    """The quantity a line gets from a number at `start` in the text: `qty`, or added to what it `had` when the
    words say so ("40 more", "another 40", "an extra 40"), noted."""
    text = scan.text
    written = _WRITTEN_NUMBER.match(text, start)
    end = written.end() if written else start
    if had is None or not (_MORE_AFTER.match(text, end) or _MORE_BEFORE.search(text, 0, start)):
        return qty
    total = min(had + qty, MAX_QUANTITY)
    scan.note(f"{qty} more than the {had} before: {total}")
    return total


def _removed(scan: _Scan, prop_lines: list[tuple[str, int | None]]) -> BuyerIntent | None:
    """"Remove the seals" on an offer of several lines: an rfq for the others at their quantities, the one a product
    word names left out; None when no line, or more than one, is named (or a quantity is unknown)."""
    named = _line_removed(scan, [s for s, _ in prop_lines]) or _line_named(scan, [s for s, _ in prop_lines])
    rest = [(s, q) for s, q in prop_lines if s != named]
    if named is None or any(q is None for _, q in rest):
        return None
    scan.note(f"{named} left out; the other lines are kept")
    return _rfq(scan, None, [], "", [_Mention(s, 0, 0, True, q) for s, q in rest])


def _quantities_by_line(scan: _Scan, skus: list[str]) -> dict[str, tuple[int, int]] | None:
    """Several quantities on an offer of several lines, each before a word of one line's product name ("500
    bearings and 200 seals"): {sku: (quantity, position)}, noted; None unless each names a line of its own."""
    out: dict[str, tuple[int, int]] = {}
    for qty, pos in scan.bare_qty:
        m = _QTY_BEFORE_WORD.match(scan.text, pos)
        sku = _line_named(scan, skus, note=False, words={_singular(m["w"].casefold())}) if m else None
        if sku is None or sku in out:
            return None
        out[sku] = (qty, pos)
    scan.note("quantities read for the lines their product words name: "
              + ", ".join(f"{q} x {sku}" for sku, (q, _) in out.items()))
    return out


_WRITTEN_PRICE = re.compile(r"(?:US\$|[$€£])?\s?[0-9][0-9.,]*(?:\s?(?:€|\$|£|eur(?:os?)?\b|usd\b|gbp\b|chf\b))?", re.I)


def _prices_by_line(scan: _Scan, prices: list[_Price], skus: list[str]) -> dict[str, _Price] | None:
    """Several prices on an offer of several lines, each for the line a product word beside it names: the word
    after it with "for" ("3.20 for the bearings and 0.90 for the seals"), else the words since the price before
    it ("bearings 3.20, seals 0.90"); noted. None unless every price names a line of its own."""
    out: dict[str, _Price] = {}
    text = scan.text
    ends = []
    for p in prices:
        m = _WRITTEN_PRICE.match(text, p.start)
        ends.append(m.end() if m else p.start)
    for i, p in enumerate(prices):
        upto = prices[i + 1].start if i + 1 < len(prices) else len(text)
        after = _PRICE_FOR.match(text[ends[i]:upto].lstrip())
        words = _stems(after.group(1)) if after else _stems(text[ends[i - 1] if i else 0:p.start])
        sku = _line_named(scan, skus, note=False, words=words)
        if sku is None or sku in out:
            return None
        out[sku] = p
    for sku, p in out.items():
        scan.note(f"{_fmt(p.value)} read as the price of {sku} (a word of its name beside it)")
    return out


def _topic_quote(scan: _Scan, mention_skus: list[str]) -> BuyerIntent | None:
    """A quote asked, or a go-ahead given, with no proposal standing: an rfq for the products the buyer named last
    (`ctx.topic`) at the quantities named then, noted; None when the text names products itself or a quantity is
    not known."""
    ctx = scan.ctx
    lines = _proposal_lines(ctx) if ctx.topic else []
    if mention_skus or scan.bare_qty or not lines or any(q is None for _, q in lines):
        return None
    scan.note(f"a quote for {', '.join(f'{q} x {s}' for s, q in lines)}, named before")
    return _rfq(scan, None, [], "", [_Mention(s, 0, 0, True, q) for s, q in lines])


def _part_accepted(scan: _Scan, prop_lines: list[tuple[str, int | None]], low: str) -> BuyerIntent | None:
    """An acceptance of some of an offer's lines ("accept the bearings only", "we accept, except the seals"): an
    rfq for the lines taken, at their quantities (a new version the buyer can accept whole); None when the
    words name no single line, so the acceptance is of the whole offer."""
    skus = [s for s, _ in prop_lines]
    if _REMOVE.search(low):
        dropped = _line_removed(scan, skus)
        taken = [(s, q) for s, q in prop_lines if s != dropped] if dropped else []
    else:
        one = _line_named(scan, skus)
        taken = [(s, q) for s, q in prop_lines if s == one] if one else []
    if not taken or any(q is None for _, q in taken):
        return None
    scan.note(f"acceptance of {', '.join(s for s, _ in taken)} only: a proposal for "
              f"{'that line' if len(taken) == 1 else 'those lines'} first")
    return _rfq(scan, None, [], "", [_Mention(s, 0, 0, True, q) for s, q in taken])


def _added_product(scan: _Scan, skus: list[str]) -> str | None:
    """The product a quantity adds to the lines in context ("also add 40 of the matching cables"): named by a word
    that no line's name has and the name of exactly one product that goes with those lines has (the catalog's
    compatible and related products, not on the lines); noted. None otherwise."""
    words = scan.name_words - scan.idx.words_of(skus)
    if not words:
        return None
    around = [o for s in skus if (p := scan.ctx.catalog.products.get(s)) is not None
              for o in (*p.compatible, *p.related) if o not in skus]
    hits = [o for o in dict.fromkeys(around) if words & scan.idx.name_words.get(o, frozenset())]
    if len(hits) != 1:
        return None
    scan.note(f"{hits[0]} added: it goes with {', '.join(skus)} and its name has "
              f"'{sorted(words & scan.idx.name_words[hits[0]])[0]}'")
    return hits[0]


# "for (the) seals" after a price: the product words the price is for.
_PRICE_FOR = re.compile(r"\bfor\s+(?:the\s+|your\s+|these\s+|those\s+)?([a-z]{4,})\b", re.I)


def _other_product_named(scan: _Scan, skus: list[str]) -> str | None:
    """The word a price is "for" when it is a plural of a word of some catalog product's name and of no name on
    the offer ("0.80 for the seals" on an offer for bearings only); None otherwise ("3.00 for these", "for the
    bearings", "for the first 500": only a plural is taken for products)."""
    offer = scan.idx.words_of(skus)
    for m in _PRICE_FOR.finditer(scan.text):
        word = m.group(1)
        stem = _singular(word.casefold())
        if not word.casefold().endswith("s") or stem in _NAME_STOP or stem in offer:
            continue
        if stem in scan.idx.name_stems:
            return word
    return None


def with_offer_lines(ctx: TextContext, items: list[CounterItem], currency: str | None, without: str | None = None
                     ) -> tuple[list[CounterItem], list[str]]:
    """A counter-offer on some of the current offer's lines, completed with the others (but the line `without`,
    which the buyer removed) asked at their offered price, in the offer's order: a buyer who counters one line
    keeps the rest rather than dropping it. As given when the context lacks the offer's prices or an item is
    not on the offer."""
    offer = _offer_lines(ctx, currency)
    if offer is not None and without is not None:
        offer = [line for line in offer if line[0] != without]
    named = {it.sku: it for it in items}
    if offer is None or not set(named) <= {sku for sku, _, _ in offer} or len(named) != len(items):
        return items, []
    return _over_offer(offer, currency, {i: (named[sku], None) for i, (sku, _, _) in enumerate(offer[:MAX_ITEMS])
                                         if sku in named})


def _terms_counter(scan: _Scan, pid: str, pver: int) -> BuyerIntent | None:
    """Other payment terms asked on the current offer ("what about net 60?"): a counter-offer on those terms
    with every line at its offered price (the seller prices the terms); None without the offer's prices."""
    items, notes = with_offer_lines(scan.ctx, [], scan.ctx.currency)
    if not items:
        return None
    scan.note(f"asks for payment terms {scan.terms} on the offer")
    for note in notes:
        scan.note(note)
    return _intent(scan, "counter_offer", CounterOffer(proposal_id=pid, version=pver, items=items,
                                                       payment_terms=scan.terms))


def _midpoint_counter(scan: _Scan, pid: str, pver: int | None, prop_skus: list[str]) -> BuyerIntent:
    """'Split the difference' on the current offer: a counter-offer at the midpoints (`midpoint_items`), or,
    without a price of the buyer's to split from, a price question on the offer (which restates it)."""
    priced = midpoint_items(scan.ctx, scan.ctx.currency) if pver is not None else None
    if priced is None:
        scan.note("asks to split the difference, but no lower price of yours is on record for this offer")
        return _question(scan, "price", prop_skus)
    items, notes = priced
    for note in notes:
        scan.note(note)
    return _intent(scan, "counter_offer", CounterOffer(proposal_id=pid, version=pver, items=items,
                                                       payment_terms=scan.terms))


def _discount_counter(scan: _Scan, pid: str, pver: int | None, currency: str | None,
                      only: set[str] | None = None) -> BuyerIntent | None:
    """A percentage off the current offer (or `only` some of its products) as a counter-offer on it
    (`discount_items`); None when the context does not carry the offer's prices, its version or its currency,
    so the percentage stays a note."""
    if scan.discount is None or pver is None:
        return None
    priced = discount_items(scan.ctx, scan.discount, currency, only)
    if priced is None:
        return None
    items, notes = priced
    for note in notes:
        scan.note(note)
    if scan.date is not None:
        scan.note(f"delivery date {scan.date.isoformat()} cannot be part of a counter-offer")
    return _intent(scan, "counter_offer", CounterOffer(proposal_id=pid, version=pver, items=items,
                                                       payment_terms=scan.terms))


def _total_counter(scan: _Scan, total: Decimal, pid: str, pver: int | None, currency: str | None) -> BuyerIntent | None:
    """A total for the whole current offer as a counter-offer on it (`total_items`); None when the context does
    not carry what that needs."""
    priced = None if pver is None else total_items(scan.ctx, total, currency)
    if priced is None:
        return None
    items, notes = priced
    for note in notes:
        scan.note(note)
    return _intent(scan, "counter_offer", CounterOffer(proposal_id=pid, version=pver, items=items,
                                                       payment_terms=scan.terms))


def _intent(scan: _Scan, kind: str, message: Any, asked: list[CounterItem] | None = None) -> BuyerIntent:
    return BuyerIntent(kind=kind, message=message, asked_prices=asked or [], source="offline",  # type: ignore[arg-type]
                       notes=scan.notes)


def _question(scan: _Scan, topic: str, skus: list[str], spec: str | None = None,
              quantity: int | None = None) -> BuyerIntent:
    skus = [s for s in skus if s][:MAX_ITEMS]
    if quantity is None and len(skus) == 1:
        quantity = _topic_quantity(scan, skus[0])
    scan.note(f"{topic} question" + (f" about {', '.join(skus[:5])}" if skus else "") + (f" ({spec})" if spec else "")
              + (f" for {quantity} units" if quantity else ""))
    question = Question(topic=topic, skus=skus, spec=spec, quantity=quantity)  # type: ignore[arg-type]
    return BuyerIntent(kind="question", question=question, source="offline", notes=scan.notes)


def _topic_quantity(scan: _Scan, sku: str) -> int | None:
    """The quantity named before for the one product a question is about, when the message names neither ("about
    800 pcs" in the search that found it, then "what is your price?": asked for those 800; "lead time for
    BRG-6205?" names the product anew, and is asked for none); noted."""
    if not scan.ctx.topic or scan.mentions:
        return None
    quantity = dict(_proposal_lines(scan.ctx)).get(sku)
    if quantity is not None:
        scan.note(f"for {quantity} units, the quantity named before")
    return quantity


def _asked_quantity(scan: _Scan, quantified: list[_Mention], skus: list[str]) -> int | None:
    """The one quantity a lead-time or availability question on one product names ("lead time for 5000 x
    BRG-6205?", "can you ship 5000 units of BRG-6205?"); None for several products or quantities."""
    if len(set(skus)) != 1:
        return None
    found = {m.qty for m in quantified if m.qty} | {q for q, _ in scan.bare_qty}
    return found.pop() if len(found) == 1 else None


def _expand_words(words: set[str]) -> set[str]:
    out = set(words)
    for w in words:
        syn = _SPEC_SYNONYMS.get(w)
        if syn:
            out.update(syn.split())
        if w.endswith("s") and len(w) > 3:
            out.add(w[:-1])
    return out


def _spec_key(scan: _Scan, words: set[str], skus: list[str]) -> str | None:
    idx = scan.idx
    keys: list[str] = []
    for sku in skus:
        for k in idx.specs_of.get(sku, ()):
            if k not in keys:
                keys.append(k)
    if not keys and any(s not in idx.exact for s in skus):
        keys = sorted(idx.key_words)
    best: tuple[int, str] | None = None
    for k in keys:
        kw = idx.key_words.get(k) or tuple(k.casefold().split("_"))
        if kw and all(w in words for w in kw):
            cand = (-len(kw), k)
            if best is None or cand < best:
                best = cand
    return best[1] if best else None


def _query_terms(scan: _Scan, category: str | None) -> str | None:
    idx = scan.idx
    text = scan.masked
    if idx.cat_re is not None:
        text = idx.cat_re.sub(" ", text)
    terms: list[str] = []
    for m in _QUERY_WORD.finditer(text):
        word = m.group()
        low = word.casefold()
        if low in _STOPWORDS or (len(low) <= 2 and not re.search(r"[0-9]", low)) \
                or (low.isdigit() and low not in idx.name_numbers):
            continue
        if low in scan.spec_words_used:
            continue
        one = _singular(low) if low.isalpha() and len(low) > 3 else low  # "boxes" box, "stainless" stays
        if one != low and one in idx.hay:
            keep = word[:len(one)] if low.startswith(one) else one
        elif low in idx.hay:
            keep = word
        else:
            continue
        if keep.casefold() not in (t.casefold() for t in terms):
            terms.append(keep)
        if len(terms) >= 8:
            break
    query = " ".join(terms)[:200].strip()
    return query or None


def _rfq_fields(scan: _Scan) -> dict[str, Any]:
    ctx, idx = scan.ctx, scan.idx
    currency = scan.currency or (ctx.currency if isinstance(ctx.currency, str) else None)
    if currency is not None and not re.fullmatch(r"[A-Z]{3}", currency):
        currency = None
    if scan.region_known:
        region = scan.region
    elif isinstance(ctx.region, str) and ctx.region:
        region = ctx.region
    elif currency is not None and currency in idx.region_of_currency:
        region = idx.region_of_currency[currency]
        scan.note(f"region {region} from the currency {currency}")
    else:
        region = None
    if region is not None and not re.fullmatch(r"[A-Za-z0-9_\-]{1,16}", region):
        region = None
    return {"currency": currency, "region": region, "payment_terms": scan.terms, "delivery_date": scan.date,
            "buyer_reference": scan.buyer_ref[:200] if scan.buyer_ref else None}


def _rfq(scan: _Scan, pid: str | None, prop_lines: list[tuple[str, int | None]], low: str,
         quantified: list[_Mention], asked: dict[str, Decimal] | None = None) -> BuyerIntent | None:
    lines: list[tuple[str, int]] = []
    for m in quantified:
        if m.qty and m.sku not in (s for s, _ in lines):
            lines.append((m.sku, m.qty))
        elif m.qty:
            i = next(i for i, (s, _) in enumerate(lines) if s == m.sku)
            total = min(lines[i][1] + m.qty, MAX_QUANTITY)
            scan.note(f"{m.sku} named twice: quantities added ({total})")
            lines[i] = (m.sku, total)
    if not lines:
        return None
    if pid is not None and prop_lines and _ADD.search(low):
        extra = [(s, q) for s, q in prop_lines if q and s not in dict(lines)]
        if extra:
            scan.note("the current proposal's lines are kept: " + ", ".join(s for s, _ in extra))
            lines = extra + lines
    if len(lines) > MAX_ITEMS:
        scan.note(f"only the first {MAX_ITEMS} items are kept")
        lines = lines[:MAX_ITEMS]
    for sku, qty in lines:
        scan.note(f"item {sku} x {qty}")
    fields = _rfq_fields(scan)
    items = [RfqItem(sku=s, quantity=q) for s, q in lines]
    asked_items = []
    for sku, qty in lines:
        if asked and sku in asked:
            asked_items.append(CounterItem(sku=sku, quantity=qty, unit_price=asked[sku]))
            scan.note(f"asked price {_fmt(asked[sku])}{' ' + fields['currency'] if fields['currency'] else ''}"
                      f" for {sku}")
    if scan.discount is not None:
        scan.note(f"asked discount {_fmt(scan.discount)}% (to be priced against the quote)")
    for sku in _skus(scan.mentions):
        if sku not in dict(lines):
            scan.note(f"{sku} named without a quantity; left out")
    return _intent(scan, "rfq", Rfq(items=items, **fields), asked_items)


def _money(scan: _Scan, pid: str | None, pver: int | None, prop_lines: list[tuple[str, int | None]],
           low: str) -> BuyerIntent | None:
    ctx = scan.ctx
    mentions = scan.mentions
    dropped: str | None = None  # a line the buyer removes while pricing the others
    unit_prices = [p for p in scan.prices]
    # currency of the named prices vs the negotiation
    deal_currency = scan.currency or (ctx.currency if isinstance(ctx.currency, str) else None)
    kept: list[_Price] = []
    for p in unit_prices:
        if p.currency is not None and deal_currency is not None and p.currency != deal_currency:
            scan.note(f"price {_fmt(p.value)} {p.currency} dropped: the request is in {deal_currency}")
            continue
        kept.append(p)
    if pid is not None and pid == ctx.proposal_id and ctx.currency and scan.currency and scan.currency != ctx.currency:
        return _unknown(scan, f"prices named in {scan.currency}, but proposal {pid} is in {ctx.currency}")

    # the lines the prices are about
    lines: list[list[Any]] = []  # [sku, qty|None, price|None, start]
    prop = dict(prop_lines)
    if mentions:
        for m in mentions:
            if any(line[0] == m.sku for line in lines):
                line = next(line for line in lines if line[0] == m.sku)
                if m.qty and line[1] is None:
                    line[1] = m.qty
                continue
            qty = m.qty or None
            if qty is None and m.sku in prop:
                qty = prop[m.sku]
            lines.append([m.sku, qty, None, m.start])
        unq = [line for line in lines if line[1] is None]
        if len(unq) == 1 and len(scan.bare_qty) == 1:
            unq[0][1] = scan.bare_qty[0][0]
            scan.note(f"quantity {unq[0][1]} read as the quantity of {unq[0][0]}")
        elif not unq and len(scan.bare_qty) == 1 and not kept and pid is None:
            # "250 x BRG-6204 and 250 matching seals": a product that goes with the ones named, by a word of its name
            added = _added_product(scan, [line[0] for line in lines])
            if added is not None:
                lines.append([added, scan.bare_qty[0][0], None, scan.bare_qty[0][1]])
                scan.note(f"quantity {scan.bare_qty[0][0]} for {added}")
            else:
                scan.note(f"quantity {scan.bare_qty[0][0]} named for no product of the catalog that goes with "
                          f"{', '.join(line[0] for line in lines)}; left out")
        for p in kept:
            target = None
            for line in lines:
                if line[3] < p.start:
                    target = line
            if target is None:
                target = lines[0]
            if target[2] is not None:
                scan.note(f"another price {_fmt(p.value)} for {target[0]} ignored")
                continue
            target[2] = p
    elif prop_lines:
        lines = [[s, q, None, 0] for s, q in prop_lines]
        added = _added_product(scan, [s for s, _ in prop_lines]) if len(scan.bare_qty) == 1 and not kept else None
        if added is not None:  # "also add 40 of the matching cables": a line more, the others kept
            lines.append([added, scan.bare_qty[0][0], None, 0])
            scan.note(f"quantity {scan.bare_qty[0][0]} for {added}; the other lines are kept")
        elif len(lines) == 1 and scan.bare_qty:
            lines[0][1] = _more(scan, lines[0][1], *scan.bare_qty[0])
            scan.note(f"quantity {lines[0][1]} for {lines[0][0]}")
        elif len(scan.bare_qty) > 1 and not kept and (by_line := _quantities_by_line(scan, [line[0] for line in lines])):
            for line in lines:  # "500 bearings and 200 seals"
                if line[0] in by_line:
                    line[1] = _more(scan, line[1], *by_line[line[0]])
        elif len(scan.bare_qty) == 1 and not kept:  # "what about 100 of the screws?" on screws and nuts
            named = _line_named(scan, [s for s, _ in prop_lines])
            if named is None:
                scan.note(f"quantity {scan.bare_qty[0][0]} for one of {len(lines)} lines")
                return _unknown(scan, WHICH_LINE)
            for line in lines:
                if line[0] == named:
                    line[1] = _more(scan, line[1], *scan.bare_qty[0])
            scan.note(f"quantity {scan.bare_qty[0][0]} for {named}; the other lines are kept")
        if not kept and scan.discount is not None and len(lines) > 1 and not scan.bare_qty \
                and (one := _line_named(scan, [s for s, _ in prop_lines])) is not None:
            lines = [line for line in lines if line[0] == one]  # "10% on the bearings": that line's price only
        if kept and len(lines) > 1 and (dropped := _line_removed(scan, [s for s, _ in prop_lines])) is not None:
            lines = [line for line in lines if line[0] != dropped]  # "drop the seals and do 3.20 for the bearings"
            scan.note(f"{dropped} left out; the other lines are kept")
        if kept:
            other = _other_product_named(scan, [s for s, _ in prop_lines])
            if other is not None:  # "0.80 for the seals" on an offer for bearings only: which seals?
                scan.note(f"asked price {_fmt(kept[0].value)} for '{other}', which names no product on the offer")
                return _intent(scan, "catalog_query", CatalogQuery(query=_singular(other.casefold())))
            if len(lines) > 1 and len(kept) == 1 and kept[0].total and pid is not None and pid == ctx.proposal_id:
                counter = _total_counter(scan, kept[0].value, pid, pver, deal_currency)
                if counter is not None:  # "1000 for the lot" on screws and nuts: every line scaled alike
                    return counter
            if len(lines) == 1:
                lines[0][2] = kept[0]
                if len(kept) > 1:
                    scan.note("several prices named; the first is used")
            elif len(kept) > 1 and (by_line := _prices_by_line(scan, kept, [line[0] for line in lines])) is not None:
                lines = [line for line in lines if line[0] in by_line]  # the others are kept at their offered price
                for line in lines:
                    line[2] = by_line[line[0]]
            elif len(kept) == len(lines) and not scan.name_words & scan.idx.words_of([line[0] for line in lines]):
                for line, p in zip(lines, kept):  # no product word says otherwise
                    line[2] = p
                scan.note("prices read in the order of the proposal's lines")
            elif len(kept) == 1 and (named := _line_named(scan, [s for s, _ in prop_lines])) is not None:
                lines = [line for line in lines if line[0] == named]  # the others are kept at their offered price
                lines[0][2] = kept[0]
            else:
                for p in kept:
                    scan.note(f"asked price {_fmt(p.value)}")
                scan.note(f"{len(kept)} price(s) for {len(lines)} proposal lines: which line is which?")
                return _question(scan, "price", [s for s, _ in prop_lines])
    else:
        for p in kept:
            scan.note(f"asked price {_fmt(p.value)}" + (f" {p.currency}" if p.currency else ""))
        if scan.discount is not None and not kept:
            return _unknown(scan, "a discount was asked, but there is no proposal or product to apply it to")
        if kept:
            return _unknown(scan, "a price was named without a product or quantity")
        return None

    # totals become unit prices when the quantity is known
    for line in lines:
        p = line[2]
        if p is not None and p.total:
            if line[1]:
                money = p.currency or deal_currency
                unit = floor_money(p.value / line[1], money) if money and is_currency(money) else \
                    (p.value / line[1]).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)  # rounded down: within it
                unit = unit.normalize()
                scan.note(f"total {_fmt(p.value)} for {line[1]} x {line[0]} read as {_fmt(unit)} a unit")
                line[2] = _Price(unit, p.currency, p.start, marked=p.marked)
            else:
                scan.note(f"total {_fmt(p.value)} for {line[0]} dropped: no quantity to divide it by")
                line[2] = None

    priced = [line for line in lines if line[2] is not None and line[1]]
    on_proposal = pid is not None and pid == ctx.proposal_id and (
        not prop_lines or all(line[0] in prop for line in lines))
    if pid is not None and lines and all(line[2] is not None and line[1] for line in lines) and (
            on_proposal or pid != ctx.proposal_id):
        if pver is None:
            return _unknown(scan, f"a counter-offer on {pid} needs its version; name it (e.g. {pid} v1)")
        if len(lines) > MAX_ITEMS:
            scan.note(f"only the first {MAX_ITEMS} items are kept")
            lines = lines[:MAX_ITEMS]
        items = [CounterItem(sku=line[0], quantity=line[1], unit_price=line[2].value) for line in lines]
        offered = dict(zip(ctx.proposal_skus, ctx.proposal_prices)) if pid == ctx.proposal_id else {}
        if items and dropped is None and scan.terms is None and scan.discount is None and not _changes(
                [_Mention(it.sku, 0, 0, True, it.quantity) for it in items], prop_lines) \
                and all(offered.get(it.sku) == it.unit_price for it in items) \
                and ("?" in scan.text or _QUESTION_START.search(low)):
            scan.note("the offered price asked back: a question about the offer")  # "is 3.23 your final price?"
            return _question(scan, "price", [it.sku for it in items])
        for it in items:
            scan.note(f"counter {it.sku} x {it.quantity} at {_fmt(it.unit_price)}"
                      + (f" {deal_currency}" if deal_currency else ""))
        if pid == ctx.proposal_id:
            items, kept_notes = with_offer_lines(ctx, items, deal_currency, without=dropped)
            for note in kept_notes:
                scan.note(note)
        if scan.discount is not None:
            scan.note(f"asked discount {_fmt(scan.discount)}% besides the prices")
        if scan.date is not None:
            scan.note(f"delivery date {scan.date.isoformat()} cannot be part of a counter-offer")
        return _intent(scan, "counter_offer", CounterOffer(proposal_id=pid, version=pver, items=items,
                                                           payment_terms=scan.terms))
    quantified = [_Mention(line[0], line[3], line[3], True, line[1]) for line in lines if line[1]]
    if quantified:
        asked = {line[0]: line[2].value for line in priced}
        named = {line[0] for line in lines}
        if not asked and scan.discount is not None and pid is not None and pid == ctx.proposal_id \
                and not _changes(quantified, prop_lines) and named <= set(prop):
            counter = _discount_counter(scan, pid, pver, deal_currency, None if named == set(prop) else named)
            if counter is not None:
                return counter
            scan.note(f"asked discount {_fmt(scan.discount)}% on the current proposal")
            return _question(scan, "price", [line[0] for line in lines])
        result = _rfq(scan, pid, prop_lines, low, quantified, asked)
        if result is not None:
            return result
    skus = [line[0] for line in lines]
    for line in lines:
        if line[2] is not None:
            scan.note(f"asked price {_fmt(line[2].value)} for {line[0]}, but no quantity")
    if scan.discount is not None:
        scan.note(f"asked discount {_fmt(scan.discount)}%")
    return _question(scan, "price", skus)
