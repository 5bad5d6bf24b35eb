"""A circuit breaker for the real model: stop asking a model that keeps failing, ask again later.

Without it a model that times out costs every turn its whole time budget (a slow endpoint made each turn
wait ~24 s before the offline model answered). After `failures` calls in a row gave up on an outage
(timeouts, connection errors, 5xx, 429 after the retries, or the turn's time used up by requests), the
circuit opens: calls are answered offline at once, with no request, for `cooldown` seconds. Then one
call is let through (half-open); if the model answers, the circuit closes, if it fails again the circuit
opens for another cooldown. An answer the model gave but that could not be used (a 400, a refusal, bad
JSON) is not an outage: the endpoint is up.

One breaker per model (and its bound copies), so per server process. Pure state and a clock; the
`ResilientModel` reports each call's outcome.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True)
class Transition:
    """A change of the breaker's state, for the log: `state` is the new one."""

    state: str
    failures: int  # outages in a row when it happened
    cooldown: float  # seconds the circuit stays open (when it opened)


class CircuitBreaker:
    """Counts outages in a row; `allow()` says whether a call may make requests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.in_a_row = 0
        self.opened_at: float | None = None
        self._trial = False  # a half-open call is under way

    def state(self, cooldown: float) -> str:
        with self._lock:
            return self._state(cooldown)

    def _state(self, cooldown: float) -> str:
        if self.opened_at is None:
            return CLOSED
        if self._trial or self._clock() - self.opened_at >= cooldown:
            return HALF_OPEN
        return OPEN

    def allow(self, cooldown: float) -> bool:
        """May a call make requests now? While open, no; once the cooldown is over, one call at a time (the trial)."""
        with self._lock:
            if self.opened_at is None:
                return True
            if self._trial or self._clock() - self.opened_at < cooldown:
                return False
            self._trial = True
            return True

    def retry_in(self, cooldown: float) -> float:
        """Seconds until a call is let through again (0 when closed)."""
        with self._lock:
            if self.opened_at is None:
                return 0.0
            return max(0.0, cooldown - (self._clock() - self.opened_at))

    def succeeded(self) -> Transition | None:
        """The model answered (usable or not): the circuit closes."""
        with self._lock:
            was_open = self.opened_at is not None
            self.in_a_row, self.opened_at, self._trial = 0, None, False
            return Transition(CLOSED, 0, 0.0) if was_open else None

    def failed(self, threshold: int, cooldown: float) -> Transition | None:
        """A call gave up on an outage: the circuit opens at `threshold` in a row, and again after a failed trial."""
        with self._lock:
            self.in_a_row += 1
            if self._trial or (self.opened_at is None and self.in_a_row >= threshold):
                self.opened_at, self._trial = self._clock(), False
                return Transition(OPEN, self.in_a_row, cooldown)
            return None

    def released(self) -> None:
        """A call let through made no request after all (no time left, a budget): no news of the model."""
        with self._lock:
            self._trial = False
