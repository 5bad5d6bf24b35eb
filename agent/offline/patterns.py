"""The offline parser's vocabulary: the regular expressions and word lists its scan and its decisions match
against, and how product words are made singular (`_singular`, `_stems`)."""

from __future__ import annotations

import re


# --- patterns ------------------------------------------------------------------------

_I = re.IGNORECASE
# A number as written: 500, 1,000, 1.000, 3.10, 3,10, 1.000,50, 1,000.50 (interpreted by context).
_NUM = r"[0-9](?:[0-9.,]*[0-9])?"
_NB = r"(?<![\w.,/\-])"                      # number start: not inside a word or another number
_NE = r"(?![\w]|[.,][0-9])"                 # number end
_UNITW = (r"(?:pcs|pc|pieces?|units?|items?|ea|nos|boxe?s|box|packs?|pkgs?|pairs?|pails?|rolls?|sets?|kits?"
          r"|cartons?|reels?|drums?|coils?|lengths?|metres?|meters?|mtrs?|m|kgs?|kilos?|st(?:ü|ue|u)ck|stk"
          r"|ct)\.?(?![\w])")
_MEASURE = (r"(?:mm2|mm|cm|kw|w|vdc|vac|v|volts?|ghz|mhz|khz|hz|rpm|bar|nm|kn|°c|ºc|deg\s?c|db|amps?|"
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
    r"\b(?:version|ver\.|revision|rev\.)\"?\s*[#:=]?\s*\"?(?P<v>[0-9]{1,12})\b|\bv(?P<v2>[0-9]{1,12})\b", _I)
_BUYER_REF = re.compile(
    r"(?:\b(?-i:PO)|\bp\.o\.|\bpurchase\s+order|\bour\s+ref(?:erence)?\.?|\bref(?:erence)?\.?|\brequisition)"
    r"\s*(?:no\.?|number|#|:)?\s*[:#]?\s*(?P<ref>[A-Za-z0-9][A-Za-z0-9_\-/]{0,63})(?![\w-])", _I)

_TERMS_NET = re.compile(r"\bnet\s*-?\s*(?P<n>[0-9]{1,6})(?![.,]?[0-9])(?:\s*days?\b)?", _I)
_TERMS_DAYS = re.compile(
    r"\b(?:payment|pay|paying|terms?|credit)\s+(?:in|within|at|of|after)\s+(?P<n>[0-9]{1,6})\s*days?\b"
    r"|\b(?P<n2>[0-9]{1,6})[-\s]days?\s+(?:payment|terms|credit|net)\b"
    r"|\b(?P<n3>[0-9]{1,6})\s*days?\s+to\s+pay\b", _I)  # "can we have 60 days to pay?"
_TERMS_PREPAY = re.compile(
    r"\bpre-?\s?pa(?:y|id|yment|ying)\b|\bpay(?:ment)?\s+(?:in\s+advance|up\s*front|before\s+(?:shipment|shipping"
    r"|delivery))\b|\b(?:cash|payment)\s+in\s+advance\b|\badvance\s+payment\b", _I)

# A cash discount for paying early ("a 2% early payment discount", "2% skonto", "2/10 net 30"): a payment term, not a
# price; its percentage is no discount off the unit price (`_Scan.scan_percents`). Prepayment is a term of its own
# (`_TERMS_PREPAY`): "2% for prepayment" stays a discount asked on PREPAY.
_CASH_DISCOUNT = re.compile(
    r"\b(?:early|prompt|quick|fast)[\s-]+(?:payment|pay|settlement)\b|\bcash\s+discount\b|\bskonto\b"
    r"|\bpa(?:y|ying|id|yment)\s+(?:early|promptly|within\s+[0-9]{1,3}\s*days?)\b", _I)
