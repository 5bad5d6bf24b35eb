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
3. payment terms (``net 60``, ``prepay``, ``60 days to pay``), delivery dates (``by 2026-12-15``,
   ``before December 15``, ``within 2 weeks``, ``by Friday``), discounts (``5% off``); a percentage
   for paying early (``a 2% early payment discount``, the ``2/10`` of ``2/10 net 30``) is a cash
   discount, a payment term: no price is asked for it, and the message asks about the terms;
4. prices with a currency mark (``3.10 EUR``, ``€3.10``, ``3,10 €``, ``$4.20``);
5. quantities bound to SKUs (``500 x BRG-6204``, ``BRG-6204 x 500``,
   ``500 pcs of``, ``qty 500``, ``1,000 x``, ``1.000 Stück``);
6. spec values with a unit (``20mm``, ``at least 1.1 kW``) for catalog queries;
7. prices named by words (``at 3.10``, ``for 3.10 each``, ``3.10/unit``,
   ``can you do 2.95?``) and bare quantities (``500 units``, ``500 more`` of the offer anywhere);
   a price with a past-tense remark on it (``3.40 was too much though``) is no price asked, and
   no doubt about an acceptance beside it;
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

The package, by concept: `context.py` (`TextContext`, the limits), `patterns.py`
(the vocabulary: regular expressions and word lists), `index.py` (lookup tables
per catalog), `scan.py` (the steps above, on one text), `offer.py` (what words
ask of the current offer, in its figures: percentages, totals, midpoints, kept
lines; shared with the text model's reading) and this module: the entry point
and the decision between the kinds.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from agent.contract import MAX_ITEMS, Accept, CatalogQuery, CounterItem, CounterOffer, Reject, Rfq, RfqItem
from agent.intent import (
    ACCEPT_AND_REJECT, ACCEPT_WHICH_VERSION, CONDITIONAL_ACCEPT, DELIVERY_ELSEWHERE, NO_PRODUCT_NAMED, NO_PROPOSAL_TO_ACCEPT,
    NO_PROPOSAL_TO_REJECT, NO_USABLE_QUANTITY, WHICH_LINE, BuyerIntent, Question,
)
from agent.offline.context import MAX_QUANTITY, _REASON_CHARS, TextContext
from agent.offline.offer import (
    asks_midpoint, catalog_discount_items, discount_items, midpoint_items, _proposal_lines, total_items,
    with_offer_lines,
)
from agent.offline.patterns import (
    _ACCEPT, _ACCEPT_KEYS, _ACCEPT_THEN_QUESTION, _ADD, _BUT_DELIVERY, _WHOLE_OFFER_AFTER, _ALSO_NEW, _AVAIL, _CATALOG, _CATALOG_BROWSE, _COMPAT, _CONDITIONAL_AFTER, _DELIVERY_PLACE_Q, _DOUBT_AFTER, _DOUBT_ANYWHERE, _DOUBT_BEFORE, _INJECTION,
    _INJECTION_KEYS, _LEAD, _LIMITS_Q, _MORE_WORDS, _NAME_STOP, _NEGATION_BEFORE, _NOT_YET, _OBJECTION, _PART_AFTER, _PAUSE, _PRICE_Q,
    _QTY_BEFORE_WORD, _QUERY_WORD, _QUESTION_START, _QUOTE_CUE, _REJECT, _REJECT_KEYS, _SOFT_REJECT, _SOFT_REJECT_NOT, _SPEC_SYNONYMS, _STATUS_Q,
    _STOPWORDS, _TERMS_Q, _VALIDITY_Q, _VOLUME_Q, _WORD, _YOU_BEFORE, _has_any, _sentence_before, _singular,
    _stems, _CURRENCY_NAMED, _CURRENCY_Q, _FORMAT_Q, _IDENTITY_Q,
)
from agent.offline.scan import _Mention, _Price, _Scan, _blank, _fmt
from tools.catalog.search import best_match, search
from tools.money import floor_money, is_currency
from tools.pricing.engine import today as utc_today


# --- the entry point ---------------------------------------------------------------------------


def understand(text: str, ctx: TextContext, today: date | None = None) -> BuyerIntent:
    """What a plain-text buyer message asks, as a `BuyerIntent` (source "offline"); never raises."""
    try:
        return _understand(text, ctx, today or utc_today())
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
    scan.scan_more_quantities()
    scan.scan_keyword_prices()
    scan.scan_bare_totals()
    scan.scan_bare_quantities()
    scan.scan_money_shaped()
    scan.scan_competitor_prices()
    scan.scan_price_remarks()
    scan.scan_places()
    scan.scan_currency_words()
    return _decide(scan)


def _unknown(scan: _Scan, why: str) -> BuyerIntent:
    scan.note(why)
    return BuyerIntent(kind="unknown", source="offline", notes=scan.notes)


# A quantity of the products named by words ("500 units of the 6204 bearings"): asks for them, as a quote does.
_QTY_OF = re.compile(r"(?<![\w.,])[0-9][0-9.,]*k?\s*(?:units?|pcs|pieces?|pc)\.?\s+of\s+(?:the\s+|your\s+)?[0-9A-Za-z]",
                     re.I)
_FINAL_Q = re.compile(r"\b(?:your|the)\s+(?:final|best|last|lowest|bottom)\s+(?:price|offer|quote)\b|\bbottom\s+line\b")
# A version no proposal has ("version -1") and a proposal id longer than any ("P-" and 62 characters or more)
_BAD_VERSION = re.compile(r"\b(?:v|ver\.?|version|rev\.?|revision)\s*[#:.]?\s*-\s*[0-9]")
_LONG_PROPOSAL_ID = re.compile(r"(?<![\w-])P-[A-Za-z0-9_\-]{62,}", re.I)
_FAR_ABOVE = 20  # times a product's list price: no unit price a buyer asks
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


def _skus(mentions: list[_Mention]) -> list[str]:
    out: list[str] = []
    for m in mentions:
        if m.sku not in out:
            out.append(m.sku)
    return out


def _decide(scan: _Scan) -> BuyerIntent:
    ctx = scan.ctx
    low = _without_remarks(scan, scan.masked.casefold())
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
    accept, negated, conditional, doubt = _accept_cues(low)
    reject, declined = _rejects(scan, low)
    reject = reject or negated
    money = bool(scan.prices) or scan.discount is not None
    if accept and money and doubt is None and not negated and _at_offered_figures(scan, pid):
        # "we accept at 3.25", "we accept your offer of 3.25 EUR" on an offer at 3.25: an acceptance of it, never a
        # counter-offer equal to the offer (that made the same version again until the rounds ran out)
        scan.note("the figures named are the offer's own: read as an acceptance of it")
        money = False
    if accept and money and doubt is None and not negated and _above_offered_figures(scan, pid):
        # "we accept at 3.40" on an offer at 3.25: not the offer, and no counter-offer either (a price above the
        # offer gets the same offer again); nothing is accepted, as for other conditional acceptances
        scan.note("acceptance at a price above the offer's: not an acceptance of the offer")
        return _unknown(scan, CONDITIONAL_ACCEPT)

    if asks_midpoint(low) and not money and pid is not None and pid == ctx.proposal_id:
        return _midpoint_counter(scan, pid, pver, prop_skus)
    if accept and reject:
        return _unknown(scan, ACCEPT_AND_REJECT)
    if doubt is not None and not conditional:
        # "before we accept, what is the lead time?", "accept? not yet": never a deal; the rest is answered
        scan.note(f"acceptance words with doubt ({doubt}): not read as an acceptance")
        accept = False
        if not money and prop_skus and not quantified and not scan.bare_qty and _OBJECTION.search(low):
            scan.note("the buyer objects to the price without naming one")  # "we agree with the lead time, price
            return _question(scan, "price", prop_skus)                      # is too high": the offer stands
    if declined and not money and prop_skus and not quantified and not scan.bare_qty:
        if len(prop_lines) >= 2 and _REMOVE.search(low) and (removed := _removed(scan, prop_lines)) is not None:
            return removed  # "cancel the seals", "we'll pass on the seals": that line left out
        scan.note("the offer stands")  # "no thanks to the grease, just the bearings"
        return _question(scan, "price", prop_skus)
    changed = _changes(quantified, prop_lines) or _other_quantity(scan, prop_lines, mention_skus)
    if accept and changed and not money:  # "we accept but only 100 units": a quote for that, never the deal
        scan.note("acceptance with another quantity or product read as a new request")
        accept = False
    if accept and not money and len(prop_lines) >= 2 and not changed and not conditional:
        part = _part_accepted(scan, prop_lines, low)
        if part is not None:  # never a deal on lines the buyer did not take: the lines taken are quoted first
            return part
    if accept and not money and not changed:
        if conditional:
            return _unknown(scan, CONDITIONAL_ACCEPT)
        if scan.terms is not None or scan.cash_discount is not None:
            scan.note("acceptance names payment terms: please confirm the proposal's terms or send a counter-offer")
            return _question(scan, "terms", prop_skus or mention_skus)
        if scan.version_bad or _BAD_VERSION.search(low) or _LONG_PROPOSAL_ID.search(scan.text):
            # "we accept v0", "we accept version -1", an id longer than any proposal's: never the current one
            current = f"{ctx.proposal_id} v{ctx.proposal_version}" if ctx.proposal_id and isinstance(
                ctx.proposal_version, int) else None
            scan.note("acceptance of a version or proposal id that cannot be this negotiation's"
                      + (f"; name the one you accept (e.g. {current})" if current else ""))
            return _unknown(scan, ACCEPT_WHICH_VERSION)
        if pid is None:
            quoted = _topic_quote(scan, mention_skus)
            if quoted is not None:  # "go ahead" after a price answer: the proposal for what was asked about
                return quoted
            return _unknown(scan, NO_PROPOSAL_TO_ACCEPT)
        if pver is None:
            if not ctx.proposal_id:  # "we accept proposal P-12" with nothing on offer here
                scan.note(f"acceptance of {pid}, but no proposal stands in this negotiation")
                return _unknown(scan, NO_PROPOSAL_TO_ACCEPT)
            if pid != ctx.proposal_id:  # "we accept proposal P-13" while P-12 stands
                current = f"{ctx.proposal_id} v{ctx.proposal_version}" if isinstance(ctx.proposal_version, int) \
                    else ctx.proposal_id
                scan.note(f"acceptance of {pid}, but its version is not known and it is not the proposal of this "
                          f"negotiation ({current}); name the one you accept (e.g. {current})")
                return _unknown(scan, ACCEPT_WHICH_VERSION)
            scan.note(f"acceptance of {pid}, but its version is not known; name it (e.g. {pid} v1)")
            return _unknown(scan, ACCEPT_WHICH_VERSION)
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

    # "is 3.05 your final price?": a question about the offer, not a counter-offer
    if scan.prices and prop_skus and "?" in scan.text and _FINAL_Q.search(low) \
            and not all(p.value in scan.offered_prices for p in scan.prices):  # the offered one: asked back, below
        scan.note(f"asks whether {_fmt(scan.prices[0].value)} is the final price: a question, not a counter-offer")
        return _question(scan, "price", prop_skus)
    if not money and not quantified and not scan.bare_qty and _IDENTITY_Q.search(low):
        # "are you a bot?", "who am I talking to?": who answers is said (an AI disclosure), beside the offer if any
        scan.note("asks who or what answers")
        return _question(scan, "identity", mention_skus or prop_skus)
    # money: prices or a discount
    if money:
        result = _money(scan, pid, pver, prop_lines, low)
        if result is not None:
            return result

    if scan.others_named and prop_skus and not quantified and not scan.bare_qty:
        # "we pay 2.90 at our current supplier": no price asked; the offer stands, and how to counter it
        scan.note("another supplier's price named without an ask: the offer stands")
        return _question(scan, "price", prop_skus)

    # questions (no prices); with quantities only when asked as a question
    topic_skus = mention_skus or prop_skus
    if not mention_skus and len(prop_skus) > 1 and (one := _line_named(scan, prop_skus, note=False)) is not None:
        topic_skus = [one]  # "what's the minimum order for the seals?" on bearings and seals
    if question_form or not quantified:
        if topic_skus and _COMPAT.search(low) and (len(mention_skus) >= 2 or question_form):
            return _question(scan, "compatibility", mention_skus if len(mention_skus) >= 2 else
                             _merge(mention_skus, prop_skus))
        if prop_skus and not quantified and not scan.bare_qty and _STATUS_Q.search(low) \
                and not _OBJECTION.search(low) and not _PRICE_Q.search(low) and not _PAUSE.search(low):
            scan.note("asks where the request stands")
            return _question(scan, "status", prop_skus)
        if prop_skus and not quantified and not scan.bare_qty and _VALIDITY_Q.search(low):
            scan.note("asks how long the offer stands")
            return _question(scan, "terms", prop_skus)
        if scan.region_known and not quantified and not scan.bare_qty and not scan.prices \
                and (_DELIVERY_PLACE_Q.search(low) or _LEAD.search(low)):
            return _delivery_place(scan, topic_skus, prop_lines)
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
        if not quantified and not scan.bare_qty and scan.terms is None and (
                seller := _seller_topic(scan, low)) is not None:
            return seller
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
        return _unknown(scan, NO_USABLE_QUANTITY)
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
    scan.collect_specs(category, spec_words, _SPEC_SYNONYMS)
    # "what's the price of the M8 screws?" with no SKU and no offer on them: the products the words name
    # "can you quote 2000 deep groove ball bearings 6204?": a quote for a quantity of the product the words name
    named_words = bool(not prop_skus and scan.name_words & scan.idx.name_stems)
    price_of_named = named_words and bool(_PRICE_Q.search(low))
    quote_named = named_words and len(scan.bare_qty) == 1 and bool(
        _QUOTE_CUE.search(low) or _QTY_OF.search(scan.text))  # "500 units of the 6204 bearings": a quote asked
    # "stainless M8 nuts", "washers for M8": product words alone, with no offer standing, are a search for them
    words_alone = pid is None and not quantified and not scan.bare_qty and not scan.prices and len(words) <= 12 \
        and bool(scan.name_words & scan.idx.name_stems - idx_offer_words(scan))
    catalog_cue = bool(_CATALOG.search(low)) or price_of_named or quote_named or words_alone
    if category is not None or scan.specs or catalog_cue:
        query = _query_terms(scan, category)
        if (price_of_named or quote_named) and query and not scan.specs:
            best = best_match(search(ctx.catalog, query, category, limit=None), query)
            if best is not None:  # the one product the words name best: a quote, or its price (volume breaks)
                scan.note(f"'{query}' read as {best.sku} (the closest match)")
                qty = scan.bare_qty[0][0] if len(scan.bare_qty) == 1 else None
                if quote_named and qty:
                    return _rfq_for(scan, [(best.sku, qty)])
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
    if prop_skus and (_OBJECTION.search(low) or scan.remarks):  # "3.40 was steep": a remark, the offer stands
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


_CURRENCY_CODES = {"usd": "USD", "eur": "EUR", "gbp": "GBP", "chf": "CHF", "jpy": "JPY", "cny": "CNY", "cad": "CAD",
                   "aud": "AUD", "sek": "SEK", "pln": "PLN", "inr": "INR"}


def _seller_topic(scan: _Scan, low: str) -> BuyerIntent | None:
    """A question about how the seller quotes rather than about the goods, with no quantity or price in it: the
    currency prices are in ("what is your price in USD?", "which currency do you invoice in?") or the form an
    offer comes in ("please send the quote as PDF"). None for anything else, and for the currency beside other
    terms ("payment terms and currency?": the terms answer says what the prices include)."""
    skus = _skus(scan.mentions) or [s for s, _ in _proposal_lines(scan.ctx) if not scan.ctx.topic]
    if _FORMAT_Q.search(low):
        scan.note("asks for the offer in another form than this conversation's (a file, an e-mail)")
        return _question(scan, "format", skus)
    if _CURRENCY_Q.search(low) and not _TERMS_Q.search(_CURRENCY_Q.sub(" ", low)):
        named = _CURRENCY_NAMED.search(low)
        currency = _CURRENCY_CODES[named.lastgroup] if named is not None and named.lastgroup else None
        scan.note("asks which currency prices are in" + (f" ({currency} named)" if currency else ""))
        return _question(scan, "currency", skus, currency=currency)
    return None


def idx_offer_words(scan: _Scan) -> frozenset[str]:
    """The name words of the products in context (the ones the buyer named last): no new search."""
    return scan.idx.words_of(s for s, _ in _proposal_lines(scan.ctx))


def _without_remarks(scan: _Scan, low: str) -> str:
    """The lower-cased text without its remarks on a past price (`_Scan.scan_price_remarks`) when, without them,
    it is a clear acceptance ("we accept, 3.40 was too much though"): the remark is no doubt about the offer now
    standing. Else as it is ("3.40 was too much" alone objects to the price)."""
    if not scan.remarks:
        return low
    quiet = _blank(scan.masked, scan.remarks).casefold()
    accept, negated, _, doubt = _accept_cues(quiet)
    if not accept or negated or doubt is not None or len(quiet) != len(low):
        return low
    scan.note("acceptance beside a remark on a price: the remark is not read as doubt")
    return quiet


def _delivery_place(scan: _Scan, skus: list[str], prop_lines: list[tuple[str, int | None]]) -> BuyerIntent:
    """Whether the seller delivers to a place ("do you deliver to Lyon?", "how long to ship to Tokyo?"). A place in
    the buyer's region (the one the negotiation buys in, or with none known one the catalog serves) is answered
    with what the seller already states of delivery: the lead time of the products in context (for the quantity on
    offer), else the delivery terms of the buyer's price book (a terms question). A place elsewhere is no place a
    proposal here can be made for (DELIVERY_ELSEWHERE); no figure is the reader's."""
    ctx = scan.ctx
    served = set(ctx.catalog.regions())
    own = ctx.region if isinstance(ctx.region, str) and ctx.region else None
    if scan.region is None or scan.region not in served or (own is not None and scan.region != own):
        return _unknown(scan, DELIVERY_ELSEWHERE)
    scan.note(f"asks about delivery in region {scan.region}" + (", the buyer's" if own else ""))
    if not skus:
        return _question(scan, "terms", [])
    quantity = None
    if len(skus) == 1 and not ctx.topic:
        quantity = dict(prop_lines).get(skus[0])  # the quantity on offer: the lead time its proposal states
    if scan.date is not None:
        scan.note(f"asks about delivery by {scan.date.isoformat()}")
    return _question(scan, "lead_time", skus, quantity=quantity)


def _accept_cues(low: str) -> tuple[bool, bool, bool, str | None]:
    """(accepted, negated acceptance, conditional acceptance, doubt) from the cue words. `doubt` says why acceptance
    words are no sure acceptance ("before we accept", "accept? not yet", "we agree with the lead time, price is too
    high", "our manager will accept tomorrow probably"); a negated acceptance that only waits ("don't accept yet")
    or objects to a part ("we can't agree to this price") is doubt too, never a rejection."""
    accept = negated = conditional = False
    doubt: str | None = None
    if not _has_any(low, _ACCEPT_KEYS):
        return False, False, False, None
    for m in _ACCEPT.finditer(low):
        before = low[max(0, m.start() - 40):m.start()]
        if _YOU_BEFORE.search(before):
            continue
        sentence = _sentence_before(low, m.start())
        if _NEGATION_BEFORE.search(before):
            if _NOT_YET.search(low):
                doubt = doubt or "a negated acceptance that waits or objects to a part"
            else:
                negated = True
            continue
        accept = True
        if _CONDITIONAL_AFTER.match(low, m.end()):
            conditional = True
            continue
        if (b := _DOUBT_BEFORE.search(sentence)) is not None:
            doubt = doubt or f"'{b.group(0).split()[0] if b.group(0).split() else b.group(0)}' before it"
        elif _ACCEPT_THEN_QUESTION.match(low, m.end()):
            continue  # "we accept, when will it ship?": a plain question does not make it conditional
        elif _BUT_DELIVERY.match(low, m.end()):
            conditional = True  # "we accept, but please ship by Friday": not taken, and the buyer is told why
            continue
        elif (a := _DOUBT_AFTER.match(low, m.end())) is not None:
            doubt = doubt or f"'{a.group(0).strip()[-20:]}' after it"
        elif _PART_AFTER.match(low, m.end()) and not _WHOLE_OFFER_AFTER.match(low, m.end()):
            doubt = doubt or "of a part of the offer"
    if accept and doubt is None and (h := _DOUBT_ANYWHERE.search(low)) is not None:
        doubt = f"'{h.group(0)}' in the message"
    return accept, negated, conditional, doubt


def _at_offered_figures(scan: _Scan, pid: str | None) -> bool:
    """Whether every figure of the message is the current offer's own: each price a line's offered unit price (or
    the offer's total), in the offer's currency, and no discount."""
    ctx = scan.ctx
    if pid is None or pid != ctx.proposal_id or scan.discount is not None or not scan.prices:
        return False
    offered = scan.offered_prices
    if not offered or len(offered) > 1 and sorted({p.value for p in scan.prices}) != sorted(set(offered)):
        return False  # on an offer of several lines, one line's price alone says not which is accepted
    for p in scan.prices:
        if p.currency and ctx.currency and p.currency != ctx.currency:
            return False
        if p.total:
            if scan.offer_total is None or p.value != scan.offer_total:
                return False
        elif p.value not in offered:
            return False
    return True


def _above_offered_figures(scan: _Scan, pid: str | None) -> bool:
    """Whether every figure of the message is above the current offer's: each unit price above every offered unit
    price (a total above the offer's total), in the offer's currency, and no discount ("we accept at 3.40" on an
    offer at 3.25). A lower figure is a counter-offer."""
    ctx = scan.ctx
    offered = scan.offered_prices
    if pid is None or pid != ctx.proposal_id or scan.discount is not None or not scan.prices or not offered:
        return False
    for p in scan.prices:
        if p.currency and ctx.currency and p.currency != ctx.currency:
            return False
        if p.total:
            if scan.offer_total is None or p.value <= scan.offer_total:
                return False
        elif p.value <= max(offered):
            return False
    return True


def _rejects(scan: _Scan, low: str) -> tuple[bool, bool]:
    """Rejection words that close the negotiation: a clear rejection ("we reject", "no deal", "we'll pass"). A "no
    thanks" that declines a suggestion or thanks for something ("no thanks to the grease, just the bearings", "no,
    thank you for the quick answer! what about 1000 pcs?"), or is followed by another request, is none:
    (rejected, declined a suggestion or thanked)."""
    if not (_has_any(low, _REJECT_KEYS) and _REJECT.search(low)):
        return False, False
    asks_more = bool(scan.bare_qty) or any(m.qty for m in scan.mentions) or bool(scan.prices)
    part = False
    for hit in _REJECT.finditer(low):
        sentence = _sentence_before(low, hit.start())
        if _REJECT_NOT_MEANT_BEFORE.search(sentence) or _REJECT_WAITS_AFTER.match(low, hit.end()):
            part = True  # "we'd hate to walk away", "no deal yet", "no deal, but we will come back next month"
            continue
        obj = _REJECT_OBJECT.match(low, hit.end())
        if obj is not None and (obj["w"] is None or obj["w"] not in _OFFER_WORDS):
            part = True  # "we pass on the grease", "cancel the seals", "I decline to comment on our budget"
            continue
        if asks_more and not _SOFT_REJECT.fullmatch(hit.group()):
            part = True  # "sorry, cancel that, I meant 600 units": another request
            continue
        if not _SOFT_REJECT.fullmatch(hit.group()):
            return True, False
        if not (_SOFT_REJECT_NOT.match(low, hit.end()) or "?" in low[hit.end():] or asks_more):
            return True, False
    if part:
        scan.note("rejection words of a part, a suggestion or with another request: not a rejection of the offer")
    else:
        scan.note("'no thanks' read as declining a suggestion or thanking, not as a rejection of the offer")
    return False, True


# What rejection words are of: a product, a suggestion, a line ("we pass on the grease", "cancel the seals", "not
# interested in the alternatives"), or something else ("I decline to comment"), unless a word of the whole offer.
_REJECT_OBJECT = re.compile(
    r"\s+(?:(?:on|in|to|of|with)\s+)?(?:(?:the|your|this|that|these|those|any|all|our|my)\s+)?"
    r"(?:(?P<w>[a-z][a-z'-]*)|[\x01-\x03])")
_OFFER_WORDS = frozenset(
    "offer offers proposal proposals quote quotes quotation quotations deal deals price prices pricing terms it this "
    "that them order orders request requests negotiation negotiations rfq everything all whole entire thing "
    "proceed continue go move accept buy order purchase sign the your now thanks thank you too for and at here "
    "completely entirely altogether totally anymore any as please sorry we i unfortunately then again".split())
# Words before rejection words that do not reject: "we'd hate to walk away", "we don't want to pass", "or we walk away"
_REJECT_NOT_MEANT_BEFORE = re.compile(
    r"\b(?:hate|loathe|(?:do\s+not|don'?t|not|never)\s+want|rather\s+not|reluctant|avoid|if|unless|otherwise|or"
    r"|before|would\s+not\s+like|wouldn'?t\s+like|may|might|could|should)\b[^.;!?\n]*$")
# ... and after: it waits ("no deal yet", "no deal, but we will come back next month")
_REJECT_WAITS_AFTER = re.compile(
    r"\s*(?:yet|for\s+now|at\s+the\s+moment|right\s+now)\b"
    r"|[^.!?\n]*?\b(?:come\s+back|get\s+back|revert|later|next\s+(?:week|month|quarter|year|time))\b")


def _other_quantity(scan: _Scan, prop_lines: list[tuple[str, int | None]], mention_skus: list[str]) -> bool:
    """Whether the text names a quantity the current proposal does not have ("we accept but only 100 units"), or a
    product it does not have."""
    if not prop_lines:
        return False
    offered = {q for _, q in prop_lines}
    return any(q not in offered for q, _ in scan.bare_qty) or any(s not in dict(prop_lines) for s in mention_skus)


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


def _line_named(scan: _Scan, skus: list[str], note: bool = True, words: set[str] | None = None) -> str | None:
    """The one proposal line whose product name has a word of the text (or of `words`: "3.00 for the bearings"
    on a proposal for bearings and seals), noted; None when no line's name, or more than one, has one. Words
    every line's name has ("hex", "box" on screws and nuts) name none of them."""
    numbered = _line_numbered(scan, skus) if words is None else None
    words = scan.name_words if words is None else words
    names = [scan.idx.name_words[sku] for sku in skus if sku in scan.idx.name_words]
    common = frozenset.intersection(*names) if len(names) > 1 else frozenset()  # "hex", "box"
    hits = [(sku, sorted(words & (scan.idx.name_words[sku] - common))) for sku in skus if sku in scan.idx.name_words]
    hits = [(sku, shared) for sku, shared in hits if shared]
    if numbered is not None and (not hits or numbered[0] in (sku for sku, _ in hits)):
        if note:  # "another 100 of the 6205" on BRG-6204 and BRG-6205
            scan.note(f"'{numbered[1]}' read as {numbered[0]} (its SKU ends with it)")
        return numbered[0]
    if len(hits) != 1:
        return None
    sku, shared = hits[0]
    if note:
        scan.note(f"'{shared[0]}' read as {sku} (in its name)")
    return sku


_DIGIT_RUN = re.compile(r"(?<![\w.,])[0-9]{3,}(?![\w.,])")


def _line_numbered(scan: _Scan, skus: list[str]) -> tuple[str, str] | None:
    """The one line of several whose SKU ends with a number the text has left over ("another 100 of the 6205" on
    BRG-6204 and BRG-6205: BRG-6205), and that number; None when no number, or more than one line, is named so."""
    found = {(sku, m.group()) for m in _DIGIT_RUN.finditer(scan.masked) for sku in skus
             if re.search(rf"(?<![0-9]){m.group()}$", sku)}
    return found.pop() if len({sku for sku, _ in found}) == 1 and len(found) == 1 else None


_REMOVE = re.compile(r"\b(?:remove|drop|delete|take\s+(?:out|off)|leave\s+out|cancel|without|skip|no\s+more|pass\s+on|"
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
_MORE_AFTER = re.compile(r"\s*(?:(?:units?\s+|pcs\s+|pieces\s+|boxes\s+)?more|extra|additional)\b", re.I)
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
    return _rfq_for(scan, rest)


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


def _prices_by_line(scan: _Scan, prices: list[_Price], skus: list[str]) -> dict[str, _Price] | None:
    """Several prices on an offer of several lines, each for the line a product word beside it names: the word
    after it with "for" ("3.20 for the bearings and 0.90 for the seals"), else the words since the price before
    it ("bearings 3.20, seals 0.90"); noted. None unless every price names a line of its own."""
    out: dict[str, _Price] = {}
    text = scan.text
    ends = [p.start if p.end is None else p.end for p in prices]
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


_SENTENCE_END = re.compile(r"[.;!?\n](?:\s|$)")


def _sentence_start(text: str, pos: int) -> int:
    """Where the sentence holding `pos` starts (`_SENTENCE_END`)."""
    return max((m.end() for m in _SENTENCE_END.finditer(text, 0, pos)), default=0)


def _price_line(scan: _Scan, p: _Price, lines: list[list[Any]], ends: dict[str, int], prices: list[_Price],
                i: int) -> list[Any] | None:
    """The line of an rfq's several that a price is for: the one a product word in its sentence names ("Our target
    for the bearings is around 3.10 EUR"), else, for prices listed after every line as many as the lines, the line
    in the same place ("... and 200 x FST-M8X30-A2 at 3.10 and 10.50"), else the line just before it in its
    sentence ("BRG-6204: 500 pcs @ 3.05 EUR"); None (noted) when nothing says which. One line: that line."""
    if len(lines) == 1:
        return lines[0]
    text = scan.text
    start = _sentence_start(text, p.start)
    end_m = _SENTENCE_END.search(text, p.end if p.end is not None else p.start)
    sentence = text[start:end_m.start() if end_m else len(text)]
    skus = [line[0] for line in lines]
    named = _line_named(scan, skus, note=False, words=_stems(sentence))
    if named is not None:
        scan.note(f"{_fmt(p.value)} read as the price of {named} (a word of its name in its sentence)")
        return next(line for line in lines if line[0] == named)
    last = max(ends.get(line[0], line[3]) for line in lines)
    after = [q for q in prices if q.start > last]
    if len(after) == len(lines) and p in after and len(prices) == len(after):
        target = lines[after.index(p)]
        scan.note(f"{_fmt(p.value)} read as the price of {target[0]} (prices listed in the order of the lines)")
        return target
    before = [line for line in lines if ends.get(line[0], line[3]) <= p.start]
    if before:
        near = max(before, key=lambda line: ends.get(line[0], line[3]))
        gap = text[ends.get(near[0], near[3]):p.start]
        if len(gap) <= 30 and not _SENTENCE_END.search(gap) and not (i and prices[i - 1].start > ends.get(near[0], 0)):
            return near
    scan.note(f"asked price {_fmt(p.value)} not attached to a line: nothing says which product it is for")
    return None


# A price said of every line: "each" after it, with a comma or a cap before it ("500 x BRG-6204 and 500 x BRG-6205,
# max 3.00 each"), or "for both", "for all".
_EVERY_AFTER = re.compile(r"\s*(?:[A-Za-z€$£]{1,3}\s*)?(?:each|apiece|per\s+(?:unit|piece|pc|item))\b"
                          r"|\s*(?:[A-Za-z€$£]{1,3}\s*)?(?P<all>(?:for|on)\s+(?:both|all|each|every))\b", re.I)
_EVERY_GAP = re.compile(r",|\b(?:max(?:imum)?|target|budget|all|both|each)\b", re.I)


def _price_of_every_line(scan: _Scan, prices: list[_Price], lines: list[list[Any]],
                         ends: dict[str, int]) -> _Price | None:
    """The one price asked for every line of several, written after them all and said of each; noted. None else."""
    if len(prices) != 1 or len(lines) < 2:
        return None
    p = prices[0]
    last = max(ends.get(line[0], line[3]) for line in lines)
    text = scan.text
    end = p.end if p.end is not None else p.start
    said = _EVERY_AFTER.match(text, end)
    if p.start < last or p.total or said is None or not (said["all"] or _EVERY_GAP.search(text, last, p.start)):
        return None
    sentence_start = _sentence_start(text, p.start)
    if _line_named(scan, [line[0] for line in lines], note=False, words=_stems(text[last:p.start])) is not None \
            or sentence_start > last:
        return None
    scan.note(f"{_fmt(p.value)} read as the price of each line")
    return p


def _rfq_for(scan: _Scan, lines: list[tuple[str, int | None]]) -> BuyerIntent | None:
    """An rfq for these lines at these quantities (a line left out, lines taken, the products named before)."""
    return _rfq(scan, None, [], "", [_Mention(s, 0, 0, True, q) for s, q in lines])


def _topic_quote(scan: _Scan, mention_skus: list[str]) -> BuyerIntent | None:
    """A quote asked, or a go-ahead given, with no proposal standing: an rfq for the products the buyer named last
    (`ctx.topic`) at the quantities named then, noted; None when the text names products itself or a quantity is
    not known."""
    ctx = scan.ctx
    lines = _proposal_lines(ctx) if ctx.topic else []
    if mention_skus or scan.bare_qty or not lines or any(q is None for _, q in lines):
        return None
    scan.note(f"a quote for {', '.join(f'{q} x {s}' for s, q in lines)}, named before")
    return _rfq_for(scan, lines)


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
    return _rfq_for(scan, taken)


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


def _intent(scan: _Scan, kind: str, message: Any, asked: list[CounterItem] | None = None,
            discount: Decimal | None = None) -> BuyerIntent:
    return BuyerIntent(kind=kind, message=message, asked_prices=asked or [], source="offline",  # type: ignore[arg-type]
                       asked_discount_percent=discount if discount is not None and 0 < discount < 100 else None,
                       notes=scan.notes)


def _question(scan: _Scan, topic: str, skus: list[str], spec: str | None = None,
              quantity: int | None = None, currency: str | None = None) -> BuyerIntent:
    skus = [s for s in skus if s][:MAX_ITEMS]
    if quantity is None and len(skus) == 1:
        quantity = _topic_quantity(scan, skus[0])
    date = scan.date if topic in ("lead_time", "availability") else None
    if date is not None and quantity is None and len(skus) == 1:  # "can you deliver by Friday?": what is on offer
        quantity = dict(_proposal_lines(scan.ctx)).get(skus[0])
    scan.note(f"{topic} question" + (f" about {', '.join(skus[:5])}" if skus else "") + (f" ({spec})" if spec else "")
              + (f" for {quantity} units" if quantity else "") + (f" by {date.isoformat()}" if date else ""))
    question = Question(topic=topic, skus=skus, spec=spec, quantity=quantity, date=date,  # type: ignore[arg-type]
                        currency=currency)
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
    had = dict(_proposal_lines(scan.ctx)).get(skus[0])  # "500 more, what's the lead time?": asked for the new total
    found = {m.qty for m in quantified if m.qty} | {_more(scan, had, q, at) for q, at in scan.bare_qty}
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
    offered = dict(prop_lines) if pid is not None and pid == scan.ctx.proposal_id else {}
    more = [m for m in quantified if m.more and m.qty and offered.get(m.sku)]
    for m in quantified:
        if m in more and m.sku not in (s for s, _ in lines):  # "another 100 of BRG-6205": added to its 300
            total = min(offered[m.sku] + m.qty, MAX_QUANTITY)
            scan.note(f"{m.qty} more than the {offered[m.sku]} of {m.sku} before: {total}")
            lines.append((m.sku, total))
        elif m.qty and m.sku not in (s for s, _ in lines):
            lines.append((m.sku, m.qty))
        elif m.qty:
            i = next(i for i, (s, _) in enumerate(lines) if s == m.sku)
            total = min(lines[i][1] + m.qty, MAX_QUANTITY)
            scan.note(f"{m.sku} named twice: quantities added ({total})")
            lines[i] = (m.sku, total)
    if not lines:
        return None
    # "500 x BRG-6204 delivered to Tokyo": no region's quote is that (a place that is no destination, "Tokyo
    # Electric quoted us 2.50", is not where the order goes)
    if scan.region_known and scan.region is None and scan.region_is_destination:
        return _unknown(scan, DELIVERY_ELSEWHERE)
    if pid is not None and prop_lines and (_ADD.search(low) or any(m.more for m in quantified) or (
            _ALSO_NEW.search(low) and not set(dict(lines)) & set(dict(prop_lines)))):
        extra = [(s, q) for s, q in prop_lines if q and s not in dict(lines)]
        if extra:
            scan.note("the current proposal's lines are kept: " + ", ".join(s for s, _ in extra))
            lines = extra + lines
            if any(m.more for m in quantified):  # more of a line: the offer's order kept
                order = {s: i for i, (s, _) in enumerate(prop_lines)}
                lines.sort(key=lambda line: order.get(line[0], len(order)))
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
    if scan.discount is not None and not asked_items:
        priced = catalog_discount_items(scan.ctx, lines, scan.discount, fields["region"], fields["currency"])
        if priced is not None:  # "need 200 x BRG-6204 with 5% off": a target price, as "can you do 3.10?" is
            asked_items, priced_notes = priced
            for note in priced_notes:
                scan.note(note)
        else:
            scan.note(f"asked discount {_fmt(scan.discount)}% (to be priced against the quote)")
        # The seller prices it against this buyer's own opening price (its segment's, a promotion's), which the
        # words alone cannot know; the catalog's prices above are the reading without a seller.
        return _intent(scan, "rfq", Rfq(items=items, **fields), asked_items, discount=scan.discount)
    elif scan.discount is not None:
        scan.note(f"asked discount {_fmt(scan.discount)}% besides the prices asked")
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
        ends = {}
        for m in mentions:
            ends.setdefault(m.sku, m.end)
        every = _price_of_every_line(scan, kept, lines, ends)
        for line in lines if every is not None else []:
            line[2] = every
        for i, p in enumerate(kept if every is None else []):
            target = _price_line(scan, p, lines, ends, kept, i)
            if target is None:
                continue
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
        elif len(scan.bare_qty) > 1 and not kept \
                and (by_line := _quantities_by_line(scan, [line[0] for line in lines])):
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

    # a figure far above a product's list price is no unit price: a budget is the order's total, anything else
    # ("12 million EUR") is left out
    for line in lines:
        p = line[2]
        top = scan.idx.top_price.get(line[0])
        if p is None or p.total or p.per or not top or p.value <= top * _FAR_ABOVE:
            continue
        if p.budget and len(lines) == 1 and line[1]:
            scan.note(f"budget {_fmt(p.value)} read as a total (far above a unit price of {line[0]})")
            line[2] = _Price(p.value, p.currency, p.start, total=True, marked=p.marked, end=p.end)
        else:
            scan.note(f"{_fmt(p.value)} not read as a unit price of {line[0]} (far above its list price)")
            line[2] = None
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
                line[2] = _Price(unit, p.currency, p.start, marked=p.marked, end=p.end)
            else:
                scan.note(f"total {_fmt(p.value)} for {line[0]} dropped: no quantity to divide it by")
                line[2] = None

    priced = [line for line in lines if line[2] is not None and line[1]]
    if dropped is not None and lines and all(line[1] for line in lines):
        # "drop the seals and do 3.05 for the bearings": the seller keeps a line a counter-offer does not name, so
        # a line removed is a new request for the others, with the prices asked
        scan.note("a line removed: a request for the other lines, at the prices asked")
        return _rfq(scan, None, [], "", [_Mention(line[0], line[3], line[3], True, line[1]) for line in lines],
                    {line[0]: line[2].value for line in priced})
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
    more_of = {m.sku for m in mentions if m.more}  # "another 100 of BRG-6205": more of that line
    quantified = [_Mention(line[0], line[3], line[3], True, line[1], line[0] in more_of) for line in lines if line[1]]
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
