import os

from decouple import config

workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
threads = config("GUNICORN_THREADS", cast=int, default=4)
worker_class = "gthread"