# "2/10 net 30": 2% off when paid within 10 days, else net 30 days; its "2/10" is neither a date nor a quantity.
_CASH_TERMS = re.compile(
    r"(?<![\w.,/])(?P<p>[0-9]{1,2}(?:[.,][0-9]{1,2})?)\s*%?\s*/\s*(?P<d>[0-9]{1,3})(?=\s*,?\s*net\s*-?\s*[0-9])", _I)

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
    r"|\b(?:within|in)\s+(?:a|one)\s+(?P<r1>week|fortnight)\b"
    # a day named relative to today ("delivered tomorrow", "need it by the day after tomorrow")
    r"|\b(?P<rel>(?:the\s+)?day\s+after\s+tomorrow|today|tomorrow)\b"
    rf"|\b(?:the\s+)?end\s+of\s+{_MON.replace('mon>', 'mon3>')}(?![\w])(?:,?\s+(?P<y3>[0-9]{{4}})\b)?"
    r"|\b(?:(?P<wnext>next|this|coming)\s+)?(?P<wd>mon|tue|wed|thu|fri|sat|sun)(?:day|sday|nesday|rsday|urday)?\.?"
    r"(?![\w-])", _I)
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Words that tie "today" or "tomorrow" to the delivery ("delivered tomorrow", "need it today", "ship them by
# tomorrow"): without them the day is said of something else ("send the quote today", "we decide tomorrow").
_REL_DAY_TRIGGER = re.compile(
    r"(?:\bby|\bbefore|\buntil|\btill|\bno\s+later\s+than|\bnot\s+later\s+than|\bdue|\beta|\barriv(?:e|es|ing|al)"
    r"|\bdeliver(?:ed|y|ies)?(?:\s+(?:on|by|for|date))?|\bship(?:ped|ping|ment)?(?:\s+(?:on|by|date))?"
    r"|\bdispatch(?:ed)?|\bon\s+site|\bin\s+(?:our|the)\s+(?:hands|warehouse|plant)"
    r"|\bneed(?:ed)?\s+(?:it|them|the\s+(?:goods|parts|order|delivery))(?:\s+(?:delivered|shipped|here|on\s+site))?"
    r"|\b(?:it|they|goods|parts|order)\s+(?:must|should|has\s+to|have\s+to|needs?\s+to)\s+(?:be\s+)?"
    r"(?:here|(?:delivered|shipped|arrive|on\s+site))(?:\s+by)?)\s*:?\s*$", _I)
# A period after the lines of an rfq ("500 x BRG-6204 in 2 weeks"): the delivery, unless a word before it in its
# sentence says it is of something else ("we will order 500 x BRG-6204 in 2 weeks", "call us back in 2 days").
_PERIOD_NOT_DELIVERY = re.compile(
    r"\b(?:order\w*|buy\w*|purchas\w*|decid\w*|decision|back|revert|call|talk|meet\w*|pay\w*|invoice\w*|valid"
    r"|quote\w*|offer\w*|proposal|answer|reply|respond|confirm\w*|review\w*|approv\w*|budget\w*)\b[^.;!?\n]*$", _I)
# Words before a date that tie it to the delivery; `_DATE_TRIGGER` adds "on" and "for", `_DELIVERY_TRIGGER` "ship".
_DUE_WORDS = (r"\bby|\bbefore|\buntil|\btill|\blatest|\bno\s+later\s+than|\bnot\s+later\s+than|\bdeliver(?:ed|y)?"
              r"(?:\s+(?:on|by|date|for))?|\bdue|\bneed(?:ed)?\s+(?:it\s+|them\s+)?by|\beta|\barrive")
_DATE_TRIGGER = re.compile(rf"(?:{_DUE_WORDS}|\bon|\bfor)\s*:?\s*$", _I)

_SLASH_TRIGGER = re.compile(r"(?:\bby|\bbefore|\buntil|\btill|\blatest|\bno\s+later\s+than|\bdue|\bdeliver(?:ed|y)?"
                            r"(?:\s+(?:on|by|date))?)\s*:?\s*$", _I)
# A date said of something else than the delivery ("Following our call on 12/11/2026", "Sent: 27.11.2026 14:05",
# "our email dated 3 June"): never the delivery date.
_NOT_DELIVERY_BEFORE = re.compile(
    r"\b(?:call|called|meeting|met|spoke|talked|conversation|discussion|discussed|e-?mail|mail|letter|message|sent"
    r"|dated|written|wrote|received|invoice[ds]?|visit|visited|since|signed|founded|established|registered)\b"
    r"[^.;!?\n]*$", _I)
_TIME_AFTER = re.compile(r"\s*(?:,\s*|at\s+)?[0-9]{1,2}[:h][0-9]{2}\b", _I)
# Words that tie a date to the delivery (not "on" or "for" alone, which other dates have too).
_DELIVERY_TRIGGER = re.compile(rf"(?:{_DUE_WORDS}|\bship(?:ped)?(?:\s+(?:on|by))?)\s*:?\s*$", _I)
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
# A bare number and words of the whole order after it ("1500 total", "1520 all in"): `_Scan.scan_bare_totals`.
_BARE_TOTAL = re.compile(rf"{_NB}(?P<n>{_NUM}){_NE}(?={_TOTAL_AFTER.pattern})", _I)
_TOTAL_BEFORE = re.compile(
    r"\b(?:total(?:\s+(?:price|cost|budget|amount|value|of|is))*|in\s+total|whole\s+order\s+for|all\s+in\s+for)"
    r"\s*[:=]?\s*(?:of\s+)?$", _I)

# A budget is what the whole order may cost: its figure, with no per-unit word, is a total when no offered unit
# price is as high (`_Scan._add_price`); "our budget is 3.10" on an offer at 3.40 stays a unit price.
_BUDGET_BEFORE = re.compile(r"\bbudget(?:\s+(?:is|was|of|at|would\s+be|will\s+be))?\s*[:=]?\s*(?:of\s+)?"
                            r"(?:(?:around|about|roughly|only|just)\s+)?$", _I)

# Money that is no price of the goods: a company's capital or turnover, an invoice, a balance ("ACME SAS, capital
# 1 000 000 EUR", "Invoice 2026-0042 of 1,250.00 EUR is still open"), read in the words before it, in its sentence.
_NOT_A_PRICE_BEFORE = re.compile(
    r"\b(?:capital|turnover|revenues?|invoiced?|invoices|invoicing|balance|outstanding|owed?|owing|debt"
    r"|credit\s+limit|insurance|valuation|funding|raised|salary|salaries|payroll|penalty"
    r"|market\s+cap|net\s+worth|profits?)\b[^.;!?\n]*$", _I)
# A price written with its currency mark as the decimal point ("3€10") and one in cents ("310 cents").
_PRICE_MARK_INSIDE = re.compile(r"(?<![\w.,])(?P<a>[0-9]{1,6})\s?(?P<c>€|\$|£)(?P<b>[0-9]{2})(?![\w]|[.,][0-9])")
_PRICE_CENTS = re.compile(rf"{_NB}(?P<n>{_NUM})\s?(?:cents?\b|¢|euro\s?cents?\b|ct\.?\s+(?=each\b|per\b|a\s+(?:piece|unit)\b))",
                          _I)

# A year after a word of time; not one with a unit or an "x" after it (a quantity).
_YEAR = re.compile(r"\b(?:for|in|until|till|thru|through|by|of|from|during|throughout|after|before|fy|year|"
                   r"calendar|fiscal|budget)\s+(?P<y>20\d\d)\b(?![.,]\d)", re.I)
_AFTER_YEAR_UNIT = re.compile(rf"\s*(?:{_UNITW}|x\b|\*)", re.I)

# ... or a count of something else ("we use it at 3 plants", "at 2 sites"): no price either
_COUNTED = (r"(?:plants?|sites?|locations?|factor(?:y|ies)|facilit(?:y|ies)|warehouses?|branch(?:es)?|stores?|shops?"
            r"|offices?|production\s+lines|shifts?|people|employees|engineers|customers|suppliers|vendors|times"
            r"|o'?clock|am|pm)(?![\w])")
_AFTER_NOT_PRICE = re.compile(rf"\s*(?:{_UNITW}|x\s|x$|\*|{_MEASURE}|{_COUNTED}|[x*]?\s*\x01)", _I)
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
# A cheap check before `_VOLUME`'s scan: a word of a period somewhere in the text.
_PERIOD_KEYS = ("year", "yr", "annum", "month", "/mo", " mo", "quarter", "qtr", "week", "wk", "day")
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
_BIND_WEAK_BEFORE = re.compile(rf"{_NB}(?P<n>{_NUM}k?){_NE}\s+(?P<s>\x01+)", _I)
# The layout of an order: the first SKU with a number right after it and none before it on its line ("BRG-6204 500",
# "* BRG-6204 x 500"): quantities are written after their SKUs (`_Scan.bind_quantities`).
_SKU_FIRST_AFTER = re.compile(rf"\x01*[ \t]*(?:[x*:=\-(][ \t]*|,?[ \t]*(?:qty|quantity|menge)\.?[ \t]*[:=]?[ \t]*)?"
                              rf"{_NUM}k?{_NE}(?!\s*(?:{_MEASURE}|{_CURWORD}))", _I)
_SKU_FIRST_BEFORE = re.compile(rf"[0-9]k?[ \t]*(?:[x*]|{_UNITW}|of\b)?[ \t]*(?:the\s+|your\s+|item\s+|sku\s+)?$", _I)
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
    # a comma may end the number ("make it 1000, thanks"); "2 more days" is none
    rf"(?![\w%]|[.,][0-9])(?!\s*(?:(?:more|extra|additional)\s+)?(?:{_CURWORD}|{_MEASURE}))", _I)
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
                   r"|go\s+with|say|maybe|perhaps|just|only|instead|please|pls|plz|try|for"
                   r"|quote(?:\s+(?:us|me))?(?:\s+for)?"
                   rf"|(?:we\s+need\s+)?(?:{_MORE_WORDS})")
