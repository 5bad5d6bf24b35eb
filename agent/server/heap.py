"""What a server process built at start-up, taken out of the cyclic garbage collector's sweeps.

A server process holds the catalog, the policy, the compiled graph and its imports for its whole
life. A full (generation 2) collection walks every one of those objects: the turn that pays one takes
over 100 ms instead of 20 (`bench/turn.py` counts them, and `--freeze` runs it as a server does). Python's
`gc.freeze()` moves everything alive at that moment to a permanent generation that collections skip
(the use the documentation gives it: a process that builds its state once, then serves).

What it costs: objects frozen here are still freed by reference counting; only a reference cycle among
them that later becomes garbage (say, part of a catalog replaced by a reload) is never collected.
"""

from __future__ import annotations

import gc


def settle() -> int:
    """Collect once, then freeze what is left; returns how many objects are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
