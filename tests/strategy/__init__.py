"""Tests of the concession strategy."""
