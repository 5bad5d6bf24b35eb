"""The HTTP server: A2A 1.0 (a2a-sdk) and a REST API over the same seller, keys and database."""
