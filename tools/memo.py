"""A bounded memo for the caches on a turn's path (decision surfaces, moves read back from JSON, what the
guardrail and the plan derive from a surface): a dict that drops its oldest entry first.

Reads take no lock (a dict read is atomic); writes take one, since the turns of several threads share a memo.
"""

from __future__ import annotations

import threading
from typing import Any


class BoundedMemo(dict):
    """At most `size` entries; `put` drops the oldest (first in, first out) to make room."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self._lock = threading.Lock()

    def put(self, key: Any, value: Any) -> Any:
        """Store `value` under `key` and return it."""
        with self._lock:
            if len(self) >= self.size and key not in self:
                del self[next(iter(self))]
            self[key] = value
        return value
