"""Annotated field types shared by every pydantic model of the domain.

Money and percentages are Decimals parsed from strings (or ints); a float is
refused at the boundary, so no binary rounding ever reaches a price.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer

from tools.datafile import refuse_bool
from tools.money import is_currency, to_decimal


def _currency(code: str) -> str:
    if not is_currency(code):
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    return code


def _dec_str(value: Decimal) -> str:
    return format(value, "f")


# A decimal that serialises as a string (never a JSON number).
Dec = Annotated[Decimal, BeforeValidator(to_decimal), PlainSerializer(_dec_str, return_type=str)]
# Money and prices: non-negative decimals.
Money = Annotated[Dec, Field(ge=0)]
# A percentage, e.g. "15" for 15 %.
Percent = Annotated[Dec, Field(ge=-100, le=100)]
# A discount limit in percent of the list price: 0..100.
DiscountPercent = Annotated[Dec, Field(ge=0, le=100)]
CurrencyCode = Annotated[str, AfterValidator(_currency)]
# Ids used in files: letters, digits and - _ . /
Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-/]*$")]

# In the vendor's files: a bool is an int to Python, so `on_hand: true` would load as 1 unit and
# `floor_price: {EUR: true}` fail as "not a float": both are refused as what they are.
Count = Annotated[int, BeforeValidator(refuse_bool("a whole number"))]
Price = Annotated[Money, BeforeValidator(refuse_bool('a price; write a decimal string such as "3.50"'))]
