"""Tests of the guardrail."""