_CARRIER_AFTER = (r"then|instead|please|pls|plz|maybe|perhaps|ok(?:ay)?|thanks|thank\s+you|thx|more"
                  r"|units?|pcs|pieces?|of\s+(?:them|those|these|it)")
_QTY_ALONE = re.compile(rf"\W*(?:(?:{_CARRIER_BEFORE})\b\W*)*{_WHOLE}(?:\W*\b(?:{_CARRIER_AFTER})\b)*\W*", _I)
_MORE_CUE = re.compile(rf"\b(?:more|{_MORE_WORDS})\b", _I)
# A whole number said to be more of what is on offer, anywhere in a message ("can you deliver by Friday, 500 more?",
# "another 500 by Friday"): not "plus" alone ("3.00 plus VAT"), nor a number of something else ("another 2 weeks",
# "3 more suppliers").
_MORE_QTY = re.compile(
    rf"\b(?:another|an?\s+(?:extra|additional)|extra|additional)\s+{_WHOLE}(?![\w%]|[.,][0-9])"
    rf"(?!\s*(?:{_CURWORD}|{_MEASURE}|{_COUNTED}))"
    rf"|(?<![\w.,/\-]){_WHOLE.replace('<n>', '<n2>')}\s+(?:(?:(?:units?|pcs|pieces?|boxes)\s+)?more|extra|additional)\b"
    rf"(?!\s+(?:{_MEASURE}|{_COUNTED}|things?|questions?|points?|rounds?|details?))", _I)
_QTY_BEFORE_WORD = re.compile(
    rf"(?<![\w.,/\-]){_WHOLE}\s+(?:more\s+)?(?:of\s+(?:the|your|those|these)\s+)?"
    r"(?:(?:matching|compatible|related|suitable|fitting|same)\s+)?(?:[A-Za-z]{1,3}[0-9]{1,3}\s+)?"  # "500 M8 hex nuts"
    r"(?P<w>[A-Za-z]{3,})\b")
_LIST_BEFORE = re.compile(r"(?:\band|&|,|/)\s*$", _I)
# Words of a price paid or offered before, in the clause before an amount ("our last price was 3.40", "we paid 2.80"):
# not the price asked now, when the message asks another (`_Scan.scan_money_shaped`)
_PAST_PRICE_BEFORE = re.compile(r"\b(?:last|previous|former|old|used\s+to\s+pay|paid|was|were|had\s+been)\b[^,;.!?\n]*$",
                                _I)
# ... or right after it ("3.10 was our budget, now 3.20 is ok")
_PAST_PRICE_AFTER = re.compile(r"\s*(?:was|were|had\s+been)\b", _I)
# Words of a price the buyer paid before, in the clause before an amount ("last year we paid 3.00", "we used to pay
# 2.90"): never the price asked now unless the message asks for it again (`_MATCH_ASK`: "can you do the same?").
# Not "last" alone: "our last offer: 2.95" is the buyer's price now.
_PAID_BEFORE = re.compile(r"\b(?:paid|used\s+to\s+pay|were\s+paying|last\s+(?:year|time|month|quarter|order)"
                          r"|previously)\b[^,;.!?\n]*$", _I)
