"""WSGI entry point. With ``DJRT_WARM=<file>``, the process that imports it (a gunicorn
``--preload`` master) opens Django's pool first and writes its backend pids, as JSON, to ``<file>``."""

from __future__ import annotations

import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djrt_site.settings")

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()

if os.environ.get("DJRT_WARM"):
    from djrt_site.warm import warm_up

    with open(os.environ["DJRT_WARM"], "w") as out:
        json.dump(warm_up(), out)
