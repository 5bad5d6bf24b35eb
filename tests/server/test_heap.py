"""A server worker's start-up state is frozen out of the cyclic GC (agent/server/heap.py).

Run in a child process: freezing the test process would keep every later test's objects forever.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

CHILD = """
import gc, json
from agent.server.app import app_from_env
before = gc.get_freeze_count()
app = app_from_env()
print(json.dumps({"before": before, "after": gc.get_freeze_count()}))
"""


def test_a_worker_built_by_the_app_factory_freezes_its_start_up_state(tmp_path) -> None:
    from agent.server.app import SETTINGS_ENV

    env = {**os.environ, SETTINGS_ENV: json.dumps({"db_url": f"sqlite:///{tmp_path / 'dd.db'}"}),
           "DEALDESK_LOG": str(tmp_path / "decisions.log")}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["before"] == 0 and seen["after"] > 10_000  # the catalog, policy, graph and imports


def test_settle_collects_then_freezes() -> None:
    code = ("import gc; from agent.server.heap import settle; a = []; a.append(a); del a; "
            "n = settle(); print(n, gc.get_count()[2], gc.get_freeze_count() == n)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    frozen, gen2, same = out.stdout.split()
    assert int(frozen) > 0 and gen2 == "0" and same == "True"