# Words of a discount given before or turned down, in the clause before a percentage ("last year you gave us 5% off",
# "not with 5% off, full price is fine"): no discount asked now unless asked for again (`_MATCH_ASK`).
_DISCOUNT_NOT_ASKED_BEFORE = re.compile(
    r"\b(?:gave\s+us|used\s+to\s+get|got|last\s+(?:year|time|month|quarter|order)|previously|not\s+with|without"
    r"|no\s+need\s+(?:for|of)|(?:do\s+not|don'?t)\s+need)\b[^,;.!?\n]*$", _I)
# A price that is someone else's: a competitor's or the buyer's current supplier's ("Competitor X quoted us 2.90",
# "we pay 2.90 at our current supplier", "Vendor X is at 2.60"), said in the words before it in its clause or right
# after it (`_Scan.scan_competitor_prices`). "Elsewhere" only beside the price ("2.90 elsewhere"): "final offer 2.80,
# or we go elsewhere" is the buyer's own price and a threat.
_OTHERS = (r"competitor\w*|competition|competing|rival\w*|(?:an)?other\s+(?:suppliers?|vendors?|distributors?"
           r"|sellers?|sources?|manufacturers?|dealers?|quotes?|offers?)|(?:our|the|their)\s+(?:current|existing|usual"
           r"|present|regular|incumbent|previous|old)\s+(?:suppliers?|vendors?|distributors?|sources?|sellers?)"
           r"|(?:vendor|supplier|distributor|competitor)\s+(?!(?:and|or|but|at|is|was|are|for|to|in|on)\b)[a-z0-9]\w*"
           r"|market\s+price|amazon|alibaba")
_OTHERS_BEFORE = re.compile(
    rf"\b(?:{_OTHERS}|(?:we|i)\s+(?:currently|now|usually|normally|already)\s+(?:pay|buy|get)\w*"
    r"|(?:we|i)\s+have\s+been\s+(?:paying|buying|getting)|(?:they|others)\s+(?:offer|charge|quote|sell|give)\w*"
    # a name quoting ("X quoted 3.00", "Acme quoted us 2.90"): another's, never the buyer's or the seller's own
    r"|(?-i:(?!(?:We|I|You|Your|Our|My|It|This|That|Previously|Originally|Initially|Recently|Last|Once)\b)"
    r"[A-Z][\w&.-]*)"
    r"\s+(?:quoted|quotes|offered|offers|charged|charges)\b)"
    r"\b[^.;!?\n]*$|\belsewhere\s+(?:at|for|is|it'?s)?\s*$", _I)
_OTHERS_AFTER = re.compile(rf"(?:(?!\b(?:or|otherwise|else|but)\b)[^.;!?\n,]){{0,40}}?\b(?:{_OTHERS})\b"
                           r"|\s*(?:each\s+|a\s+unit\s+|per\s+unit\s+)?elsewhere\b", _I)
# Where a clause starts, before a price: another supplier's words before it are read within it ("Competitor X quoted
# 3.00 but we want 2.80": 2.80 is the buyer's).
_CLAUSE_BREAK = re.compile(r"[.;:!?\n,]|\b(?:but|however|yet|so|now|instead|whereas|while|and\s+(?:we|i))\b", _I)
# The buyer's own price words right before a price ("final offer: 2.80", "we can pay 2.90", "our target is 2.90").
_OWN_PRICE_BEFORE = re.compile(
    r"\b(?:(?:our|my)\s+(?:final\s+|best\s+|last\s+|new\s+)?(?:offer|price|target|budget|counter(?:-offer)?)"
    r"|final\s+offer|(?:we|i)\s+(?:can|could|would|will|'d|'ll)\s+(?:pay|do|offer|accept|go)|target(?:\s+price)?"
    r"|(?:can|could|would|will)\s+you\s+do)\b[^.;!?\n]{0,15}$", _I)
# Words that ask the seller to meet or beat another's price ("can you beat it?", "please match", "what can you do?"):
# that price is then the buyer's ask.
_MATCH_ASK = re.compile(
    r"\b(?:beat|beating|match|matching|meet|equal|undercut|better|improve|lower|below|under|same|go\s+down"
    r"|(?:can|could|would|will)\s+you\s+do|do\s+(?:it|that|the\s+same)|price\s+match|counter)\b", _I)
# A remark on a price in the past tense, right after it ("3.40 was too much though", "the 3.40 before was too high"):
# how the buyer found an earlier price, no price asked (`_Scan.scan_price_remarks`). Not "2.95 was our offer".
_PAST_REMARK_AFTER = re.compile(
    r"\s*(?:(?:before|earlier|previously|last\s+time|you\s+(?:quoted|offered))\s+)?(?:was|were)\s+"
    r"(?:(?:way|far|much|a\s+bit|a\s+little|slightly|rather|quite|really|just)\s+)?"
    r"(?:too\s+(?:much|high|steep|expensive|pricey|costly)|high|steep|expensive|pricey|costly|a\s+lot|a\s+bit\s+much"
    r"|over\s+(?:our\s+|the\s+)?budget)\b(?:\s+for\s+(?:us|me|our\s+budget))?"
    r"(?:\s*,?\s*(?:though|tbh|honestly|anyway))?", _I)
