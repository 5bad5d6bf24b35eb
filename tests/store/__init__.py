"""Storage-layer tests (agent.store) on SQLite and PostgreSQL; a package so module names cannot clash."""
