"""Fixtures for the text reader's tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def seller(tmp_path):
    """A live offline seller on the demo data, with its own SQLite file: for conversations the reader's
    readings must hold up in (an acceptance that books the deal, a quantity that reaches the proposal)."""
    from agent.config import load_data
    from agent.service import Seller

    opened = Seller.open(*load_data(), f"sqlite:///{tmp_path / 'seller.db'}")
    try:
        yield opened
    finally:
        opened.close()
