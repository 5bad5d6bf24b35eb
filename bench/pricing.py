"""Pricing benchmark: line prices per second for a 10-line quote, and catalog load time.

Run: `make bench` or `.venv/bin/python bench/pricing.py [--skus 10000] [--seconds 3]`.
Targets (issue 2, on the 2-core dev machine): >= 20,000 line prices/s; a
10,000-SKU catalog loads in < 2 s. Results go in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gen_catalog import catalog_dict, write_catalog  # noqa: E402

from agent.config import load_data  # noqa: E402
from tools.catalog import load_catalog  # noqa: E402
from tools.policy.desk import Desk  # noqa: E402
from tools.pricing.engine import price_quote  # noqa: E402
from tools.pricing.models import BuyerContext, QuoteRequest  # noqa: E402


def bench_quotes(seconds: float) -> dict:
    catalog, policy = load_data()
    skus = sorted(catalog.products)[:10]
    quantities = [1, 50, 120, 480, 500, 999, 12, 250, 2000, 75]
    requests = [
        QuoteRequest(region=region, segment=segment, payment_terms=terms, on=dt.date(2026, 12, 1),
                     items=[{"sku": s, "quantity": q} for s, q in zip(skus, quantities)])
        for region in ("US", "EU") for segment in ("standard", "strategic") for terms in ("NET30", "NET60")
    ]
    quotes = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for req in requests:
            price_quote(catalog, req)
        quotes += len(requests)
    elapsed = time.perf_counter() - start
    buyer = BuyerContext(region="EU", on=dt.date(2026, 12, 1))
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds / 2:
        desk = Desk(catalog, policy, buyer)  # a desk remembers its surfaces: a fresh one computes them
        for s, q in zip(skus, quantities):
            desk.surface(s, q)
        n += len(skus)
    surf_elapsed = time.perf_counter() - start
    return {"quotes_per_s": quotes / elapsed, "line_prices_per_s": quotes * 10 / elapsed,
            "decision_surfaces_per_s": n / surf_elapsed}


def bench_load(n: int) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        doc = catalog_dict(n)
        json_path = Path(tmp) / "catalog.json"
        json_path.write_text(json.dumps(doc), encoding="utf-8")
        yaml_path = write_catalog(Path(tmp) / "catalog.yaml", n)
        for label, path in (("json", json_path), ("yaml", yaml_path)):
            start = time.perf_counter()
            catalog = load_catalog(path)
            out[f"load_{label}_s"] = time.perf_counter() - start
            assert len(catalog) == n
            out[f"{label}_mb"] = path.stat().st_size / 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    result = {"machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
              "python": platform.python_version(), "date": dt.date.today().isoformat(),
              **bench_quotes(args.seconds), "skus": args.skus, **bench_load(args.skus)}
    for key, value in result.items():
        print(f"{key:>26}: {value:,.3f}" if isinstance(value, float) else f"{key:>26}: {value}")


if __name__ == "__main__":
    main()
