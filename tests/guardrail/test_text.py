"""The text guardrail: figures in a draft trace to the offer, alternatives or tool results; nothing internal leaks.

One realistic proposal (BRG-6204 x 500 at 3.25 EUR, list 3.50, NET30, valid until
2026-12-09, a next-tier alternative at 2000 units and a related SKU), the
catalog_lookup facts of BRG-6204, and the internal figures of the line.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.contract import Alternative, Pending, PendingItem, Proposal, ProposalItem
from agent.guardrail.numbers import PartialDate, normalise_terms, parse_number
from agent.guardrail.text import (LEAK_FIGURE, LEAK_TERM, UNBACKED, UNPARSABLE, UNTRACED, Fact, Secret, check_text,
                                  extract_figures, facts_from_proposal, leak_terms)

U, P, T, L, B = UNTRACED, UNPARSABLE, LEAK_TERM, LEAK_FIGURE, UNBACKED

WARRANTY = "12 months from delivery against defects in material and workmanship."
PROPOSAL = Proposal(
    proposal_id="P-12", version=2, status="offered", currency="EUR", region="EU", payment_terms="NET30",
    valid_until=dt.datetime(2026, 12, 9, 12, 0),
    items=[ProposalItem(sku="BRG-6204", name="Deep groove ball bearing 6204-2RS", quantity=500, unit_price=D("3.25"),
                        list_price=D("3.50"), discount_percent=D("7.142857142857142857142857143"),
                        line_total=D("1625.00"), lead_time_days=2, delivery_date=dt.date(2026, 11, 27))],
    total=D("1625.00"),
    terms={"liability_cap": "Liability is limited to the net value of the order.", "warranty": WARRANTY,
           "governing_law": "Laws of the Netherlands (EU orders); CISG excluded."},
    alternatives=[
        Alternative(kind="next_tier", sku="BRG-6204", name="Deep groove ball bearing 6204-2RS", quantity=2000,
                    unit_price=D("3.05"), line_total=D("6100.00"), payment_terms="NET30", lead_time_days=2,
                    note="next volume tier"),
        Alternative(kind="related_sku", sku="BRG-6204-ZZ", name="Deep groove ball bearing 6204-ZZ", quantity=500,
                    unit_price=D("2.95"), line_total=D("1475.00"), payment_terms="NET30", lead_time_days=2),
    ],
)
TOOL = "tool:catalog_lookup:BRG-6204"
TOOL_FACTS = [
    Fact("id", "BRG-6204", TOOL), Fact("days", D(2), f"{TOOL}.lead_time"),
    Fact("number", D(20), f"{TOOL}.bore_mm"), Fact("number", D(47), f"{TOOL}.outer_diameter_mm"),
    Fact("number", D(14), f"{TOOL}.width_mm"), Fact("spec", "2RS", f"{TOOL}.seal"),
    Fact("spec", "chrome steel AISI 52100", f"{TOOL}.material"), Fact("number", D("13.5"), f"{TOOL}.dynamic_load_kn"),
]
FACTS = facts_from_proposal(PROPOSAL) + TOOL_FACTS
SECRETS = [
    Secret("cost", D("1.42"), "EUR"), Secret("floor", D("2.65"), "EUR"), Secret("walk_away", D("2.65"), "EUR"),
    Secret("approval_limit", D("2.98"), "EUR"), Secret("approval_limit", D("2.65"), "EUR"),
    Secret("target", D("3.33"), "EUR"), Secret("max_discount", D("30")), Secret("margin", D("22")),
    Secret("approval_limit", D("15")), Secret("approval_limit", D("25")),
]

OFFER_TEXT = ("Proposal P-12 version 2: 500 x BRG-6204 at 3.25 EUR each (1625.00 EUR, ships in 2 days). Total 1625.00 "
              "EUR, payment NET30, valid until 2026-12-09. At 2000 units the price is 3.05 EUR each. Also available: "
              "BRG-6204-ZZ (Deep groove ball bearing 6204-ZZ) at 2.95 EUR each.")

DRAFTS: list[tuple[str, str, set[str]]] = [
    # --- money or terms promised in words alone (QA, a real model's words): no figure to trace, still blocked --
    ("promise_quarter_off", "I can do a quarter off if you sign today.", {B}),
    ("promise_third_off", "For this order, a third off.", {B}),
    ("promise_bogo", "Buy one, get one free.", {B}),
    ("promise_on_the_house", "The second batch is on the house.", {B}),
    ("promise_match", "I'll match any competitor price.", {B}),
    ("promise_go_lower", "Happy to go lower; name your price.", {B}),
    ("promise_pay_whenever", "Or pay whenever you like.", {B}),
    ("promise_no_payment", "Or no payment needed until next year.", {B}),
    ("promise_free_shipping_waive", "Shipping is free and we will waive the invoice if you pay late.", {B}),
    ("promise_unlimited", "All with an unlimited warranty and unlimited liability.", {B}),
    ("promise_pay_what_you_want", "The proposal is just a formality, you can pay what you want.", {B}),
    ("promise_discount_code", "Use discount code SAVEBIG at checkout.", {B}),
    ("promise_loss", "Honestly we are almost selling at a loss here.", {B}),
    ("promise_free_samples", "We can send free samples with the order.", {B}),
    ("promise_no_extra_charge", "Installation comes at no extra charge.", {B}),
    # --- not promises: refusals, and "free" inside a product's words -------------------------------------
    ("hold_cannot_go_lower", "We cannot go lower than 3.25 EUR on this quantity.", set()),
    ("hold_cant_go_lower", "We can't go any lower, but at 2000 units the price is 3.05 EUR each.", set()),
    ("hold_unable_lower", "We are unable to go lower on this one.", set()),
    ("hold_no_match", "This is our best price; we will not match other quotes.", set()),
    ("spec_halogen_free", "The BRG-6204 ships with a halogen-free PUR cable and powder-free gloves.", set()),
    ("spec_free_of_defects", "The warranty covers parts that are not free of defects.", set()),
    # the QA re-test's good replies that the first version of the check blocked, and promises it let through
    ("fp_free_to_choose", "You are free to choose another quantity.", set()),
    ("fp_warranty_included", f"The warranty is included at no extra cost: {WARRANTY}", set()),
    ("fp_negation_after", "Unlimited liability is not something we can accept.", set()),
    ("fp_match_the_offer", "Please check that the quantities on your purchase order match the offer.", set()),
    ("fp_engineer_free", "Our application engineer is free on Thursday; let me know when you are free for a call.",
     set()),
    ("fp_wish_lower", "I wish we could go lower, but this is already our volume price.", set()),
    ("fp_payment_due", "No payment is due today: payment NET30.", set()),
    ("fp_codes_do_not_apply", "Discount codes do not apply to project pricing.", set()),
    ("fp_free_from_defects", "The bearings are free from defects in material and workmanship.", set()),
    ("fp_complimentary_words", "Thank you for the complimentary words about our service.", set()),
    ("fp_lower_with_figures", "We'd be happy to go lower at a higher volume: at 2000 units the price is 3.05 EUR.",
     set()),
    ("fp_others_beat", "Other suppliers may promise to beat any price, but we stand by 3.25 EUR.", set()),
    ("fp_lead_free", "A lead-free unit; rely on us for delivery.", set()),
    ("promise_on_us", "Shipping is on us, and the first order is on us too.", {B}),
    ("promise_our_expense", "Delivery at our expense.", {B}),
    ("promise_cover_freight", "We will cover the freight costs for you.", {B}),
    ("promise_waive_fee", "We'll waive the shipping fee.", {B}),
    ("promise_throw_seals_in", "We'll also throw the seals in.", {B}),
    ("promise_refund_difference", "We'll refund the difference if you find it cheaper.", {B}),
    ("promise_price_protection", "We offer full price protection for the year.", {B}),
    ("promise_meet_it", "If you find a cheaper quote, we will meet it.", {B}),
    ("promise_negotiable", "Our price is negotiable, just ask.", {B}),
    ("promise_warranty_for_life", "We provide a warranty for life.", {B}),
    ("promise_gratis", "Delivery is gratis.", {B}),
    ("promise_not_only", "Not only free shipping but also priority handling.", {B}),
    ("promise_fullwidth", "\uff26\uff52\uff45\uff45 shipping for you.", {B}),
    ("promise_zero_width", "A quar\u200bter off for you.", {B}),
    ("promise_hyphenated", "Free-shipping applies.", {B}),
    # --- must pass: figures of the offer, in every format ----------------------------------------------
    ("offer_text", OFFER_TEXT, set()),
    ("price_code_after", "The unit price is 3.25 EUR.", set()),
    ("price_code_before", "The unit price is EUR 3.25.", set()),
    ("price_glued_after", "Unit price 3.25EUR.", set()),
    ("price_glued_before", "Unit price EUR3.25.", set()),
    ("price_symbol", "Unit price €3.25.", set()),
    ("price_symbol_space", "Unit price € 3,25.", set()),
    ("price_locale", "Der Stückpreis beträgt 3,25 €.", set()),
    ("price_extra_zeros", "Unit price 3.2500 EUR.", set()),
    ("price_three_decimals_group_thousands", "Unit price 3.250 EUR.", {U}),
    ("price_one_decimal_is_different", "Unit price 3.2 EUR.", {U}),
    ("price_per_unit_slash", "€3.25/unit, 500 units.", set()),
    ("price_bare_each", "500 units at 3.25 each.", set()),
    ("price_lowercase_code", "3.25 eur per piece", set()),
    ("price_words_currency", "3.25 euros per bearing", set()),
    ("total_plain", "Total 1625 EUR.", set()),
    ("total_grouped", "Total 1,625.00 EUR.", set()),
    ("total_locale_code_before", "Gesamt EUR 1.625,00.", set()),
    ("total_locale_after", "Total 1.625,00 EUR.", set()),
    ("total_space_grouped", "Total 1 625,00 €.", set()),
    ("total_nbsp_grouped", "Total 1\u00a0625,00\u00a0€.", set()),
    ("total_symbol", "Total: €1,625.00", set()),
    ("total_three_digit_group", "Total 1,625 EUR.", set()),
    ("arithmetic", "EUR 3.25 x 500 = EUR 1,625.00", set()),
    ("list_price", "List price is 3.50 EUR, you pay 3.25 EUR.", set()),
    ("saving", "You save 0.25 EUR per unit, 125.00 EUR on the order.", set()),
    ("list_value", "Instead of 1750.00 EUR at list you pay 1625.00 EUR.", set()),
    ("discount_two_decimals", "That is 7.14% off list.", set()),
    ("discount_one_decimal", "That is 7.1% off list.", set()),
    ("discount_rounded", "That is 7% off list.", set()),
    ("discount_space", "a 7.1 % discount", set()),
    ("discount_percent_word", "a 7.14 percent discount", set()),
    ("discount_per_cent", "7.1 per cent below list", set()),
    ("discount_number_words", "seven percent off list", set()),
    ("discount_negative", "Your price: -7% vs list.", set()),
    ("quantity_units", "Quantity: 500 units.", set()),
    ("quantity_pcs", "500 pcs at €3.25", set()),
    ("quantity_x_before_sku", "500 x BRG-6204", set()),
    ("quantity_x_glued", "x500 BRG-6204", set()),
    ("quantity_x_after_glued", "500x BRG-6204", set()),
    ("quantity_words", "five hundred units of BRG-6204", set()),
    ("lead_time", "It ships in 2 days.", set()),
    ("lead_time_business", "Lead time: 2 business days.", set()),
    ("lead_time_working", "Delivery in 2 working days from stock.", set()),
    ("lead_time_words", "It ships within two days.", set()),
    ("lead_time_hours", "It leaves our warehouse within 48 hours.", set()),
    ("delivery_date", "Delivery on 27 November 2026.", set()),
    ("valid_iso", "Offer valid until 2026-12-09.", set()),
    ("valid_iso_time", "Offer valid until 2026-12-09 12:00 UTC.", set()),
    ("valid_dmy", "Valid until 9 December 2026.", set()),
    ("valid_mdy", "Valid until December 9, 2026.", set()),
    ("valid_dotted", "Gültig bis 09.12.2026.", set()),
    ("valid_ordinal_yearless", "Valid until the 9th of December.", set()),
    ("valid_abbrev_yearless", "This price holds until Dec 9.", set()),
    ("valid_month", "Valid through December 2026.", set()),
    ("terms_net", "Payment is net 30.", set()),
    ("terms_net_days", "Payment terms: NET 30 days.", set()),
    ("terms_code", "Payment NET30.", set()),
    ("terms_days_net", "Payment 30 days net.", set()),
    ("terms_payment_within", "Payment within 30 days of invoice.", set()),
    ("terms_hyphen_day", "A 30-day payment term applies.", set()),
    ("proposal_id_version", "This is proposal P-12 version 2.", set()),
    ("tier_suggestion", "At 2,000 units the price drops to 3.05 EUR.", set()),
    ("tier_unit_hyphen", "The 2000-unit tier is 3.05 EUR.", set()),
    ("tier_total", "Order 2,000 and pay 6,100.00 EUR.", set()),
    ("tier_discount", "At 2000 units that is 12.9% off list.", set()),
    ("tier_pieces", "The next tier starts at 2000 pieces.", set()),
    ("related_sku", "Also available: BRG-6204-ZZ at 2.95 EUR each, 1475.00 EUR for 500.", set()),
    ("spec_answer", "The 6204-2RS has a 20 mm bore and 47 mm outer diameter.", set()),
    ("spec_width", "Width is 14 mm.", set()),
    ("spec_glued_unit", "Bore 20mm, OD 47mm, width 14mm.", set()),
    ("spec_load", "Dynamic load rating 13.5 kN.", set()),
    ("spec_material", "Material: chrome steel AISI 52100.", set()),
    ("spec_playbook", "BRG-6204 bore_mm: 20", set()),
    ("sku_digits", "The 6204 is our best-selling bearing.", set()),
    ("sku_mentions", "BRG-6204 and BRG-6204-ZZ are both in stock.", set()),
    ("ids_ignored", "Sealed 2RS, IP67 rated, fits IE3 motors, M12 thread.", set()),
    ("standard_en", "Our gloves meet EN 388.", set()),
    ("standard_iso", "Hex bolts per ISO 4017 are not part of this offer.", set()),
    ("warranty_from_terms", "Warranty: 12 months from delivery.", set()),
    ("terms_text_verbatim", f"Terms: {WARRANTY}", set()),
    ("cost_effective", "A cost-effective choice for your conveyors.", set()),
    ("no_extra_cost", "Delivery at no extra cost.", {B}),  # no cost leak; a promise no fact backs (unbacked_promise)
    ("shipping_cost", "The shipping cost is included in 3.25 EUR.", set()),
    ("cost_to_you", "The cost to you is 1625.00 EUR.", set()),
    ("tco", "Sealed bearings lower the total cost of ownership.", set()),
    ("floor_mounted", "The floor-mounted housing is sold separately.", set()),
    ("shop_floor", "Popular on the shop floor.", set()),
    ("cant_go_lower_offer", "We can't go lower than 3.25 EUR on this proposal.", set()),
    ("awaiting_approval", "A better offer is awaiting approval; meanwhile this offer stands.", set()),
    ("currency_only", "Do you want the quote in EUR?", set()),
    ("currency_excl_vat", "All prices in € excl. VAT.", set()),
    ("idiom_24_7", "We answer 24/7.", set()),
    ("idiom_100_percent", "We are 100% focused on your order.", set()),
    ("idiom_one", "It is one of our best sellers, and this one is sealed.", set()),
    ("time_of_day", "Orders placed before 14:00 ship the same day.", set()),
    ("email", "Write to sales2@northwind.example for paperwork.", set()),
    # --- must block: figures that trace to nothing --------------------------------------------------------
    ("wrong_price", "We can do 3.10 EUR.", {U}),
    ("below_offer", "Price 3.20 EUR per unit.", {U}),
    ("bare_wrong_price", "We can do 3.10 for 500 units.", {U}),
    ("deep_discount", "We can give you 40% off.", {U}),
    ("discount_misrounded", "That is 7.15% off list.", {U}),
    ("discount_wrong", "That is 8% off list.", {U}),
    ("discount_ten", "A 10 percent discount.", {U}),
    ("made_up_total", "Total 1,600.00 EUR.", {U}),
    ("made_up_total_locale", "Gesamt EUR 1.600,00.", {U}),
    ("wrong_currency_dollar", "That's $3.25 per unit.", {U}),
    ("wrong_currency_code", "3.25 USD each.", {U}),
    ("wrong_currency_total", "USD 1,625.00 in total.", {U}),
    ("wrong_currency_pound", "Total £1,625.00", {U}),
    ("number_words_money", "Three euros per unit.", {U}),
    ("odd_space_total", "Total 1 625,50 €.", {U}),
    ("wrong_date", "Valid until 10 December 2026.", {U}),
    ("wrong_date_iso", "Valid until 2026-12-10.", {U}),
    ("wrong_date_dotted", "Valid until 10.12.2026.", {U}),
    ("wrong_date_mdy", "Valid until December 10, 2026.", {U}),
    ("impossible_date", "Valid until 31 February 2026.", {U}),
    ("wrong_delivery", "Delivery on 28 November 2026.", {U}),
    ("terms_not_offered", "We can also do NET90.", {U}),
    ("terms_net_60", "Payment net 60 is fine.", {U}),
    ("terms_hyphen", "Net-45 works too.", {U}),
    ("terms_prepay", "Prepayment gets you a better deal.", {U}),
    ("wrong_lead_time", "It ships in 1 day.", {U}),
    ("wrong_lead_time_weeks", "Delivery within two weeks.", {U}),
    ("wrong_lead_time_range", "Ships in 3-5 days.", {U}),
    ("wrong_validity_days", "The offer stands for 30 days.", {U}),
    ("made_up_quantity", "For 1,000 units we can talk.", {U}),
    ("made_up_quantity_x", "x1000 BRG-6204", {U}),
    ("made_up_quantity_words", "For three thousand units we can talk.", {U}),
    ("made_up_quantity_spaced", "For 3 000 units we can talk.", {U}),
    ("made_up_tier", "At 1,500 units the price is 3.15 EUR.", {U}),
    ("wrong_spec", "The 6204-2RS has a 25 mm bore.", {U}),
    ("wrong_spec_od", "Outer diameter 52 mm.", {U}),
    ("wrong_version", "This is proposal P-12 version 3.", {U}),
    ("wrong_gbp", "Price 3.25 GBP.", {U}),
    ("k_total", "About 1.6k EUR in total.", {U}),
    ("cents", "That is 30 cents below list.", {U}),
    # --- must block: unreadable money -------------------------------------------------------------------------
    ("unparsable_commas", "Price 3,1,0 EUR.", {P}),
    ("unparsable_dots", "Price EUR 3.1.0.", {P}),
    ("unparsable_symbol_word", "It'll cost you $ lots.", {P}),
    ("unparsable_euro_word", "Only € lots.", {P}),
    ("unparsable_placeholder", "Unit price EUR XX.XX.", {P}),
    ("unparsable_template", "Unit price {price} EUR.", {P}),
    ("unparsable_groups", "Total EUR 1,62,5.00.", {P}),
    # --- must block: internals ---------------------------------------------------------------------------------
    ("leak_auto_limit_locale", "I could go to 2,98 €.", {L}),
    ("leak_auto_limit", "2.98 EUR is possible.", {L}),
    ("leak_floor_price", "A 2.65 EUR unit price is possible.", {L}),
    ("leak_target", "3.33 EUR is where we'd like to land.", {L}),
    ("leak_fifteen_percent", "I can do fifteen percent off.", {L}),
    ("leak_fifteen_digits", "15 % is the most I can offer.", {L}),
    ("our_cost_money", "Our cost is 1.42 EUR.", {T, L}),
    ("our_cost_bare", "our cost is 1.42", {T, L}),
    ("bare_cost_figure", "1.42 is what it takes.", {L}),
    ("approval_down_to", "I can get approval down to 2.65 EUR.", {T, L}),
    ("manager_can_approve", "My manager can approve up to 25%.", {T, L}),
    ("system_lets_me", "The system lets me go to 2.98 EUR.", {T, L}),
    ("policy_says", "Policy says I can't go below 2.65.", {T, L}),
    ("max_discount_figure", "30% is our maximum discount.", {T, L}),
    ("margin_figure", "Our margin is 22%.", {T, L}),
    ("margin_words", "That leaves a twenty-two percent margin.", {T, L}),
    ("floor_price_figure", "Our floor price is 2.65 EUR.", {T, L}),
    ("break_even", "Break-even for us is 1.42 EUR.", {T, L}),
    ("lowest_we_can_go", "The lowest we can go is 3.25 EUR.", {T}),
    ("walk_away", "Our walk-away price is confidential.", {T}),
    ("auto_approved", "That offer is auto-approved.", {T}),
    ("allowed_to", "I'm only allowed to go to 15%.", {T, L}),
    ("max_discount_term", "This is our maximum discount.", {T}),
    ("pricing_policy", "Per our pricing policy this is final.", {T}),
    ("at_cost", "We would be selling at cost.", {T}),
    ("our_costs", "Our costs have gone up, so 3.25 EUR is firm.", {T}),
    ("approval_threshold", "Anything deeper exceeds my approval threshold.", {T}),
    ("floor_alone", "We are already at our floor.", {T}),
    ("minimum_price", "3.25 EUR is our minimum price.", {T}),
    ("rule_id", "Blocked by policy.max_discount_percent.", {T}),
    ("target_price_term", "Our target price was higher.", {T}),
    # --- an amount with no currency, made money by the words around it (QA, LLM path): it traced to the version 2
    # or the 2 days of lead time, as a count, while the total is 1625.00 -----------------------------------------
    ("money_all_in_no_currency", "That is 2.00 all in for the order.", {U}),
    ("money_total_tail_no_currency", "So 2 total, shipped in 2 days.", {U}),
    ("money_whole_order_no_currency", "The whole order: 2.00.", {U}),
    ("money_each_no_currency", "500 x BRG-6204 at 2.00 each.", {U}),
    ("money_all_in_traced", "That is 1625.00 all in, or 3.25 each.", set()),
    ("count_total_of_lines", "A total of 2 lines would also work, delivered in 2 days.", set()),
    ("spec_with_unit_after_whole_cents", "The bore is 20.00 mm and the width 14 mm.", set()),
    # --- several at once -----------------------------------------------------------------------------------------
    ("mixed", "Our cost is 1.42 EUR, so 3.10 EUR at NET90 is the best, price {price} EUR.", {T, L, U, P}),
]


def test_table_is_large_enough() -> None:
    assert len(DRAFTS) >= 110
    assert len({d[0] for d in DRAFTS}) == len(DRAFTS)


@pytest.mark.parametrize(("draft", "expected"), [pytest.param(d, e, id=i) for i, d, e in DRAFTS])
def test_draft(draft: str, expected: set[str]) -> None:
    violations = check_text(draft, FACTS, SECRETS)
    assert {v.rule_id for v in violations} == expected, [v.message for v in violations]
    for v in violations:
        assert v.span is not None and 0 <= v.span[0] < v.span[1] <= len(draft)


# --- extract_figures, format by format ----------------------------------------------------------------------------

FORMATS = [
    ("$3.10", "money", (D("3.10"),), "USD"),
    ("€3,10", "money", (D("3.10"),), "EUR"),
    ("3,10 €", "money", (D("3.10"),), "EUR"),
    ("EUR 3.10", "money", (D("3.10"),), "EUR"),
    ("3.10 EUR", "money", (D("3.10"),), "EUR"),
    ("USD 1,625.00", "money", (D("1625.00"),), "USD"),
    ("1.625,00 EUR", "money", (D("1625.00"),), "EUR"),
    ("1 625,00 €", "money", (D("1625.00"),), "EUR"),
    ("1'625.00 CHF", "money", (D("1625.00"),), "CHF"),
    ("US$ 12", "money", (D("12"),), "USD"),
    ("£7.50", "money", (D("7.50"),), "GBP"),
    ("1.6k EUR", "money", (D("1600"),), "EUR"),
    ("twelve dollars", "money", (D("12"),), "USD"),
    ("50 cents", "money", (D("0.50"),), None),
    ("15%", "percent", (D("15"),), None),
    ("15 %", "percent", (D("15"),), None),
    ("15 percent", "percent", (D("15"),), None),
    ("fifteen percent", "percent", (D("15"),), None),
    ("7.5 per cent", "percent", (D("7.5"),), None),
    ("7,5 %", "percent", (D("7.5"),), None),
    ("half price", "percent", (D("50"),), None),
    ("five hundred units", "quantity", (D("500"),), None),
    ("two thousand five hundred and fifty pieces", "quantity", (D("2550"),), None),
    ("twenty-five", "number", (D("25"),), None),
    ("a dozen", "number", (D("12"),), None),
    ("500 units", "quantity", (D("500"),), None),
    ("500 pcs", "quantity", (D("500"),), None),
    ("500 x", "quantity", (D("500"),), None),
    ("x500", "quantity", (D("500"),), None),
    ("2,000 units", "quantity", (D("2000"),), None),
    ("2.000 Stück x", "number", (D("2000"), D("2.000")), None),
    ("5 days", "days", (D("5"),), None),
    ("5-day", "days", (D("5"),), None),
    ("two weeks", "days", (D("14"),), None),
    ("3 business days", "days", (D("3"),), None),
    ("36 hours", "days", (D("1.5"),), None),
    ("2026-12-09", "date", (dt.date(2026, 12, 9),), None),
    ("9 December 2026", "date", (dt.date(2026, 12, 9),), None),
    ("9th of Dec 2026", "date", (dt.date(2026, 12, 9),), None),
    ("December 9, 2026", "date", (dt.date(2026, 12, 9),), None),
    ("09.12.2026", "date", (dt.date(2026, 12, 9),), None),
    ("09/12/2026", "date", (dt.date(2026, 12, 9), dt.date(2026, 9, 12)), None),
    ("2026-12-09T10:00Z", "date", (dt.date(2026, 12, 9),), None),
    ("December 9", "date", (PartialDate(None, 12, 9),), None),
    ("December 2026", "date", (PartialDate(2026, 12, None),), None),
    ("NET30", "terms", ("NET30",), None),
    ("net 60", "terms", ("NET60",), None),
    ("Net-90", "terms", ("NET90",), None),
    ("net thirty", "terms", ("NET30",), None),
    ("PREPAY", "terms", ("PREPAY",), None),
    ("prepayment", "terms", ("PREPAY",), None),
    ("payment in advance", "terms", ("PREPAY",), None),
    ("cash in advance", "terms", ("PREPAY",), None),
    ("COD", "terms", ("COD",), None),
    ("1,234", "number", (D("1234"), D("1.234")), None),
    ("0,125", "number", (D("0.125"),), None),
    ("1,234,567", "number", (D("1234567"),), None),
    ("42", "number", (D("42"),), None),
]


@pytest.mark.parametrize(("text", "kind", "values", "currency"), FORMATS, ids=[f[0] for f in FORMATS])
def test_extract_format(text: str, kind: str, values: tuple, currency: str | None) -> None:
    figures, bad = extract_figures(text)
    assert bad == []
    assert len(figures) == 1, figures
    f = figures[0]
    assert (f.kind, f.values, f.currency) == (kind, values, currency)
    assert (f.start, f.end) == (0, len(text)) or kind in ("number", "quantity") and f.text in text


@pytest.mark.parametrize("text", [
    "BRG-6204", "FST-M8X30-A2", "M12", "2RS", "6204-2RS", "IP67", "IE3", "EN 388", "ISO 4017", "EN ISO 20345:2011",
    "DIN 976-1", "P-12", "A2-70", "G1/4", "4-pin", "UCP204", "the 2nd round", "PT100", "M12x1", "24/7", "14:00",
    "5 pm", "https://example.com/p/123", "one of them", "prices in EUR", "100% checked", "freight prepaid",
    "Incoterms 2020", "at 9:30 am", "10:15",
])
def test_identifiers_are_not_figures(text: str) -> None:
    assert extract_figures(text) == ([], [])


@pytest.mark.parametrize("text", ["3,1,0 EUR", "EUR 3.1.0", "$ lots", "EUR XX.XX", "{price} EUR", "€ [amount]",
                                  "USD ###", "1.2.3,4 €"])
def test_unparsable_money(text: str) -> None:
    figures, bad = extract_figures(text)
    assert figures == [] and len(bad) == 1


def test_ranges_give_the_unit_to_both_ends() -> None:
    figures, _ = extract_figures("3-5 days, 10 to 15%, EUR 3.05-3.25")
    assert [(f.kind, f.values) for f in figures] == [
        ("days", (D(3),)), ("days", (D(5),)), ("percent", (D(10),)), ("percent", (D(15),)),
        ("money", (D("3.05"),)), ("money", (D("3.25"),))]
    assert figures[-1].currency == "EUR"


def test_spans_point_at_the_figure() -> None:
    text = "Price: EUR 3.25 for 500 units, ships in 2 days."
    figures, _ = extract_figures(text)
    assert [text[f.start:f.end] for f in figures] == ["EUR 3.25", "500 units", "2 days"]


def test_protected_strings_are_skipped() -> None:
    text = "Hex head screw ISO 4017 M8x30 A2-70, box of 100 at 12.40 EUR"
    figures, _ = extract_figures(text, protected=["Hex head screw ISO 4017 M8x30 A2-70, box of 100"])
    assert [f.text for f in figures] == ["12.40 EUR"]


def test_parse_number() -> None:
    assert parse_number("1,625.00") == (D("1625.00"),)
    assert parse_number("1.625,00") == (D("1625.00"),)
    assert parse_number("3,10") == (D("3.10"),)
    assert parse_number("1,234") == (D("1234"), D("1.234"))
    assert parse_number("1 625,00") == (D("1625.00"),)
    assert parse_number("3,1,0") is None
    assert parse_number("1,2345.6") is None


def test_normalise_terms() -> None:
    assert {normalise_terms(t) for t in ("NET30", "net 30", "Net-30", "NET 30 days", "NET030")} == {"NET30"}
    assert {normalise_terms(t) for t in ("PREPAY", "prepayment", "Pre-payment")} == {"PREPAY"}


# --- facts and the check ----------------------------------------------------------------------------------------


def test_facts_from_proposal_cover_every_figure() -> None:
    facts = {(f.kind, f.value if not isinstance(f.value, D) else f.value.normalize(), f.currency) for f in FACTS}
    for expected in [("id", "P-12", None), ("number", D(2), None), ("money", D("1625"), "EUR"),
                     ("terms", "NET30", None), ("date", dt.date(2026, 12, 9), None), ("id", "BRG-6204", None),
                     ("quantity", D(500), None), ("money", D("3.25"), "EUR"), ("money", D("3.5"), "EUR"),
                     ("days", D(2), None), ("date", dt.date(2026, 11, 27), None), ("quantity", D(2000), None),
                     ("money", D("3.05"), "EUR"), ("money", D("6100"), "EUR"), ("id", "BRG-6204-ZZ", None),
                     ("money", D("2.95"), "EUR"), ("id", WARRANTY, None)]:
        assert expected in facts, expected
    percents = [f.value for f in FACTS if f.kind == "percent"]
    assert D("7.142857142857142857142857143") in percents


def test_facts_from_proposal_pending_and_validity_days() -> None:
    pending = PROPOSAL.model_copy(update={
        "status": "pending_approval",
        "pending": Pending(items=[PendingItem(sku="BRG-6204", quantity=500, unit_price=D("3.00"))], total=D("1500.00"),
                           since=dt.datetime(2026, 11, 25, 10, 0))})
    facts = facts_from_proposal(pending, now=dt.datetime(2026, 11, 25, 12, 0))
    assert check_text("Your request for 3.00 EUR (1,500.00 EUR) is awaiting approval; this offer is valid for 14 "
                      "days.", facts) == []
    assert check_text("Your request for 2.90 EUR is awaiting approval.", facts)[0].rule_id == U


def test_without_facts_every_figure_is_untraced() -> None:
    out = check_text("500 units at 3.25 EUR", [])
    assert [v.rule_id for v in out] == [U, U]
    assert "3.25 EUR" in out[1].message


def test_a_traced_figure_equal_to_a_secret_is_not_a_leak() -> None:
    facts = [Fact("money", D("2.98"), "proposal.items[0].unit_price", "EUR")]
    assert check_text("We offer 2.98 EUR.", facts, SECRETS) == []
    assert check_text("We offer 2.98 USD.", facts, SECRETS)[0].rule_id == U  # other currency: not the secret


def test_percent_secrets_round_like_facts() -> None:
    secrets = [Secret("max_discount", D("22.5"))]
    assert [v.rule_id for v in check_text("22.5% off", [], secrets)] == [L]
    assert [v.rule_id for v in check_text("23% off", [], secrets)] == [L]
    assert [v.rule_id for v in check_text("21% off", [], secrets)] == [U]


def test_violation_messages_name_the_figure() -> None:
    out = check_text("Price 3.10 EUR, cost 1.42 EUR", FACTS, SECRETS)
    assert [v.rule_id for v in out] == [U, L]
    assert "3.10 EUR" in out[0].message and "1.42 EUR" in out[1].message
    assert out[0].span == (6, 14)


def test_leak_terms_report_the_phrase() -> None:
    found = leak_terms("Our floor is low, but the floor-mounted unit is cost-effective.")
    assert [(label, phrase) for label, phrase, _, _ in found] == [("floor", "floor")]


def test_spec_text_values_are_protected_and_their_figures_allowed() -> None:
    facts = [Fact("spec", "230 V delta / 400 V star", "tool:catalog_lookup:MOT-IE3-075.connection")]
    assert check_text("Connection: 230 V delta / 400 V star.", facts) == []
    assert check_text("It runs on 400 V.", facts) == []
    assert check_text("It runs on 480 V.", facts)[0].rule_id == U


def test_negative_spec_values() -> None:
    facts = [Fact("number", D(-30), "tool:catalog_lookup:BRG-GRS-EP2.temperature_min_c"),
             Fact("number", D(150), "tool:catalog_lookup:BRG-GRS-EP2.temperature_max_c")]
    assert check_text("Works from -30 °C to 150 °C.", facts) == []
    assert check_text("Works from -40 °C to 150 °C.", facts)[0].rule_id == U


def test_100_word_draft() -> None:
    draft = " ".join([OFFER_TEXT, "The 6204-2RS has a 20 mm bore, 47 mm outer diameter and is 14 mm wide.",
                      "It is sealed (2RS), greased for life and ships in 2 business days from Rotterdam.",
                      "At 2,000 units the price drops to 3.05 EUR, that is 12.9% off list.",
                      "Payment net 30, valid until 9 December 2026. Let me know if you need anything else."])
    assert 90 <= len(draft.split()) <= 130
    assert check_text(draft, FACTS, SECRETS) == []


_ALPHABET = "0123456789 .,'’-/:%$€£xXkK EURSDnetNETdaysweekunitpcs@#?{}[]<>()\u00a0abcdefghijklmnopqrstuvwxyz"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=_ALPHABET, max_size=80) | st.text(max_size=40))
def test_never_raises_and_spans_are_inside(text: str) -> None:
    figures, bad = extract_figures(text, protected=["BRG-6204", "Deep groove ball bearing 6204-2RS"])
    for f in figures:
        assert 0 <= f.start < f.end <= len(text) and text[f.start:f.end] == f.text
    for token, start, end in bad:
        assert 0 <= start < end <= len(text) and text[start:end] == token
    for v in check_text(text, FACTS, SECRETS):
        assert v.span is not None and 0 <= v.span[0] <= v.span[1] <= len(text)
