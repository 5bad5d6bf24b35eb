"""Generate a large synthetic catalog file for load benchmarks (deterministic for a seed)."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import yaml

CATEGORIES = ["bearings", "fasteners", "sensors", "motors", "safety", "power-transmission", "hydraulics", "pneumatics"]


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def catalog_dict(n: int, seed: int = 7) -> dict:
    rng = random.Random(seed)
    products = []
    for i in range(n):
        cost = Decimal(rng.randint(50, 50_000)) / 100
        lst = cost * Decimal(rng.choice(["1.8", "2.0", "2.4", "3.0"]))
        t1, t2 = lst * Decimal("0.94"), lst * Decimal("0.88")
        products.append({
            "sku": f"GEN-{i:05d}",
            "name": f"Generated part {i}",
            "description": f"Synthetic {CATEGORIES[i % len(CATEGORIES)]} item number {i} for load benchmarks.",
            "category": CATEGORIES[i % len(CATEGORIES)],
            "unit": "H87",
            "specs": {"size_mm": rng.randint(3, 200), "material": rng.choice(["steel", "A2", "brass", "PA66"])},
            "related": [f"GEN-{(i + 1) % n:05d}"] if n > 1 else [],
            "cost": {"USD": _money(cost), "EUR": _money(cost * Decimal("0.92"))},
            "prices": {
                book: {"list": _money(lst * fx),
                       "tiers": [{"min": 100, "max": 499, "price": _money(t1 * fx)},
                                 {"min": 500, "price": _money(t2 * fx)}]}
                for book, fx in (("US-USD", Decimal(1)), ("EU-EUR", Decimal("0.92")))
            },
            "inventory": {"on_hand": rng.randint(0, 20_000)},
            "capacity": {"lead_time_days": 2, "restock_lead_time_days": 21, "weekly_capacity": 1000},
        })
    return {
        "version": 1,
        "vendor": "Benchmark Supply",
        "price_books": [{"id": "US-USD", "region": "US", "currency": "USD", "tier_mode": "range"},
                        {"id": "EU-EUR", "region": "EU", "currency": "EUR", "tier_mode": "slab"}],
        "segments": [{"id": "standard"}, {"id": "strategic"}],
        "products": products,
        "rules": [
            {"id": "seg-strategic", "kind": "segment", "priority": 10, "when": {"segments": ["strategic"]},
             "effect": {"percent": "-5"}},
            {"id": "promo-bearings", "kind": "promotion", "when": {"categories": ["bearings"]},
             "effect": {"percent": "-8"}},
            {"id": "stock-low", "kind": "stock", "priority": 20, "when": {"stock_below": 25},
             "effect": {"no_discounts": True}},
            {"id": "deal-10k", "kind": "deal_size", "when": {"deal_value_at_least": {"USD": "10000", "EUR": "9200"}},
             "effect": {"percent": "-2"}},
            {"id": "terms-net60", "kind": "payment_terms", "when": {"payment_terms": ["NET60"]},
             "effect": {"percent": "1"}},
        ],
    }


def write_catalog(path: Path, n: int, seed: int = 7) -> Path:
    path.write_text(yaml.safe_dump(catalog_dict(n, seed), sort_keys=False), encoding="utf-8")
    return path
