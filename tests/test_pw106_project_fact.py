"""PW106's project-wide fact: options built out of a call's sight are judged by whether any code of
the project sets ``connect_timeout`` — tests aside, library keywords aside, warm or cold.

Each case is a small project checked through the library (``check_paths``: pre-scan, index, cache).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from poolwarden.check import check_paths
from poolwarden.check.config import CheckConfig

from .conftest import write_tree

WRAPPER = """\
import psycopg

def app_connection(*args, **kwargs):
    kwargs.update(application_name="app")
    return psycopg.connect(*args, **kwargs)
"""

CALLER = "from .db import app_connection\n\nc = app_connection('', connect_timeout=5)\n"


def pw106(base: Path, monkeypatch: pytest.MonkeyPatch, *, cache: bool = False) -> list[str]:
    monkeypatch.chdir(base)
    result = check_paths(["."], CheckConfig(cache_dir=str(base / ".cache"), select=("PW106",)), use_cache=cache,
                         jobs=1)
    return [f"{f.path}:{f.line}: {f.severity}" for f in result.findings if f.code == "PW106"]


def test_a_caller_that_passes_connect_timeout_silences_the_wrapper(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path, {"app/db.py": WRAPPER,
                          "app/jobs.py": CALLER})
    assert pw106(tmp_path, monkeypatch) == []


def test_a_dsn_or_key_anywhere_in_the_project_silences_the_wrapper(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path, {"app/db.py": WRAPPER,
                          "app/settings.py": "from .db import app_connection\n\nDSN = 'host=db connect_timeout=5'\n"})
    assert pw106(tmp_path, monkeypatch) == []


@pytest.mark.parametrize("other", [
    # a test module configures its own connections, not the service's
    ("app/test_db.py", CALLER),
    # a keyword handed straight to a library connect sets it for that call only (judged there)
    ("app/admin.py", "import psycopg2\n\nc = psycopg2.connect('', connect_timeout=5)\n"),
])
def test_what_does_not_count_as_setting_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           other: tuple[str, str]) -> None:
    write_tree(tmp_path, {"app/db.py": WRAPPER, other[0]: other[1]})
    assert pw106(tmp_path, monkeypatch) == ["app/db.py:5: warning"]


def test_the_fact_survives_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A warm run decides the deferred finding from cached summaries exactly as the cold run did."""
    write_tree(tmp_path, {"app/db.py": WRAPPER,
                          "app/jobs.py": CALLER,
                          "app/engine.py": "import os\nfrom sqlalchemy import create_engine\n\n"
                                           "def make(**kw):\n    return create_engine(os.environ['URL'], **kw)\n"})
    cold = pw106(tmp_path, monkeypatch, cache=True)
    warm = pw106(tmp_path, monkeypatch, cache=True)
    assert cold == warm == []
    (tmp_path / "app/jobs.py").write_text("from .db import app_connection\n\nc = app_connection('')\n")
    assert pw106(tmp_path, monkeypatch, cache=True) == ["app/db.py:5: warning", "app/engine.py:5: warning"]


def test_a_django_settings_module_that_imports_nothing_is_checked(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path, {"site/__init__.py": "",
                          "site/settings.py": "DATABASES = {\n    'default': {\n"
                                              "        'ENGINE': 'django.db.backends.postgresql',\n"
                                              "        'NAME': 'app',\n    }\n}\n"})
    assert pw106(tmp_path, monkeypatch) == ["site/settings.py:3: error"]