# ... the price opening its clause: after a clause break, a "but" or "though", a "please note", an article and the
# offer it was ("the first offer 3.40 was too much") at most
_REMARK_BEFORE = re.compile(
    r"[,.;:!?\n]\s*(?:(?:but|though|although|however|and)\s+)?(?:(?:please\s+)?note(?:\s+that)?\s+|fyi,?\s+"
    r"|honestly,?\s+|frankly,?\s+|admittedly,?\s+)?(?:(?:the|your|that|this|those)\s+)?"
    r"(?:(?:first|previous|last|earlier|old|original|initial)\s+)?(?:(?:offer|price|quote)\s+(?:of\s+)?)?$", _I)
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
                        r"|site\s+in|plant\s+in|warehouse\s+in|in)\s*:?\s*(?:our\s+\w+\s+in\s+)?(?:the\s+)?$", _I)

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
# What an acceptance word's object may not be: something else the buyer accepts or agrees to ("we accept payment by
# card only", "our dock accepts pallets only", "we agree to disagree", "we agree to receive the goods in Lyon").
_NOT_THE_OFFER = (r"(?:\s+(?:only|payments?|paying|cards?|credit|cash|cheques?|checks|visa|paypal|bank|wire|deliver\w*"
                  r"|pallets?|goods|returns?|shipments?|parcels?|invoices?|quotes|bids|offers\s+(?:from|only)|cookies"
                  r"|responsibility|liability|risk|no\b|all\s+major|partial|backorders?|substitutes?|alternatives?"
                  r"|(?:the|your|our)\s+(?:payment|card|deliver\w*|pallets?|goods|returns?|risk|invitation|challenge"
                  r"|receipt|invoice))\b|')")
