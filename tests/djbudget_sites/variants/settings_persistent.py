"""No pool: one connection per thread, kept between requests for 60 s."""

SECRET_KEY = "not-a-secret"
INSTALLED_APPS = ["django.contrib.contenttypes", "shop"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "shop",
        "HOST": "db",
        "CONN_MAX_AGE": 60,
        "OPTIONS": {"connect_timeout": 5},
    },
}
