"""Shared pytest setup for the whole suite.

Puts the tests directory on sys.path so any test, in any subfolder, can
`import gen` (the hypothesis strategies in tests/gen.py). Add shared
fixtures below.
"""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:  # appended, so tests/agent and tests/evals never shadow the real packages
    sys.path.append(_TESTS)

import os  # noqa: E402

from agent.records import configure_logging  # noqa: E402

# Decision records still go through structlog as JSON, into the void: the
# tests read them from the store, and rendering thousands of lines per run
# would only slow the suite. tests/agent/test_records.py checks the JSON lines.
configure_logging(open(os.devnull, "w"))  # noqa: SIM115
