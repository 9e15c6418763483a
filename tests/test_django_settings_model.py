"""The check model's reading of Django settings: ``DATABASES`` as plain values, and the ASGI project fact."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from poolwarden.check.cache import decode_result, encode_result
from poolwarden.check.context import FileContext
from poolwarden.check.django_settings import database_entries
from poolwarden.check.django_verdicts import Facts, FromEnv, FromUrl, NotLiteral, judge
from poolwarden.check.engine import analyze_source
from poolwarden.check.project import ProjectIndex
from poolwarden.check.walk import Walker

from .conftest import run_check, write_tree


def _entries(source: str) -> list[tuple[str, dict[str, object]]]:
    ctx = FileContext("settings.py", "proj.settings", False, "/r")
    tree = ast.parse(source)
    Walker(ctx, []).run(tree)  # the model's bindings: imports, module-level names
    return [(e.alias, e.values) for e in database_entries(tree, ctx)]


def test_entries_are_plain_values_with_markers() -> None:
    source = """
import os
import dj_database_url
from decouple import config

AGE = int(os.getenv("AGE", "60"))
if os.environ.get("LOCAL"):
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}}
else:
    DATABASES = {"default": dj_database_url.config(conn_max_age=AGE)}
DATABASES["default"]["CONN_HEALTH_CHECKS"] = config("HEALTH", cast=bool, default=True)
DATABASES["reports"] = make_entry()
DATABASES["default"].update({"OPTIONS": {"pool": True}})
"""
    got = _entries(source)
    assert [alias for alias, _ in got] == ["default", "default", "reports"]  # both branches are candidates
    local, url, reports = (values for _, values in got)
    assert local["ENGINE"] == "django.db.backends.sqlite3" and local["CONN_HEALTH_CHECKS"] == FromEnv(True, "HEALTH")
    assert url["CONN_MAX_AGE"] == FromEnv(60, "AGE") and url["OPTIONS"] == {"pool": True}
    assert all(isinstance(v, NotLiteral) for v in reports.values())


def test_a_url_entry_keeps_its_options_unknown() -> None:
    (_, values), = _entries('import environ\nenv = environ.Env()\nDATABASES = {"default": env.db()}\n')
    assert values == {"OPTIONS": FromUrl("env.db()")}


def test_no_databases_no_entries() -> None:
    assert _entries("X = 1\nDATABASE = {}\n") == []


@pytest.mark.parametrize(("files", "expected"), [
    ({"asgi.py": "from django.core.asgi import get_asgi_application\napplication = get_asgi_application()\n"},
     "makes the ASGI application"),
    ({"asgi.py": "from django.core.asgi import get_asgi_application\napplication = get_asgi_application()\n",
      "wsgi.py": "from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n"}, None),
    ({"asgi.py": "from channels.routing import ProtocolTypeRouter\nfrom django.core.asgi import get_asgi_application\n"
                 "application = ProtocolTypeRouter({'http': get_asgi_application()})\n",
      "wsgi.py": "from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n"},
     "ProtocolTypeRouter"),
    ({"gunicorn_conf.py": "worker_class = 'uvicorn.workers.UvicornWorker'\nworkers = 4\n"}, "UvicornWorker"),
    ({"settings2.py": "INSTALLED_APPS = ['django.contrib.auth']\nINSTALLED_APPS.insert(0, 'daphne')\n"}, "daphne"),
    ({"tests/test_asgi.py": "ASGI_APPLICATION = 'x'\n"}, None),  # test code says nothing of the service
])
def test_the_project_asgi_fact(tmp_path: Path, files: dict[str, str], expected: str | None) -> None:
    tree = {"proj/__init__.py": "", "proj/settings.py": "DATABASES = {}\n",
            **{f"proj/{name}": text for name, text in files.items()}}
    write_tree(tmp_path, tree)
    summaries = []
    for path in sorted((tmp_path / "proj").rglob("*.py")):
        rel = path.relative_to(tmp_path).with_suffix("")
        module = ".".join(rel.parts)
        summaries.append(analyze_source(path.read_bytes(), str(path), module, False, [], root=str(tmp_path)).summary)
    asgi = ProjectIndex(s for s in summaries if s is not None).asgi(str(tmp_path))
    assert (asgi is None) if expected is None else (asgi is not None and expected in asgi), asgi


def test_the_django_facts_survive_the_cache(tmp_path: Path) -> None:
    source = (b"import os\nASGI_APPLICATION = 'a'\nos.environ['PGCONNECT_TIMEOUT'] = '5'\nDATABASES = {}\n"
              b"DATABASES['default']['CONN_MAX_AGE'] = 0\nDATABASES['default']['OPTIONS'].update({'pool': True})\n")
    result = analyze_source(source, str(tmp_path / "s.py"), "proj.s", False, [], root=str(tmp_path))
    assert result.summary is not None and result.summary.asgi and result.summary.settings_timeout
    assert result.summary.settings_writes == ["default/CONN_MAX_AGE", "default/OPTIONS/pool"]
    back = decode_result(json.loads(json.dumps(encode_result(result))))
    assert back.summary == result.summary


def test_split_settings_are_judged_across_modules(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "proj/__init__.py": "",
        "proj/base.py": "ASGI_APPLICATION = 'proj.asgi.application'\nDATABASES = {'default': {'ENGINE': "
                        "'django.db.backends.postgresql', 'NAME': 'app', 'CONN_MAX_AGE': 60}}\n",
        "proj/production.py": "from .base import *  # noqa: F403\n\n"
                              "DATABASES['default']['OPTIONS'] = {'connect_timeout': 5}\n",
    })
    found = {(Path(f.path).name, f.line, f.code) for f in run_check([tmp_path / "proj"])}
    assert found == {("base.py", 2, "PW109")}  # the timeout production.py sets silences PW106 in base.py


def test_casts_of_an_environment_default_are_applied() -> None:
    (_, values), = _entries('import os\nDATABASES = {"default": {"CONN_HEALTH_CHECKS": bool(os.getenv("H", "False")), '
                            '"CONN_MAX_AGE": int(os.getenv("A", "x"))}}\n')
    assert values["CONN_HEALTH_CHECKS"] == FromEnv(True, "H")  # bool("False") is True, as Django will see it
    assert isinstance(values["CONN_MAX_AGE"], NotLiteral)  # int("x") raises at import: no value to judge


def test_health_checks_are_on_when_truthy() -> None:
    entry = {"ENGINE": "django.db.backends.postgresql", "CONN_MAX_AGE": None, "OPTIONS": {"connect_timeout": 5}}
    assert judge("default", {**entry, "CONN_HEALTH_CHECKS": "False"}, Facts()) == []  # Django tests truthiness
    assert [p.code for p in judge("default", {**entry, "CONN_HEALTH_CHECKS": 0}, Facts())] == ["PW109"]


def test_each_root_is_its_own_project(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Two trees checked together (an example's buggy/ and fixed/) never lend each other their facts:
    the fixed tree's ASGI server and connect timeout say nothing of the buggy one."""
    tmp_path = tmp_path_factory.mktemp("roots")  # not under a test_* directory: the trees are service code
    entry = "DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'CONN_MAX_AGE': 60}}\n"
    write_tree(tmp_path / "buggy", {"site/settings.py": entry})  # two roots: buggy/ and fixed/ are no packages
    write_tree(tmp_path / "fixed", {
        "site/settings.py": entry.replace("60}", "0, 'OPTIONS': {'connect_timeout': 5}}"),
        "site/extra.py": "import os\nos.environ.setdefault('PGCONNECT_TIMEOUT', '5')\n",
        "site/asgi.py": "ASGI_APPLICATION = 'site.asgi.application'\n",
    })
    findings = run_check([tmp_path / "buggy", tmp_path / "fixed"])
    assert sorted((Path(f.path).parts[-3], f.code) for f in findings) == [("buggy", "PW106")]
