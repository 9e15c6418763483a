"""The Celery application (prefork workers): ``celery -A voicebilling worker``."""

import os

from celery import Celery

from poolwarden.runtime.celery import install

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicebilling.settings")

app = Celery("voicebilling")
install(app)  # transient database errors: retried with backoff, never a lost task
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
