"""poolwarden.testing: real, throwaway PostgreSQL for tests (the pytest plugin lives in ``plugin``)."""

from poolwarden.testing.cluster import PostgresCluster, PostgresNotFound, find_pg_bin

__all__ = ["PostgresCluster", "PostgresNotFound", "find_pg_bin"]
