"""WSGI entry point: ``gunicorn voicebilling.wsgi:application``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicebilling.settings")

application = get_wsgi_application()
