"""Exact money: Decimal amounts, ISO 4217 currencies and half-up rounding.

Every figure that reaches a buyer passes through here, so it is the one
place that knows how many minor units a currency has and how to round.
Floats never enter: strings and ints are parsed, floats are refused.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 active codes and their minor units (digits after the point).
_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_FOUR = "CLF UYW"
_TWO = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL "
    "BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK "
    "DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HRK HTG "
    "HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL "
    "MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD "
    "PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL "
    "SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU "
    "UZS VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL"
)

MINOR_UNITS: dict[str, int] = {
    **{c: 2 for c in _TWO.split()},
    **{c: 0 for c in _ZERO.split()},
    **{c: 3 for c in _THREE.split()},
    **{c: 4 for c in _FOUR.split()},
}

HUNDRED = Decimal(100)


def is_currency(code: str) -> bool:
    """True when `code` is an active ISO 4217 currency code."""
    return code in MINOR_UNITS


# The steps 10 ** -places that currencies (0 to 4 minor digits) and shown percentages round to: building
# one (`Decimal(1).scaleb(-places)`) costs more than the rounding itself. Decimals are immutable: shared.
_STEPS: dict[int, Decimal] = {places: Decimal(1).scaleb(-places) for places in range(5)}


def _step(places: int) -> Decimal:
    """10 ** -places, exactly: Decimal('0.01') for 2."""
    step = _STEPS.get(places) if type(places) is int else None
    return Decimal(1).scaleb(-places) if step is None else step


def quantum(currency: str) -> Decimal:
    """The smallest amount of `currency`, e.g. Decimal('0.01') for EUR."""
    try:
        digits = MINOR_UNITS[currency]
    except KeyError:
        raise ValueError(f"unknown ISO 4217 currency {currency!r}") from None
    return _step(digits)


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit (the only rounding we use for prices)."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def ceil_money(amount: Decimal, currency: str) -> Decimal:
    """Round up to the minor unit: the smallest price that still respects a lower bound."""
    return amount.quantize(quantum(currency), rounding=ROUND_CEILING)


def floor_money(amount: Decimal, currency: str) -> Decimal:
    """Round down to the minor unit: the largest price that still respects an upper bound (a buyer's budget)."""
    return amount.quantize(quantum(currency), rounding=ROUND_FLOOR)


def to_decimal(value: object) -> Decimal:
    """Parse a decimal string or int; floats and garbage are refused.

    Floats are refused because they have already lost the exact value
    ("0.1" is not 0.1 as a float); money travels as decimal strings.
    """
    # The wire's strings and the domain's Decimals first: every Dec field of every model comes through here.
    if isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal number") from None
    elif isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):  # an int to Python: `true` would be 1
        raise ValueError(f"a boolean ({str(value).lower()}) is not a decimal number")
    elif isinstance(value, float):
        raise ValueError("must be a decimal string, not a float")
    elif isinstance(value, int):
        result = Decimal(value)
    else:
        raise ValueError(f"{type(value).__name__} is not a decimal number")
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return result


def percent_of(part: Decimal, whole: Decimal) -> Decimal:
    """`part` as a percentage of `whole`, exact (no rounding)."""
    if whole == 0:
        return Decimal(0)
    return part * HUNDRED / whole


def fmt_money(amount: Decimal, currency: str) -> str:
    """Canonical decimal string with exactly the currency's minor digits."""
    return str(round_money(amount, currency))


def round_percent(value: Decimal, places: int = 2) -> Decimal:
    """A percentage rounded half-up to `places` decimals: how discounts travel on the wire.

    Decisions use the exact figure; only what is shown is rounded.
    """
    return value.quantize(_step(places), rounding=ROUND_HALF_UP)


def fmt_percent(value: Decimal, places: int = 2) -> str:
    """A percentage as a decimal string, rounded half-up for display only."""
    return format(value.quantize(_step(places), rounding=ROUND_HALF_UP).normalize(), "f")
