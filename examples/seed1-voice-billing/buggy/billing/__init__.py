"""Post-call billing for the voice-assistant platform (one database per reseller tenant)."""
