"""CoderDen: coding-practice API (Flask) and its periodic jobs (Celery beat)."""
