"""A small real Django project for the runtime tests (``tests/test_runtime_django*.py``).

Its package name is ``djrt_site`` (the servers run with ``tests/`` on ``sys.path``), configured
from the environment so that each test picks its database and connection handling:

``DJRT_DSN``            the PostgreSQL DSN (``postgresql://user@host:port/db``)
``DJRT_CONN_MAX_AGE``   ``CONN_MAX_AGE`` (default 0)
``DJRT_POOL``           ``max_size`` of Django's native psycopg pool (default: no pool)
``DJRT_POOL_MIN``       its ``min_size`` (default 1)
``DJRT_ATOMIC``         ``ATOMIC_REQUESTS`` when ``1``
``DJRT_APP``            the ``application_name`` of its connections (default ``djrt``)
``DJRT_WARM``           a file: the process importing ``wsgi.py`` (a gunicorn ``--preload`` master)
                        opens the pool first and writes its backend pids there
``DJRT_FORK_HOOK``      ``1``: poolwarden's fork hooks (gunicorn_conf.py, celery_app.py)
``DJRT_CELERY_FIXUP``   ``0``: Celery's own Django fixup off (celery_app.py)
``DJRT_REDIS``          the Celery broker and result backend (celery_app.py)
"""
