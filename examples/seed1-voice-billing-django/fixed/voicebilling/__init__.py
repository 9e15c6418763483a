"""The voice-billing Django project: settings, URLs, ASGI / WSGI entry points and the Celery app."""
