"""poolwarden keeps PostgreSQL connection pools honest in Python services."""

__version__ = "0.1.0"

__all__ = ["__version__"]
