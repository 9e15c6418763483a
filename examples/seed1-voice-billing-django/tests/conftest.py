"""pytest-django's test database lives in poolwarden's throwaway cluster (``postgres_cluster``)."""

from poolwarden.testing.django import django_db_modify_db_settings  # noqa: F401
