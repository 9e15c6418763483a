"""Email enricher daemon: verifies job-ad contact addresses against an external API."""
