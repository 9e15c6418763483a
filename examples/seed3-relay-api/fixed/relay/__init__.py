"""relay-api: the HTTP API of a music relay, on Neon PostgreSQL (Fly machines)."""
