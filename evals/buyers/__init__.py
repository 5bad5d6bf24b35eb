"""Simulated procurement agents for `dealdesk eval simulate` (reactive, deterministic, seeded)."""

from evals.buyers.base import Scenario, SimBuyer
from evals.buyers.strategies import STRATEGIES

__all__ = ["STRATEGIES", "Scenario", "SimBuyer"]
