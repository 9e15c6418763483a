"""poolwarden.testing.django: DATABASES pointed at the throwaway cluster, for pytest-django.

Django's settings are process-wide (and configuring them here would switch pytest-django on for
the rest of this session), so each case runs in a subprocess. The fixture's own path, through
pytest-django's ``django_db_setup``, is the example's suite (tests/test_django_example.py).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poolwarden.testing.cluster import PostgresCluster
from poolwarden.testing.django import point_at

from .conftest import ROOT

SCRIPT = """
import json, sys, types
import django
from django.conf import settings

settings.configure(DATABASES={
    "default": {"ENGINE": "django.db.backends.postgresql", "NAME": sys.argv[1], "HOST": "db.invalid",
                "PORT": "1", "USER": "app", "PASSWORD": "wrong", "OPTIONS": {"connect_timeout": 5}},
    "local": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
})
django.setup()
from django.db import connections
from poolwarden.testing.django import use_cluster

cluster = types.SimpleNamespace(host=sys.argv[2], port=int(sys.argv[3]))  # what use_cluster reads of a cluster
errors = []
for aliases in (["local"], ["replica"]):
    try:
        use_cluster(cluster, aliases)
    except ValueError as exc:
        errors.append(str(exc))
wrapper = connections["default"]  # made before the change: sees it all the same
changed = use_cluster(cluster)
with wrapper.cursor() as cursor:
    cursor.execute("SELECT current_database(), current_user")
    row = cursor.fetchone()
connections.close_all()
print(json.dumps({"changed": changed, "row": row, "errors": errors,
                  "options": settings.DATABASES["default"]["OPTIONS"], "local": settings.DATABASES["local"]["NAME"]}))
"""


def test_use_cluster_points_postgresql_entries_at_the_cluster(postgres: str, postgres_cluster: PostgresCluster) -> None:
    name = postgres.rsplit("/", 1)[1]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT / "src")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, name, postgres_cluster.host, str(postgres_cluster.port)],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["changed"] == ["default"] and out["row"] == [name, "postgres"]
    assert out["options"] == {"connect_timeout": 5} and out["local"] == ":memory:"  # the rest stays the project's
    assert out["errors"] == [
        "DATABASES['local'] cannot use the PostgreSQL cluster: its ENGINE is 'django.db.backends.sqlite3'",
        "DATABASES['replica'] cannot use the PostgreSQL cluster: there is no such entry",
    ]


ENGINES = ["django.db.backends.postgresql", "django.contrib.gis.db.backends.postgis", "django.db.backends.sqlite3",
           "django.db.backends.mysql", "", "myproject.backends.postgres"]
TARGET = {"HOST": "127.0.0.1", "PORT": "5999", "USER": "postgres", "PASSWORD": "postgres"}
_entry = st.fixed_dictionaries(
    {"ENGINE": st.sampled_from(ENGINES)},
    optional={"NAME": st.text(max_size=8), "HOST": st.text(max_size=8), "PORT": st.sampled_from(["", "5432", 5432]),
              "OPTIONS": st.dictionaries(st.sampled_from(["connect_timeout", "sslmode"]), st.integers(0, 9)),
              "TEST": st.fixed_dictionaries({"NAME": st.text(max_size=8)})})
_databases = st.dictionaries(st.text(min_size=1, max_size=6), _entry, max_size=5)
_NAMES = st.text(min_size=1, max_size=6)
#: generated inputs thrown by this module: 150 DATABASES mappings, each with an optional alias list
GENERATED = 150


def _postgres(entry: dict[str, Any]) -> bool:
    return entry["ENGINE"] in ENGINES[:2]


@settings(max_examples=GENERATED, deadline=None)
@given(databases=_databases, aliases=st.one_of(st.none(), st.lists(_NAMES, max_size=3)), data=st.data())
def test_point_at_changes_exactly_the_postgresql_entries(databases: dict[str, dict[str, Any]],
                                                         aliases: list[str] | None, data: st.DataObject) -> None:
    if aliases is not None and databases and data.draw(st.booleans()):
        aliases = [*aliases, data.draw(st.sampled_from(sorted(databases)))]  # names that exist, too
    before = copy.deepcopy(databases)
    bad = [a for a in aliases or [] if a not in databases or not _postgres(databases[a])]
    if bad:
        with pytest.raises(ValueError, match=r"cannot use the PostgreSQL cluster: (its ENGINE is|there is no such)"):
            point_at(databases, TARGET, aliases)
        assert databases == before  # checked before anything changed
        return
    changed = point_at(databases, TARGET, aliases)
    assert changed == (aliases if aliases is not None else [a for a, e in before.items() if _postgres(e)])
    for alias, entry in databases.items():
        expected = {**before[alias], **TARGET} if alias in changed else before[alias]
        assert entry == expected  # NAME, OPTIONS, TEST stay the project's; other engines untouched
