"""Shared pytest setup for the whole suite.

Puts the tests directory on sys.path so any test, in any subfolder, can
`import gen` (the hypothesis strategies in tests/gen.py). Add shared
fixtures below.
"""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
