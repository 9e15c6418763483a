"""The Celery application (prefork workers): ``celery -A voicebilling worker``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicebilling.settings")

app = Celery("voicebilling")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
