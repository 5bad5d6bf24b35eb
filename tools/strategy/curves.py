"""Time-based aspiration curves (Boulware, linear, conceder).

The share of the concession room given up at time t in [0, 1] is t ** e:
e > 1 holds firm until late (Boulware), e = 1 concedes evenly, e < 1
concedes early (Conceder), as in NegMAS's polynomial aspiration.
"""

from __future__ import annotations

from decimal import Decimal

ONE = Decimal(1)
ZERO = Decimal(0)


def conceded_share(t: Decimal, exponent: Decimal) -> Decimal:
    """Share of the room between start and walk-away conceded at time t."""
    if t <= 0:
        return ZERO
    if t >= 1:
        return ONE
    return t ** exponent


def progress(round_: int, max_rounds: int, elapsed_share: Decimal | None = None) -> Decimal:
    """t for round `round_` (1-based) of `max_rounds`; the later of round and clock progress."""
    by_round = ONE if max_rounds <= 1 else Decimal(min(max(round_ - 1, 0), max_rounds - 1)) / (max_rounds - 1)
    if elapsed_share is None:
        return by_round
    return max(by_round, min(max(elapsed_share, ZERO), ONE))
