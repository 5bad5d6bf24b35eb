"""The offline model's deterministic parts: plain-text understanding of buyer messages (no ML, no network)."""
