"""The ASGI application (named by ASGI_APPLICATION when PWS_ASGI=1)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djsettings_proj.settings")
application = get_asgi_application()
