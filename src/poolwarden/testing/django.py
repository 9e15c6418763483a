"""pytest-django on poolwarden's throwaway PostgreSQL: its test databases live in ``postgres_cluster``.

pytest-django creates its test databases (``test_<NAME>``, with migrations) in its session fixture
``django_db_setup`` from ``settings.DATABASES``, right after the session fixture
``django_db_modify_db_settings``, which exists to be overridden. This module overrides it: import
it into your ``conftest.py``::

    from poolwarden.testing.django import django_db_modify_db_settings  # noqa: F401

and every PostgreSQL entry of ``DATABASES`` gets the cluster's ``HOST``, ``PORT``, ``USER`` and
``PASSWORD`` (``NAME`` and ``OPTIONS`` stay yours) before any test database is made; pytest-django
makes and drops them as usual. With your own override, call :func:`use_cluster` in it.

The poolwarden fixtures then work on Django's database: ``pg_saturate(postgres_cluster)`` makes
Django's next connect fail with the server's own "too many clients already", ``pg_outage``
stops the server, and the leak guard fails a test that leaves a connection open (Django's
``TestCase`` closes its connections at the end of each test; ``CONN_MAX_AGE`` connections kept by
other threads are what it catches). Under pytest-xdist each worker has its own cluster.

Importing this module does not import Django; :func:`use_cluster` does.
"""

from __future__ import annotations

from typing import Any

import pytest

from poolwarden.testing.cluster import PASSWORD, SUPERUSER, PostgresCluster

__all__ = ["POSTGRES_ENGINES", "cluster_settings", "django_db_modify_db_settings", "point_at", "use_cluster"]

#: The ``ENGINE`` prefixes of Django's PostgreSQL backends (PostGIS's is a PostgreSQL one too).
POSTGRES_ENGINES = ("django.db.backends.postgresql", "django.contrib.gis.db.backends.postgis")


def cluster_settings(cluster: PostgresCluster) -> dict[str, str]:
    """The part of a ``DATABASES`` entry that reaches ``cluster``: ``HOST``, ``PORT``, ``USER``, ``PASSWORD``."""
    return {"HOST": cluster.host, "PORT": str(cluster.port), "USER": SUPERUSER, "PASSWORD": PASSWORD}


def point_at(databases: dict[str, dict[str, Any]], target: dict[str, str],
             aliases: list[str] | None = None) -> list[str]:
    """Update the PostgreSQL entries of ``databases`` (a ``DATABASES`` mapping) with ``target``, in place.

    Every PostgreSQL entry when ``aliases`` is None (entries of other engines, say SQLite, are left
    alone); else exactly the named ones, and naming one that is missing or not PostgreSQL raises
    ``ValueError`` before anything changes. Returns the aliases changed, in ``databases``' order
    (or ``aliases``' order when given). Nothing but ``target``'s keys changes.
    """
    if aliases is not None:
        for alias in aliases:
            engine = str(databases.get(alias, {}).get("ENGINE", ""))
            if not engine.startswith(POSTGRES_ENGINES):
                what = f"its ENGINE is {engine!r}" if alias in databases else "there is no such entry"
                raise ValueError(f"DATABASES[{alias!r}] cannot use the PostgreSQL cluster: {what}")
    chosen = aliases if aliases is not None else [
        alias for alias, entry in databases.items() if str(entry.get("ENGINE", "")).startswith(POSTGRES_ENGINES)]
    for alias in chosen:
        databases[alias].update(target)
    return list(chosen)


def use_cluster(cluster: PostgresCluster, aliases: list[str] | None = None) -> list[str]:
    """Point ``settings.DATABASES`` at ``cluster`` (:func:`point_at` with :func:`cluster_settings`).

    Entries are changed in place, so Django connections made from them already
    (``django.db.connections``) see the change too; returns the aliases changed.
    """
    from django.conf import settings  # type: ignore[import-untyped, unused-ignore]

    return point_at(settings.DATABASES, cluster_settings(cluster), aliases)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(postgres_cluster: PostgresCluster,
                                 django_db_modify_db_settings_parallel_suffix: None) -> None:
    """pytest-django's hook fixture, overridden: every PostgreSQL entry of ``DATABASES`` reaches
    ``postgres_cluster`` (pytest-django's xdist / tox suffixes of the test database names are kept)."""
    use_cluster(postgres_cluster)