_ACCEPT = re.compile(
    rf"(?<!')\baccept(?:ed|ing|s)?\b(?!{_NOT_THE_OFFER})"
    r"|\bagreed?\b(?!\s+to\s+(?!(?:the|your|this|that|these|those|it|them|our|all|everything|both|proposal|offer|price"
    r"|prices|terms|version|v|p)\b|[\x01-\x03]|[0-9]))"
    r"|\b(?:it'?s|that'?s|that\s+is|it\s+is|we\s+have|we'?ve\s+got|you\s+have|you'?ve\s+got)\s+(?:a\s+)?deal\b"
    r"|\bdeal\s*(?:[.!]+|$)|^\W*(?:ok(?:ay)?|fine|great|perfect|good|yes|alright|then)?\W*deal\b(?!\s*\?)(?![\s-]*break)"
    r"|\b(?:we|i)(?:'ll|\s+will|'d\s+like\s+to|\s+would\s+like\s+to|\s+can|\s+shall)?\s+take\s+(?:it|this|that|"
    r"the\s+offer|your\s+offer|them|the\s+proposal)\b"
    # "we'll take it to the board / into consideration / up with my manager / under advisement": no acceptance
    r"(?!\s+(?:to|into|up|from|under|over|back|away|out|off|easy|on|in|with|as|seriously|further|forward|home|apart)\b)"
    # "go ahead and send me a better offer", "go ahead, tell me the lead time": another request, no acceptance
    r"|\bgo\s+ahead\b(?!\s*(?:,\s*|and\s+|to\s+|&\s*)(?:please\s+)?(?:send|quote|re-?quote|check|tell|give|surprise"
    r"|show|e-?mail|mail|call|update|revise|look|find|ask|provide|prepare|make|share|let\s+me|try|see|get|reserve"
    r"|hold|compare|review|calculate|recalculate|work|run|price|offer|explain|come\s+up|sharpen|improve)\b)"
    r"|\blet'?s\s+(?:do\s+it|do\s+this|close|go\s+ahead|finali[sz]e|go\s+with\s+(?:it|that|this)"
    r"|proceed(?!\s+(?:with|to)\s+(?!(?:the\s+|your\s+|this\s+|that\s+)?(?:offer|proposal|order|deal|purchase|quote)\b)))"
    r"|\b(?:we|i)(?:'ll|\s+will)?\s+go\s+with\s+(?:it|that|this|the\s+offer|your\s+offer|the\s+proposal|proposal)\b"
    r"|\b(?:we|i)(?:'ll|\s+will)?\s+go\s+with\s*[.!]*\s*$"  # "we'll go with version 1" (the reference read apart)
    r"|\bsounds\s+good\b|\bworks\s+for\s+(?:us|me)\b|\bplace\s+the\s+order\b"
    # "we confirm receipt", "we confirm we received the offer": no acceptance
    r"|(?:\b(?:we|i)\s+confirm|^\W*confirmed)\b(?!\s+(?:that\s+)?(?:the\s+|your\s+|our\s+)?(?:receipt|reception"
    r"|receiving|received|we|i|you)\b)"
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
# Doubt about an acceptance (`_accept_cues`): words that make acceptance words no acceptance. A reading it is not
# sure of is never a deal: the offer stands, or the rest of the message is answered.
# ... before the cue, in its clause: a condition or a time to come ("before we accept", "if ok we accept", "once
# approved"), a hedge or a hypothesis ("we would accept", "we might", "we hope to accept"), someone else deciding
# ("our manager will accept", "finance has to agree")
_DOUBT_BEFORE = re.compile(
    r"\b(?:before|if|once|when|whenever|after|unless|until|till|whether|maybe|perhaps|probably|possibly|likely"
    r"|might|may|could|should|would(?!\s+like\b)(?!\s+be\s+(?:glad|happy|pleased|delighted)\s+to\s*$)"
    r"|'d(?!\s+like\b)(?!\s+be\s+(?:glad|happy|pleased|delighted)\s+to\s*$)|hope|hoping|plan|planning|intend|expect"
    r"|want(?!\s+to\s*$)|wish|said|says|say|wrote|write|written|typed|accidentally|mistakenly|mistake|policy|rule"
    r"|going\s+to|about\s+to|need\s+to|needs\s+to|has\s+to|have\s+to|ok\s+to|okay\s+to|able\s+to"
    r"|manager|boss|director|management|finance|board|ceo|cfo|legal|colleagues?|he|she|they|someone|somebody"
    r"|do\s+we|can\s+we|shall\s+we|should\s+we|did\s+we)\b[^.;!?\n]*$")
# ... after it, in its sentence: a question on it, a "but", a "not yet", a time to come
_DOUBT_AFTER = re.compile(
    r"[^.;!\n]*?(?:\?|\b(?:but|however|though|although|except|excluding|apart\s+from|yet|still|not|n't|later"
    r"|tomorrow|soon|eventually|first|once|when|after|before|until|probably|maybe|perhaps"
    r"|next\s+(?:week|month|year|quarter|time)|pending|subject\s+to|revert|check|checking|consult\w*|consideration"
    r"|advisement|evaluat\w*|board|approv\w*|sign-?off|get\s+back|come\s+back|receipt|received|disagree|ignore"
    r"|kidding|joking)\b)")
# "we accept, when will it ship?": a plain question after a clear acceptance does not make it conditional
_ACCEPT_THEN_QUESTION = re.compile(
    r"\s*(?:(?:the|your|this)\s+(?:offer|proposal|quote|quotation)\s*)?,\s*(?:when|how\s+soon|how\s+long"
    r"|what\s+(?:is|'s)\s+the\s+(?:lead\s+time|eta|delivery\s+date)|(?:can|could)\s+you\s+(?:send|confirm)"
    r"|please\s+(?:send|confirm))\b[^.;!\n]*\?\s*$")
# "we accept, but please ship by Friday": an acceptance with a delivery condition, not taken (CONDITIONAL_ACCEPT)
_BUT_DELIVERY = re.compile(
    r"[^.;!?\n]{0,40}?\bbut\s+(?!not\b)(?:[a-z']+\s+){0,3}?(?:ship\w*|deliver\w*|arriv\w*|dispatch\w*|by|before"
    r"|within|no\s+later)\b")
# "I agree to the terms and the price": both parts are the whole offer
_WHOLE_OFFER_AFTER = re.compile(
    r"[^.;!?\n]*?\b(?:terms|conditions)\s+and\s+(?:the\s+)?(?:price|prices|pricing)\b"
    r"|[^.;!?\n]*?\b(?:price|prices|pricing)\s+and\s+(?:the\s+)?(?:terms|conditions)\b")
# ... or the cue's object is a part of the offer, not the offer ("we accept the terms", "agreed on the lead time")
_PART_AFTER = re.compile(
    r"\s*(?:with|on|to)?\s*(?:the|your|our|these|those|this|that|its)?\s*(?:proposed\s+|offered\s+|new\s+)?"
    r"(?:payment\s+terms|terms|conditions|lead[\s-]?times?|delivery(?:\s+(?:date|time|terms))?|dates?|quantit(?:y|ies)"
    r"|specs?|specifications?|warranty|shipping|freight|incoterms?|validity|volumes?)\b")
# ... anywhere in the message: a hedge, or an objection to the price
_DOUBT_ANYWHERE = re.compile(
    r"\b(?:probably|maybe|perhaps|possibly|i\s+think|i\s+guess|not\s+sure|not\s+yet|likely)\b"
    r"|\btoo\s+(?:expensive|high|pricey|much|steep|costly|long|late|slow)\b|\boverpriced\b|\bexpensive\b"
    r"|\b(?:over|above)\s+(?:our|the)\s+budget\b|\bcheaper\b"
    # a deferral, a retraction or a joke anywhere ("sounds good. Will revert next week.", "we accept... NOT")
    r"|\brevert\b|\b(?:get|come)\s+back\s+to\b|\bcheck\s+with\b|\bpending\b|\bignore\s+(?:it|that|this|my)\b"
    r"|\bkidding\b|\bjoking\b|\.\.+\s*not\b|\bnot!")
# A negated acceptance that only waits or objects to a part ("don't accept yet", "can't agree to this price", "we
# cannot accept these terms"): no rejection, which must be clear.
_NOT_YET = re.compile(
    r"\b(?:yet|still|for\s+now|at\s+the\s+moment|right\s+now|now|today|until|till|before|unless|without|first"
    r"|checking|check|approval|approve[sd]?)\b"
    r"|\b(?:this|that|the|your|these|those)\s+(?:price|prices|pricing|terms|conditions|lead[\s-]?time|delivery"
    r"|date|quantity)\b")
# "No thanks" that declines a suggestion or thanks for something ("no thanks to the grease, just the bearings",
# "no, thank you for the quick answer! what about 1000 pcs?"): no rejection of the offer.
_SOFT_REJECT = re.compile(r"\bno,?\s+thank(?:s|\s+you)\b|\bno\s+thx\b")
_SOFT_REJECT_NOT = re.compile(r"\s*(?:to|for|on|but|about|regarding)\b|[^.;!?\n]*\b(?:just|only|instead)\b"
                              r"|[^.;!?\n]*\b(?:good|fine|happy|ok(?:ay)?)\s+with\b")  # "no thanks, we're good with 500"
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
# "Is that your best?", "best and final?": the offer's price questioned without a figure or the word "price".
_BEST_Q = re.compile(
    r"\b(?:is|was)\s+(?:that|this|it)\s+(?:really\s+)?(?:your|the)\s+(?:very\s+)?(?:best|lowest|final|last|bottom)\b"
    r"(?!\s+(?:regards|wishes|way|option|time|date|delivery|lead|one|choice|model|product|bearing|version)\b)"
    r"|\bbest\s+and\s+final\b|^\W*(?:your\s+)?(?:best|final|lowest)\W*\?\W*$"
    r"|\bis\s+(?:that|this)\s+as\s+(?:low|good)\s+as\s+(?:it\s+gets|you\s+(?:can\s+)?go)\b")
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
    r"|\bdo\s+(?:any\s+|a\s+(?:bit|little)\s+)?better\b"
    r"|\bimprove\s+(?:on\s+)?(?:your|the|that|this)\s+(?:price|offer)\b"
    r"|\bsharper\s+price\b|" + _BEST_Q.pattern)
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
# Whether the seller delivers to a place ("do you deliver to Lyon?", "can you ship into Germany?", "do you serve
# Texas?"), with the place read apart (`_Scan.scan_places`).
_DELIVERY_PLACE_Q = re.compile(
    r"\b(?:deliver\w*|ship\w*|dispatch\w*|export\w*|transport\w*|send(?!\s+(?:\w+\s+){0,2}?(?:quotes?|quotations?"
    r"|offers?|proposals?|invoices?|documents?|docs|details|info\w*|e-?mails?|pdfs?|prices?|pricing|contracts?"
    r"|confirmations?|samples?)\b))\b"
    r"(?:\s+[\w\x01]+){0,3}?\s+(?:to|into|in|within|inside|throughout|at)\b"
    r"|\bserve\b|\bdelivery\s+(?:to|in|into)\b")
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
    r"|\bpay\s+(?:by|with|via)\b"
    # a cash discount for paying early ("a 2% early payment discount"): a payment term
    r"|" + _CASH_DISCOUNT.pattern)
