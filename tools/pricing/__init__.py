"""Executable pricing: volume tiers, price books, segments and dynamic rules."""
