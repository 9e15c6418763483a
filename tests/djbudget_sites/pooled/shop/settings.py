"""A Django + Celery service's settings (read by budget --code, never run)."""

SECRET_KEY = "not-a-secret"
INSTALLED_APPS = ["django.contrib.contenttypes", "shop"]
ROOT_URLCONF = "shop.urls"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "shop",
        "HOST": "db",
        "OPTIONS": {
            "connect_timeout": 5,
            "pool": {"min_size": 2, "max_size": 5, "timeout": 10},
        },
    },
}

CELERY_BROKER_URL = "redis://redis:6379/0"
