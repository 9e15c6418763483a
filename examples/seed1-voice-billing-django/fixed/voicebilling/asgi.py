"""ASGI entry point: ``uvicorn voicebilling.asgi:application``."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicebilling.settings")

application = get_asgi_application()
