"""PW109 persistent-connections: Django's ``CONN_MAX_AGE`` that leaks under ASGI or keeps dead connections."""

from __future__ import annotations

from poolwarden.check.django_settings import SettingsRule
from poolwarden.check.rule import example


class PersistentConnections(SettingsRule):
    CODE = "PW109"
    NAME = "persistent-connections"
    SUMMARY = "A Django database keeps persistent connections (`CONN_MAX_AGE`) under ASGI, or forever without health checks."
    WHAT = """
Reads the `DATABASES` setting a settings module writes (`DATABASES = {...}`, `DATABASES["x"] = ...`,
dj-database-url's `config(conn_max_age=...)`, later writes such as `DATABASES["default"]["CONN_MAX_AGE"]
= 60`) and flags, on the `CONN_MAX_AGE` key:

- `CONN_MAX_AGE` other than 0 (`None` included) while the project serves ASGI — an error;
- `CONN_MAX_AGE = None` (keep each connection forever) without `CONN_HEALTH_CHECKS = True` — a warning.

The project serves ASGI when some module of the checked tree says so: `ASGI_APPLICATION` set,
`daphne` or `channels` in `INSTALLED_APPS`, channels' `ProtocolTypeRouter`, `uvicorn.run()`, or a
uvicorn worker class for gunicorn (`"uvicorn.workers.UvicornWorker"`). An `asgi.py` calling
`get_asgi_application()` counts only when no module calls `get_wsgi_application()`: `startproject`
writes both files, so the ASGI one alone says nothing. A server started from a shell script or a
Dockerfile is not Python: when that is how the project serves ASGI, the rule cannot see it.

Values read from the environment are followed as far as literals go: `env.int("CONN_MAX_AGE",
default=60)`, `int(os.environ.get("CONN_MAX_AGE", "60"))`, `config("CONN_MAX_AGE", cast=int,
default=60)` are judged on their default, and the message names the variable that changes it. A value
the code computes (no default, a helper's result) is not judged. An entry of another database (a
literal `ENGINE` that is not PostgreSQL's) is not judged; one whose engine the code does not show (a
split settings module writing into an entry another one made) is. When another module writes the
setting into the entry (`production.py`: `DATABASES["default"]["CONN_MAX_AGE"] = 0` over `base.py`'s
entry), that module decides: the entry it overrides is not reported. Test modules are not checked.
"""
    WHY = """
Under ASGI, Django runs each request's synchronous ORM work on a thread of its own, used once.
A persistent connection belongs to the thread that opened it, and Django only closes old connections
at the start and end of a request *on that thread*: the connections of finished requests are never
reused and never closed, and they pile up until PostgreSQL answers "too many clients" (Django ticket
33497; Django's documentation: disable persistent connections under ASGI, or use a pool).

`CONN_MAX_AGE = None` keeps a connection for the life of the process. Without
`CONN_HEALTH_CHECKS`, a connection killed by a database restart, a failover or an idle timeout on a
proxy is handed to the next request of its thread, which fails before Django drops it: one error per
thread after every restart.
"""
    EXAMPLE = """
# settings.py (the project serves ASGI: asgi.py under uvicorn)
ASGI_APPLICATION = "config.asgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "CONN_MAX_AGE": 60,
        "OPTIONS": {"connect_timeout": 5},
    }
}
"""
    USE_INSTEAD = """
ASGI_APPLICATION = "config.asgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "CONN_MAX_AGE": 0,  # or the native pool: "OPTIONS": {"pool": {"max_size": 10, "timeout": 5}}
        "OPTIONS": {"connect_timeout": 5},
    }
}
"""
    SEVERITY = "error"

    VALID = [
        example("""
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "CONN_MAX_AGE": 60,
        "OPTIONS": {"connect_timeout": 5},
    }
}
""", note="near miss: persistent connections under WSGI (wsgi.py makes the application) are what they are for",
            wsgi="from django.core.wsgi import get_wsgi_application\n\napplication = get_wsgi_application()\n",
            asgi="from django.core.asgi import get_asgi_application\n\napplication = get_asgi_application()\n"),
        example("""
ASGI_APPLICATION = "config.asgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "CONN_MAX_AGE": 0,
        "OPTIONS": {"connect_timeout": 5, "pool": {"min_size": 2, "max_size": 10, "timeout": 5}},
    }
}
"""),
        example("""
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "CONN_MAX_AGE": None,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {"connect_timeout": 5},
    }
}
"""),
        example("""
import environ

env = environ.Env()
INSTALLED_APPS = ["daphne", "django.contrib.auth", "billing"]
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE")
""", note="near miss: under ASGI, but the value has no literal default: not judged"),
        example("""
ASGI_APPLICATION = "config.asgi.application"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3", "CONN_MAX_AGE": 60}}
""", note="near miss: another database"),
        example("""
import os

import dj_database_url

ASGI_APPLICATION = "shop.asgi.application"
DB_CONN_MAX_AGE = int(os.environ.get("DB_CONN_MAX_AGE", 0))
DEFAULT_DB = "default"
DATABASES = {DEFAULT_DB: dj_database_url.config(conn_max_age=DB_CONN_MAX_AGE)}
""", note="under ASGI, persistent connections off unless the environment turns them on (its default: 0)"),
        example("""
ASGI_APPLICATION = "config.asgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "CONN_MAX_AGE": 60,
        "OPTIONS": {"connect_timeout": 5},
    }
}
""", note="split settings: the served settings (production.py) turn persistent connections off in this base",
            production="from .example import *  # noqa: F403\n\nDATABASES['default']['CONN_MAX_AGE'] = 0\n"),
    ]
    INVALID = [
        example("""
import os

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "CONN_MAX_AGE": int(os.environ.get("CONN_MAX_AGE", "60")),  # error
        "OPTIONS": {"connect_timeout": 5},
    }
}
""", note="the project serves ASGI: another module starts uvicorn; the default of the environment variable is judged",
            serve="import uvicorn\n\nif __name__ == '__main__':\n    uvicorn.run('pkgx.asgi:application', workers=4)\n"),
        example("""
from .base import *  # noqa: F403

DATABASES["default"]["CONN_MAX_AGE"] = 600  # error
""", note="split settings: production.py writes into base.py's entry, and the project serves ASGI (base.py)",
            base="ASGI_APPLICATION = 'config.asgi.application'\nDATABASES = {'default': {'ENGINE': "
                 "'django.db.backends.postgresql', 'NAME': 'app', 'OPTIONS': {'connect_timeout': 5}}}\n"),
        example("""
import dj_database_url

DATABASES = {"default": dj_database_url.config(conn_max_age=600)}  # error
""", note="asgi.py makes the application, and no module makes a WSGI one",
            asgi="import os\n\nfrom django.core.asgi import get_asgi_application\n\n"
                 "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'pkgx.example')\napplication = get_asgi_application()\n"),
        example("""
from decouple import config

DATABASES = {
    "default": {
        "ENGINE": "django.contrib.gis.db.backends.postgis",
        "NAME": "maps",
        "CONN_MAX_AGE": config("CONN_MAX_AGE", cast=int, default=None),  # error
        "OPTIONS": {"connect_timeout": 5},
    }
}
""", note="a warning: connections kept forever (the default of `CONN_MAX_AGE`) with no health checks"),
        example("""
import environ

env = environ.Env()
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "CONN_MAX_AGE": None,  # error
        "CONN_HEALTH_CHECKS": env.bool("CONN_HEALTH_CHECKS", default=False),
        "OPTIONS": {"connect_timeout": 5},
    }
}
""", note="a warning: health checks off unless the environment turns them on"),
    ]
