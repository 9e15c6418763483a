"""Settings of the system-check test project: every DATABASES knob comes from the environment.

PWS_CONN_MAX_AGE ("none" for None), PWS_HEALTH ("1"), PWS_POOL (JSON: true or a dict), PWS_TIMEOUT
(connect_timeout), PWS_ASGI ("1": ASGI_APPLICATION is set), PWS_DB_HOST / PWS_DB_PORT / PWS_DB_NAME.
"""

import json
import os

SECRET_KEY = "system-check-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "poolwarden.runtime.django"]
ROOT_URLCONF = "djsettings_proj.urls"
if os.environ.get("PWS_ASGI") == "1":
    ASGI_APPLICATION = "djsettings_proj.asgi.application"

_age = os.environ.get("PWS_CONN_MAX_AGE", "0")
_options = {}
if os.environ.get("PWS_TIMEOUT"):
    _options["connect_timeout"] = int(os.environ["PWS_TIMEOUT"])
if os.environ.get("PWS_POOL"):
    _options["pool"] = json.loads(os.environ["PWS_POOL"])

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("PWS_DB_NAME", "postgres"),
        "HOST": os.environ.get("PWS_DB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("PWS_DB_PORT", "5432"),
        "USER": "postgres",
        "CONN_MAX_AGE": None if _age == "none" else int(_age),
        "CONN_HEALTH_CHECKS": os.environ.get("PWS_HEALTH") == "1",
        "OPTIONS": _options,
    },
    "local": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:", "CONN_MAX_AGE": None},
}