# How long an offer stands ("how long is this offer valid?", "can you hold the price until Friday?"): answered
# with the offer and its terms, validity included (before a lead-time cue reads "how long" as delivery).
_VALIDITY_Q = re.compile(
    r"\bvalid(?:ity)?\b|\bexpir(?:e|es|y|ation|ing)\b"
    r"|\bhold\s+(?:this|the|that|your)\s+(?:price|offer|quote|proposal)\b"
    r"|\bhow\s+long\s+(?:is|does|will|do)\s+(?:this|the|that|your)\s+(?:offer|quote|proposal|price)\b")
# Who or what answers ("are you a bot?", "is this a human?", "who am I talking to?", "can I speak to a person?"): an
# AI disclosure is owed (agent/playbook.py's IDENTITY).
_BEING = (r"(?:an?\s+)?(?:real\s+|actual\s+|live\s+)?(?:bot|robot|chat\s*bot|ai|a\.i\.?|human(?:\s+being)?|person|machine"
          r"|computer|program|software|llm|language\s+model|automated(?:\s+\w+)?|automatic|artificial(?:\s+intelligence)?"
          r"|people|someone|somebody|agent)")
_IDENTITY_Q = re.compile(
    rf"\b(?:are|r)\s+(?:you|u)\s+(?:(?:just|really|actually)\s+)?{_BEING}\b"
    rf"|\b(?:is|was)\s+(?:this|it|that)\s+(?:(?:just|really|actually)\s+)?{_BEING}\b"
    rf"|\b(?:am|are)\s+(?:i|we)\s+(?:talking|speaking|chatting|dealing|writing|negotiating|corresponding)\s+(?:to|with)\s+"
    rf"{_BEING}\b"
    r"|\bwho\s+(?:am\s+i|are\s+we|is\s+(?:this|it))\s+(?:talking|speaking|chatting|dealing|writing|negotiating)\b"
    r"|\bwho\s+(?:are\s+you|is\s+this|am\s+i\s+talking\s+to|is\s+(?:on\s+the\s+other\s+end|answering))\b"
    r"|^\W*what\s+are\s+you\W*$"
    r"|\b(?:is|are)\s+(?:there\s+)?(?:a\s+)?(?:human|person|people|someone|somebody|anyone|anybody)\s+"
    r"(?:(?:actually|really)\s+)?(?:reading|there|behind|involved|on\s+the\s+other\s+end|in\s+the\s+loop|reviewing"
    r"|answering|replying|writing)\b"
    r"|\b(?:talk|speak|chat)\s+(?:to|with)\s+(?:an?\s+)?(?:real\s+|actual\s+|live\s+)?(?:human|person|people"
    r"|human\s+being|someone\s+real|a\s+human)\b"
    r"|\b(?:human|person)\s+or\s+(?:an?\s+)?(?:bot|ai|machine|robot)\b|\b(?:bot|ai|machine|robot)\s+or\s+(?:an?\s+)?"
    r"(?:human|person)\b")
# The currency prices are in ("what is your price in USD?", "can you quote in dollars?", "which currency?"): the
# currency named is read apart (`_CURRENCY_NAMED`).
_CURRENCY_NAMED = re.compile(
    r"\b(?P<usd>us\s*dollars?|usd|dollars?|us\$)|(?P<eur>euros?|eur)\b|\b(?P<gbp>gbp|(?:pounds?\s+)?sterling|british"
    r"\s+pounds?)\b|\b(?P<chf>chf|swiss\s+francs?)\b|\b(?P<jpy>jpy|yen)\b|\b(?P<cny>cny|rmb|yuan|renminbi)\b"
    r"|\b(?P<cad>cad|canadian\s+dollars?)\b|\b(?P<aud>aud|australian\s+dollars?)\b|\b(?P<sek>sek)\b|\b(?P<pln>pln"
    r"|zloty)\b|\b(?P<inr>inr|rupees?)\b", _I)
_CURRENCY_Q = re.compile(
    r"\bcurrenc(?:y|ies)\b|\bconver(?:t|ted|sion)\b|\bexchange\s+rates?\b"
    r"|\b(?:in|into|to)\s+(?:us\s*dollars?|usd|dollars?|euros?|eur|gbp|sterling|british\s+pounds?|chf|swiss\s+francs?"
    r"|jpy|yen|cny|rmb|yuan|cad|aud|sek|pln|zloty|inr|rupees?|canadian\s+dollars?|australian\s+dollars?)\b", _I)
