"""Tests of the offline model's plain-text understanding; a package so module names cannot clash."""
