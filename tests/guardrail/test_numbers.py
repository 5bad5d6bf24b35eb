"""Figure extraction around the cheap tests that guard its scans (`numbers`): each case sits next to one.

Currency marks before an amount (the characters that can end a mark), range links (at most five characters),
the 24/7 idiom, placeholders, space-grouped thousands and month names; each case lists the figures as
(text, kind, values, currency) and the unreadable money tokens.
"""

from __future__ import annotations

import pytest

from agent.guardrail.numbers import extract_figures, parse_number

CASES = [
    # currency marks before the amount: a code, a symbol, a lower-case code, one space or a newline between
    ('EUR 3.10', [('EUR 3.10', 'money', ('3.10',), 'EUR')], []),
    ('EUR\xa03.10', [('EUR\xa03.10', 'money', ('3.10',), 'EUR')], []),
    ('EUR\n3.10', [('EUR\n3.10', 'money', ('3.10',), 'EUR')], []),
    ('€\n3,10', [('€\n3,10', 'money', ('3.10',), 'EUR')], []),
    ('eur 3.10', [('eur 3.10', 'money', ('3.10',), 'EUR')], []),
    ('chf 12', [('chf 12', 'money', ('12',), 'CHF')], []),
    ('C$ 4', [('C$ 4', 'money', ('4',), 'CAD')], []),
    ('A$4', [('A$4', 'money', ('4',), 'AUD')], []),
    ('NZ$ 5', [('NZ$ 5', 'money', ('5',), 'NZD')], []),
    ('zł 12', [('zł 12', 'money', ('12',), 'PLN')], []),
    ('Fr. 12', [('Fr. 12', 'money', ('12',), 'CHF')], []),
    ('SFr. 12', [('SFr. 12', 'money', ('12',), 'CHF')], []),
    ('¥ 500', [('¥ 500', 'money', ('500',), None)], []),
    ('ALL 3 items', [('3 items', 'quantity', ('3',), None)], []),
    ('the USD  3', [('3', 'number', ('3',), None)], []),
    ('GBP 5', [('GBP 5', 'money', ('5',), 'GBP')], []),
    ('XYZ 5', [('5', 'number', ('5',), None)], []),
    ('price in EUR: 30', [('30', 'number', ('30',), None)], []),
    ('US$\n7', [('US$\n7', 'money', ('7',), 'USD')], []),
    ('costs EUR 3 x 4', [('EUR 3', 'money', ('3',), 'EUR'), ('x 4', 'quantity', ('4',), None)], []),
    ('EUR \n3.10', [('EUR \n3.10', 'money', ('3.10',), 'EUR')], []),
    ('€ \n3', [('€ \n3', 'money', ('3',), 'EUR')], []),
    ('eur\n3', [('eur\n3', 'money', ('3',), 'EUR')], []),
    # ranges: a link of at most five characters between two numbers gives them one unit
    ('3 and 5 days', [('3', 'days', ('3',), None), ('5 days', 'days', ('5',), None)], []),
    ('3 -  5 days', [('3', 'number', ('3',), None), ('5 days', 'days', ('5',), None)], []),
    ('10 – 15%', [('10', 'percent', ('10',), None), ('15%', 'percent', ('15',), None)], []),
    ('3 to 5 days', [('3', 'days', ('3',), None), ('5 days', 'days', ('5',), None)], []),
    ('3\xa0to\xa05 days', [('3', 'days', ('3',), None), ('5 days', 'days', ('5',), None)], []),
    ('EUR 3.05 to 3.25', [('EUR 3.05', 'money', ('3.05',), 'EUR'), ('3.25', 'money', ('3.25',), 'EUR')], []),
    ('3 and  5 days', [('3', 'number', ('3',), None), ('5 days', 'days', ('5',), None)], []),
    # 24/7 is an idiom, not two figures
    ('24/7', [], []),
    ('24 / 7', [], []),
    ('24x7', [], []),
    ('a24/7', [], []),
    ('/24/7', [('24', 'number', ('24',), None), ('7', 'number', ('7',), None)], []),
    ('124/7', [('124', 'number', ('124',), None), ('7', 'number', ('7',), None)], []),
    ('open 24/7/365', [('24', 'number', ('24',), None), ('7', 'number', ('7',), None),
                       ('365', 'number', ('365',), None)], []),
    # a currency with a placeholder for the amount
    ('EUR xx.xx', [], ['EUR xx.xx']),
    ('TBD EUR', [], ['TBD EUR']),
    ('EUR TBC', [], ['EUR TBC']),
    ('N/A USD', [], ['N/A USD']),
    ('EUR ?', [], []),
    ('price: XX EUR', [], ['XX EUR']),
    ('<price> USD', [], ['<price> USD']),
    # thousands grouped with spaces
    ('10 000 units', [('10 000 units', 'quantity', ('10000',), None)], []),
    ('12\u202f500 EUR', [('12\u202f500 EUR', 'money', ('12500',), 'EUR')], []),
    ('1 000 000 pcs', [('1 000 000 pcs', 'quantity', ('1000000',), None)], []),
    ('2 500', [('2', 'number', ('2',), None), ('500', 'number', ('500',), None)], []),
    ('€ 1 625,00', [('€ 1 625,00', 'money', ('1625.00',), 'EUR')], []),
    # dates with month names, and a month word that is not a date
    ('Dec 9', [('Dec 9', 'date', ('PartialDate(year=None, month=12, day=9)',), None)], []),
    ('9 mar 2026', [('9 mar 2026', 'date', ('2026-03-09',), None)], []),
    ('ships in may', [], []),
    ('March 2026', [('March 2026', 'date', ('PartialDate(year=2026, month=3, day=None)',), None)], []),
    ('dec. 9', [('dec. 9', 'date', ('PartialDate(year=None, month=12, day=9)',), None)], []),
    # currency marks after the amount: words, codes, cents
    ('3 euros', [('3 euros', 'money', ('3',), 'EUR')], []),
    ('3 Dollars', [('3 Dollars', 'money', ('3',), 'USD')], []),
    ('3 US dollars', [('3 US dollars', 'money', ('3',), 'USD')], []),
    ('3 U.S. dollars', [('3 U.S. dollars', 'money', ('3',), 'USD')], []),
    ('3 usd', [('3 usd', 'money', ('3',), 'USD')], []),
    ('25 cents', [('25 cents', 'money', ('0.25',), None)], []),
    ('3 EUROS', [('3 EUROS', 'money', ('3',), 'EUR')], []),
    ('5 CHF', [('5 CHF', 'money', ('5',), 'CHF')], []),
    ('5 XYZ', [('5', 'number', ('5',), None)], []),
]


@pytest.mark.parametrize(("text", "figures", "bad"), CASES, ids=[c[0] for c in CASES])
def test_figures_around_the_cheap_tests(text: str, figures: list, bad: list) -> None:
    found, unreadable = extract_figures(text)
    assert [(f.text, f.kind, tuple(str(v) for v in f.values), f.currency) for f in found] == figures
    assert [token for token, _, _ in unreadable] == bad
    for f in found:
        assert text[f.start:f.end] == f.text


def test_parse_number_is_memoised_and_returns_the_same_readings() -> None:
    parse_number.cache_clear()
    first = parse_number("1,234")
    assert parse_number("1,234") is first  # the memo
    assert [str(v) for v in first] == ["1234", "1.234"]
    assert parse_number("3,1,0") is None and parse_number("3,1,0") is None
