"""The pricing date is today in UTC, whatever the host's time zone.

The QA finding: `dealdesk price` and `POST /v1/quotes` priced on the host's local date (a promotion ending
today ended at local midnight), while negotiations price on the UTC date: under TZ=Pacific/Kiritimati a
quote and the bot's offer could apply different promotions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import datetime as dt, json
from tools.pricing.engine import today
from tools.pricing.models import BuyerContext
from agent.offline.understand import understand
utc = dt.datetime.now(dt.UTC).date()
print(json.dumps({"utc": str(utc), "local": str(dt.date.today()), "today": str(today()),
                  "buyer": str(BuyerContext(region="EU").on)}))
"""


def _dates(tz: str) -> dict[str, str]:
    env = {**os.environ, "TZ": tz, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout)


def test_the_pricing_date_is_the_utc_date_in_any_time_zone() -> None:
    # 26 hours apart: at any instant one of the two has a local date other than UTC's
    seen = [_dates("Etc/GMT-14"), _dates("Etc/GMT+12")]
    assert any(d["local"] != d["utc"] for d in seen)
    for d in seen:
        assert d["today"] == d["utc"] and d["buyer"] == d["utc"], d