# The form an offer comes in ("please send the quote as PDF", "can we get it in Excel?", "email us a formal quote").
_FORMAT_Q = re.compile(
    r"\bpdfs?\b|\b(?:excel|xlsx?|csv|docx?|spreadsheet)\b|\bword\s+(?:file|document|format|doc)\b"
    r"|\b(?:as|in)\s+(?:an?\s+)?(?:file|attachment|document)\b|\battach(?:ed|ment|ments)?\b"
    r"|\b(?:formal|official|signed|stamped|printable|printed|written|proper)\s+(?:quote|quotation|offer|proposal"
    r"|document)\b|\bletterhead\b"
    r"|\b(?:e-?mail|fax)\s+(?:me|us|it|them|this|that|(?:the|your)\s+(?:quote|quotation|offer|proposal))\b"
    r"|\bby\s+(?:e-?mail|fax|post|mail)\b|\b(?:send|forward)\s+(?:\w+\s+){0,3}?to\s+(?:my|our)\s+(?:e-?mail|inbox)\b", _I)
# Where the buyer's request stands: an approval, news of it ("any news on the approval?").
_STATUS_Q = re.compile(
    r"\bapprov(?:al|ed|e)\b|\bany\s+(?:news|update|progress)\b|\bstatus\b|\bupdate\s+on\b|\bheard\s+back\b"
    r"|\b(?:your|the|a)\s+decision\b")
# The buyer pauses ("we'll get back to you", "let me check internally"): the offer stands, restated.
_PAUSE = re.compile(
    r"\b(?:get|come)\s+back\s+to\s+you\b"
    r"|\b(?:check|discuss|confirm)\s+(?:it\s+|this\s+)?(?:internally|with\s+(?:my|our|the)\s+"
    r"(?:team|manager|boss|colleagues?|management|finance))\b"
    r"|\bthink\s+(?:it\s+)?(?:about\s+it|over)\b|\bsleep\s+on\s+it\b"
    r"|\b(?:need|give\s+us|take)\s+(?:some|a\s+(?:few|couple\s+of))\s+(?:time|days?|hours?)\b|\bkeep\s+you\s+posted\b"
    # "we need 2 more days", "give us another week": time to decide (not "we need it in 2 days": a delivery)
    r"|\b(?:need|want|give\s+us|allow\s+us|take|get)\s+(?:(?:another|an\s+(?:extra|additional))\s+(?:[0-9]+\s+)?"
    r"|(?:[0-9]+|a|one|a\s+few|a\s+couple\s+(?:of\s+)?)\s+(?:more|extra|additional)\s+)(?:days?|weeks?|hours?)\b")
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
_ADD = re.compile(r"\b(?:add|also|plus|additionally|in\s+addition|as\s+well|on\s+top)\b"
                  r"|\btoo\b(?=\s*(?:[,.!?]|please\b|pls\b|thanks\b|$))")  # "and 100 FST-M8X30-A2 too"
# "what about 300 BRG-6205?" with only products the offer does not have: a line more, never the offer replaced
_ALSO_NEW = re.compile(r"\b(?:what|how)\s+about\b|^\W*and\b")
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


def _sentence_before(text: str, pos: int) -> str:
    """The words of `text` before `pos` in their sentence: after the last of ". ; ! ? newline" before it."""
    return text[max(text.rfind(c, 0, pos) for c in ".;!?\n") + 1:pos]


_WORD = re.compile(r"[a-z0-9][a-z0-9+.\-/]*[a-z0-9]|[a-z0-9]")
_QUERY_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9+.\-/]*[A-Za-z0-9]|[A-Za-z0-9]")

# A buyer's words for the words of spec keys: "47 mm OD" is outer_diameter_mm; a bearing "for a 20 mm shaft" has
# that bore (a seal or a bearing unit that shaft diameter: the products named decide, `_Scan.collect_specs`).
_SPEC_SYNONYMS = {"maximum": "max", "minimum": "min", "temp": "temperature", "dia": "diameter", "colour": "color",
                  "od": "outer diameter", "thick": "thickness", "long": "length", "wide": "width", "weight": "weight",
                  "ip": "ip rating", "speed": "speed", "rpm": "speed", "power": "power", "volts": "voltage",
                  "distance": "range", "reach": "range", "diam": "diameter", "outside": "outer", "inside": "inner bore",
                  "inner": "inner bore", "id": "inner diameter bore", "shaft": "bore shaft diameter", "hole": "bore",
                  "high": "height", "tall": "height", "lengths": "length", "sensing": "sensing range"}
_STOPWORDS = frozenset(
    "a an the and or of for to in on at by with without from we i you your our us me my is are am be been do does "
    "did have has had any some looking look need needs want wants would like could can please pls show find search "
    "searching sell sells stock carry offer offering products product items item something anything things thing "
    "there here it its this that these those what which who how much many about hi hello hey thanks thank "
    "regards got get buy buying purchase require required requirement interested recommend suggest options option "
    "catalog catalogue list browse type types kind kinds sort range sourcing supply supplier vendor also just "
    "available availability ok okay yes no not any other more less than approx approximately around "
    "mm cm kw v hz rpm bar kg nm kn db a amp amps volts volt price prices pricing cost costs quote "
    # time: "we need 2 more days" searches for nothing
    "day days week weeks month months hour hours minute minutes time today tomorrow year years".split())


# --- product words -----------------------------------------------------------------------------------


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
