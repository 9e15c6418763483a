"""``budget --code .`` on small service trees, as a new user runs it (no config): settings followed to
their defaults, migration and one-shot engines listed apart, process counts from the tree's
Dockerfiles / Procfiles / compose files for every service, Django + Celery with ``dj_database_url``,
Flask-SQLAlchemy, and paths relative to the current directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .adversarial.contract import invoke
from .conftest import write_tree

SQLA = "from sqlalchemy import create_engine\n"


def budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], *args: str) -> dict[str, Any]:
    """``poolwarden budget --code . --format json`` run in a tree made of ``files``."""
    write_tree(tmp_path, files)
    monkeypatch.chdir(tmp_path)
    proc = invoke("budget", "--code", ".", "--format", "json", *args)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def services(report: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """service name -> (processes, worst)."""
    return {s["name"]: (s["processes"], s["worst"]) for s in report["services"]}


def lines(report: dict[str, Any], word: str) -> list[str]:
    return [line for line in report["from_code"] if word in line]


# -- the FastAPI service: Alembic env.py, pool_size from pydantic settings, gunicorn -w 4 --------------

FASTAPI = {
    "app/settings.py": (
        "from pydantic import Field\n"
        "from pydantic_settings import BaseSettings, SettingsConfigDict\n\n"
        "class Settings(BaseSettings):\n"
        "    model_config = SettingsConfigDict(env_prefix='APP_')\n"
        "    database_url: str = 'postgresql://localhost/app'\n"
        "    db_pool_size: int = 20\n"
        "    db_max_overflow: int = Field(default=5, description='extra')\n\n"
        "settings = Settings()\n"
    ),
    "app/db.py": (
        SQLA + "from app.settings import settings\n\n"
        "engine = create_engine(settings.database_url, pool_size=settings.db_pool_size,\n"
        "                       max_overflow=settings.db_max_overflow)\n"
    ),
    "app/main.py": "from fastapi import FastAPI\nfrom app import db\n\napp = FastAPI()\n",
    "alembic/env.py": (
        "from alembic import context\nfrom sqlalchemy import engine_from_config, pool\n\n"
        "def run_migrations_online():\n"
        "    connectable = engine_from_config(context.config.get_section('alembic'), prefix='sqlalchemy.')\n"
    ),
    "migrations/env.py": SQLA + "def run_migrations_online():\n    engine = create_engine('postgresql://x/y')\n",
    "Dockerfile": (
        "FROM python:3.12\nCOPY . /app\n"
        'CMD ["gunicorn", "-w", "4", "-k", "uvicorn.workers.UvicornWorker", "app.main:app"]\n'
    ),
}


def test_fastapi_service_settings_alembic_and_dockerfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = budget(tmp_path, monkeypatch, FASTAPI)
    # 4 gunicorn workers x one engine of 20 + 5 (not 1 process x 3 engines at SQLAlchemy's 5 + 10 = 45)
    assert services(report) == {"web": (4, 100)}, report["from_code"]
    assert report["worst_total"] == 100
    pool = lines(report, "pool 1:")[0]
    assert "create_engine() at app/db.py:4" in pool
    assert "pool_size 20 (app/settings.py:7; env APP_DB_POOL_SIZE changes it)" in pool
    assert "max_overflow 5 (app/settings.py:8; env APP_DB_MAX_OVERFLOW changes it)" in pool
    left = lines(report, "not counted (migrations / one-shot)")
    assert any("alembic/env.py:5" in line and "Alembic" in line for line in left), left
    assert any("migrations/env.py:3" in line and "Alembic" in line for line in left), left
    assert any("Dockerfile:3" in line and "workers 4" in line for line in lines(report, "web:"))
    assert not any(str(tmp_path) in line for line in report["from_code"])  # relative to the current directory


# -- settings forms, each followed to its literal default and the env var that changes it ---------------------

FORMS = {
    "decouple": ("from decouple import config\nPOOL_SIZE = config('POOL_SIZE', cast=int, default=7)\n",
                 "from app.conf import POOL_SIZE", "POOL_SIZE", "POOL_SIZE"),
    "starlette": ("from starlette.config import Config\nconfig = Config('.env')\n"
                  "POOL_SIZE = config('POOL_SIZE', cast=int, default=7)\n",
                  "from app.conf import POOL_SIZE", "POOL_SIZE", "POOL_SIZE"),
    "environ.get": ("import os\nPOOL_SIZE = os.environ.get('DB_POOL', '7')\n",
                    "from app import conf", "conf.POOL_SIZE", "DB_POOL"),
    "int(getenv)": ("import os\nPOOL_SIZE = int(os.getenv('DB_POOL', '7'))\n",
                    "import app.conf", "app.conf.POOL_SIZE", "DB_POOL"),
    "environs": ("from environs import Env\nenv = Env()\nPOOL_SIZE = env.int('DB_POOL', default=7)\n",
                 "from app.conf import POOL_SIZE as SIZE", "SIZE", "DB_POOL"),
    "or default": ("import os\nPOOL_SIZE = int(os.environ.get('DB_POOL') or 7)\n",
                   "from app.conf import POOL_SIZE", "POOL_SIZE", "DB_POOL"),
    "constant": ("POOL_SIZE = 7\n", "from app.conf import POOL_SIZE", "POOL_SIZE", None),
    "dataclass": ("from dataclasses import dataclass, field\n\n@dataclass\nclass Conf:\n"
                  "    pool_size: int = field(default=7)\n\nconf = Conf()\n",
                  "from app.conf import conf", "conf.pool_size", None),
    "pydantic v1 Config": ("from pydantic import BaseSettings, Field\n\nclass Settings(BaseSettings):\n"
                           "    pool_size: int = Field(7)\n\n    class Config:\n        env_prefix = 'db_'\n\n"
                           "settings = Settings()\n",
                           "from app.conf import settings", "settings.pool_size", "DB_POOL_SIZE"),
    "alias": ("from pydantic import Field\nfrom pydantic_settings import BaseSettings\n\n"
              "class Settings(BaseSettings):\n    pool_size: int = Field(default=7, alias='PG_POOL')\n\n"
              "settings = Settings()\n",
              "from app.conf import settings", "settings.pool_size", "PG_POOL"),
    "lru_cache factory": ("from functools import lru_cache\nfrom pydantic_settings import BaseSettings\n\n"
                          "class Base(BaseSettings):\n    pool_size: int = 7\n\nclass Settings(Base):\n"
                          "    name: str = 'x'\n\n@lru_cache\ndef get_settings():\n    return Settings()\n\n"
                          "settings = get_settings()\n",
                          "from app.conf import settings", "settings.pool_size", "POOL_SIZE"),
    "class attribute": ("class Config:\n    POOL_SIZE = 7\n", "from app.conf import Config", "Config.POOL_SIZE", None),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_settings_forms_followed_to_their_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str) -> None:
    conf, imported, expr, env = FORMS[form]
    report = budget(tmp_path, monkeypatch, {
        "app/conf.py": conf,
        "app/db.py": f"{SQLA}{imported}\n\nengine = create_engine('postgresql://h/d', pool_size={expr})\n",
    })
    pool = lines(report, "pool 1:")[0]
    assert "pool_size 7 (app/conf.py:" in pool, pool
    assert (f"env {env} changes it" in pool) if env else ("env " not in pool.split(";")[0]), pool
    assert report["worst_total"] == 7 + 10


def test_not_literal_stays_at_the_library_default_and_says_so(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    report = budget(tmp_path, monkeypatch, {
        "app/conf.py": "import json\nPOOL = json.load(open('pool.json'))['size']\n",
        "app/db.py": (SQLA + "import asyncpg\nfrom app.conf import POOL\n\n"
                      "def make(size):\n    return create_engine('postgresql://h/d', pool_size=size)\n\n"
                      "engine = create_engine('postgresql://h/d', pool_size=POOL)\n"
                      "async def pool():\n    return await asyncpg.create_pool('postgresql://h/d')\n"),
    })
    pools = lines(report, "pool ")
    assert any("pool_size 5 (SQLAlchemy's default: `size`" in p and "is not literal" in p for p in pools), pools
    assert any("pool_size 5 (SQLAlchemy's default: `json.load(open('pool.json'))['size']` at app/conf.py:2" in p
               for p in pools), pools
    assert any("asyncpg.create_pool()" in p and "pool_size 10 (asyncpg's default max_size: not given)" in p
               for p in pools), pools
    assert report["worst_total"] == 15 + 15 + 10


def test_options_splatted_from_a_dict_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = budget(tmp_path, monkeypatch, {
        "app/db.py": (SQLA + "import os\nPOOL = int(os.getenv('POOL', '12'))\n\n"
                      "def engine(url):\n    options = {'pool_pre_ping': True}\n    options['pool_size'] = POOL\n"
                      "    options.update(max_overflow=3)\n    return create_engine(url, **options)\n"),
    })
    pool = lines(report, "pool 1:")[0]
    assert "pool_size 12 (app/db.py:3; env POOL changes it)" in pool and "max_overflow 3 (app/db.py:" in pool, pool
    assert report["worst_total"] == 15


# -- migrations and one-shot engines ----------------------------------------------------------------------------

ONE_SHOT = {
    "app/db.py": SQLA + "engine = create_engine('postgresql://h/d')\n",
    "app/tools.py": SQLA + "if __name__ == '__main__':\n    create_engine('postgresql://h/d').connect()\n",
    "app/migrate.py": ("from alembic import context\n" + SQLA
                       + "def run():\n    create_engine(context.config.get_main_option('url'))\n"),
    "app/nullpool.py": SQLA + "from sqlalchemy.pool import NullPool\n"
                              "engine = create_engine('postgresql://h/d', poolclass=NullPool)\n",
    "scripts/backfill.py": SQLA + "engine = create_engine('postgresql://h/d', pool_size=50)\n",
    "bin/reindex.py": SQLA + "engine = create_engine('postgresql://h/d')\n",
    "manage.py": SQLA + "engine = create_engine('postgresql://h/d')\n",
    "app/management/commands/purge.py": SQLA + "engine = create_engine('postgresql://h/d')\n",
    "tests/test_db.py": SQLA + "engine = create_engine('postgresql://h/d', pool_size=40)\n",
    "conftest.py": SQLA + "engine = create_engine('postgresql://h/d', pool_size=40)\n",
    "app/db_test.py": SQLA + "engine = create_engine('postgresql://h/d', pool_size=40)\n",
}


def test_migration_and_one_shot_engines_are_listed_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = budget(tmp_path, monkeypatch, ONE_SHOT)
    assert report["worst_total"] == 15, report["from_code"]  # app/db.py's engine alone
    assert [line.split(" at ")[1].split(":")[0] for line in lines(report, "pool ")] == ["app/db.py"]
    left = {line.split(" at ")[1].split(":")[0]: line.rsplit(": ", 1)[1]
            for line in lines(report, "not counted (migrations / one-shot): ")}
    assert set(left) == {"app/tools.py", "app/migrate.py", "app/nullpool.py", "scripts/backfill.py", "bin/reindex.py",
                         "manage.py", "app/management/commands/purge.py", "tests/test_db.py", "conftest.py",
                         "app/db_test.py"}, left
    assert "alembic.context" in left["app/migrate.py"] and "__main__" in left["app/tools.py"]


def test_only_one_shot_engines_is_nothing_to_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path, {"alembic/env.py": FASTAPI["alembic/env.py"]})
    monkeypatch.chdir(tmp_path)
    proc = invoke("budget", "--code", ".")
    assert proc.returncode == 2 and "nothing to count" in proc.stderr and "alembic/env.py:5" in proc.stderr


# -- process counts from the tree, for every service ------------------------------------------------------------

SERVICES = {
    "app/db.py": SQLA + "engine = create_engine('postgresql://h/d')\n",
    "app/reports.py": SQLA + "from app import db\nreports = create_engine('postgresql://h/r')\n",
    "app/main.py": "from app import db\napp = object()\n",
    "app/tasks.py": "from celery import Celery\nfrom app import reports\ncelery = Celery('app')\n",
}


@pytest.mark.parametrize("where,text", [
    ("Procfile", "web: gunicorn -w 3 app.main:app\nworker: celery -A app.tasks worker --concurrency 6\n"),
    ("docker-compose.yml", "services:\n  web:\n    command: gunicorn --workers=3 app.main:app\n"
                           "  worker:\n    command: [\"celery\", \"-A\", \"app.tasks\", \"worker\", \"-c\", \"6\"]\n"),
    ("docker/entrypoint.sh", "#!/bin/sh\nexec gunicorn -w ${WEB_WORKERS:-3} app.main:app &\n"
                             "celery --app=app.tasks worker --autoscale=6,2\n"),
    ("bin/docker-entrypoint", "#!/bin/bash\nexec /usr/local/bin/gunicorn -b :5000 -w${WEB_WORKERS:-3} app.main:app\n"
                              "exec celery -A app.tasks worker -c6\n"),
    ("supervisord.conf", "[program:web]\ncommand=gunicorn -w 3 app.main:app\n[program:worker]\n"
                         "command=celery -A app.tasks worker --concurrency=6\n"),
])
def test_processes_from_the_tree_and_engines_where_their_module_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, text: str) -> None:
    report = budget(tmp_path, monkeypatch, {**SERVICES, where: text})
    # web runs app.main, which imports app.db only: 3 x 15; the worker runs app.tasks -> reports -> db: 6 x 30
    assert services(report) == {"web": (3, 45), "worker": (6, 180)}, report["from_code"]
    assert any(where in line for line in lines(report, "web:")), report["from_code"]


def test_gunicorn_config_and_uvicorn_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = budget(tmp_path, monkeypatch, {
        "app/db.py": SQLA + "engine = create_engine('postgresql://h/d', pool_size=2, max_overflow=0)\n",
        "gunicorn.conf.py": "import os\nworkers = int(os.getenv('GUNICORN_WORKERS', '5'))\n",
    })
    assert services(report) == {"web": (5, 10)}, report["from_code"]
    report = budget(tmp_path, monkeypatch, {"gunicorn.conf.py": "",
                                           "Procfile": "web: uvicorn app.db:app --workers 3\n"})
    assert services(report) == {"web": (3, 6)}, report["from_code"]


def test_one_process_only_when_the_tree_says_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = budget(tmp_path, monkeypatch, {"app/db.py": SQLA + "engine = create_engine('postgresql://h/d')\n",
                                           "tests/mock/Dockerfile": 'CMD ["uvicorn", "main:app", "--workers", "9"]\n'})
    assert services(report) == {"code": (1, 15)}
    assert any("no gunicorn / uvicorn / hypercorn / daphne / uwsgi / celery worker command" in line
               for line in report["from_code"])


# -- Django + Celery with dj_database_url and constant aliases; Flask-SQLAlchemy ----------------------------------

def test_django_celery_with_dj_database_url_and_constant_aliases(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    report = budget(tmp_path, monkeypatch, {
        "shop/settings.py": (
            "import os\nimport dj_database_url\n"
            "DB_CONN_MAX_AGE = int(os.environ.get('DB_CONN_MAX_AGE', 0))\n"
            "DEFAULT_NAME = 'default'\nREPLICA_NAME = 'replica'\n"
            "DATABASES = {\n"
            "    DEFAULT_NAME: dj_database_url.config(default='postgres://u:s3cr3t@h/d',\n"
            "                                         conn_max_age=DB_CONN_MAX_AGE),\n"
            "    REPLICA_NAME: dj_database_url.config(env='DATABASE_URL_REPLICA', conn_max_age=DB_CONN_MAX_AGE),\n"
            "}\n"),
        "shop/celeryconf.py": "from celery import Celery\napp = Celery('shop')\n",
        "Dockerfile": 'CMD ["gunicorn", "-w", "2", "shop.wsgi:application"]\n',
        "Procfile": "worker: celery -A shop.celeryconf:app worker -c 4\n",
    })
    assert services(report) == {"web": (2, 4), "worker": (4, 8)}, report["from_code"]
    assert "s3cr3t" not in json.dumps(report)


def test_flask_sqlalchemy_subclass_and_pool_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = budget(tmp_path, monkeypatch, {
        "app/settings.py": ("import os\nSQLALCHEMY_POOL_SIZE = int(os.environ.get('SQLALCHEMY_POOL_SIZE', '8'))\n"
                            "SQLALCHEMY_MAX_OVERFLOW = int_or_none(os.environ.get('SQLALCHEMY_MAX_OVERFLOW'))\n"),
        "app/models.py": ("from flask_sqlalchemy import SQLAlchemy\n\nclass AppSQLAlchemy(SQLAlchemy):\n    pass\n\n"
                          "db = AppSQLAlchemy()\n"),
    })
    pool = lines(report, "pool 1:")[0]
    assert "AppSQLAlchemy() at app/models.py:6" in pool, pool
    assert "pool_size 8 (app/settings.py:2; env SQLALCHEMY_POOL_SIZE changes it)" in pool, pool
    assert "max_overflow 10 (SQLAlchemy's default" in pool and "env SQLALCHEMY_MAX_OVERFLOW changes it" in pool
    assert report["worst_total"] == 18


def test_paths_relative_to_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path / "svc", {"app/db.py": SQLA + "engine = create_engine('postgresql://h/d', pool_size=3)\n",
                                  "Procfile": "web: gunicorn -w 2 app.db:app\n"})
    monkeypatch.chdir(tmp_path)
    proc = invoke("budget", "--code", str(tmp_path / "svc"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "svc/app/db.py:2" in proc.stdout and "svc/Procfile:1" in proc.stdout and str(tmp_path) not in proc.stdout


def test_script_variables_assigned_earlier_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = budget(tmp_path, monkeypatch, {
        "app/db.py": SQLA + "engine = create_engine('postgresql://h/d', pool_size=2, max_overflow=1)\n",
        "boot.sh": ('#!/bin/sh\nGUNICORN_WORKERS="${GUNICORN_WORKERS:-3}"\nexport THREADS=2\n'
                    "exec gunicorn --workers $GUNICORN_WORKERS --threads ${THREADS} app.db:app\n"),
    })
    assert services(report) == {"web": (3, 9)}, report["from_code"]
    assert any("workers 3 (boot.sh:4; env GUNICORN_WORKERS changes it)" in line for line in lines(report, "web:"))


def test_uwsgi_ini_and_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """healthchecks' layout: a Dockerfile runs ``uwsgi docker/uwsgi.ini``, which says 4 processes of 1 thread."""
    report = budget(tmp_path, monkeypatch, {
        "hc/settings.py": ("import os\nDATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql',\n"
                           "    'CONN_MAX_AGE': int(os.getenv('DB_CONN_MAX_AGE', '0'))}}\n"),
        "docker/Dockerfile": 'CMD [ "uwsgi", "/opt/hc/docker/uwsgi.ini"]\n',
        "docker/uwsgi.ini": ("[uwsgi]\nmaster\nif-not-env = UWSGI_PROCESSES\nprocesses = 4\nendif =\n"
                             "enable-threads\nthreads = 1\nmodule = hc.wsgi:application\n"),
    })
    assert services(report) == {"web": (4, 4)}, report["from_code"]
    assert any("processes 4 (docker/uwsgi.ini:4; env UWSGI_PROCESSES changes it)" in line
               for line in lines(report, "web:")), report["from_code"]
    report = budget(tmp_path, monkeypatch, {"docker/uwsgi.ini": "[other]\nprocesses = 9\n",
                                           "Procfile": "web: uwsgi --http :8000 -p 3 --threads 2 -w hc.wsgi\n"})
    assert services(report) == {"web": (3, 6)}, report["from_code"]
