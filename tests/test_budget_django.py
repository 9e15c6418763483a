"""budget --code on a Django + Celery service (issue 14): DATABASES, gunicorn, uvicorn, Celery, env defaults.

Each test copies the project tree in tests/djbudget_sites/pooled/ (files only, never run) out of the
test package — settings under ``tests/`` are test code, which budget does not read — puts a variant
file in place, and checks the worst case against the arithmetic done here by hand.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from poolwarden.budget.commands import parse_command, read_command_file, read_gunicorn_config
from poolwarden.budget.django import read_databases
from poolwarden.budget.values import follow, module_names, shell_number

from .adversarial.contract import invoke
from .conftest import cli

SITES = Path(__file__).parent / "djbudget_sites"


def _tree(tmp_path: Path, replace: dict[str, str] | None = None) -> Path:
    """A copy of the base tree, with ``replace`` = {path in the copy: variant file name}."""
    root = tmp_path / "site"
    shutil.copytree(SITES / "pooled", root)
    for target, variant in (replace or {}).items():
        shutil.copyfile(SITES / "variants" / variant, root / target)
    return root


def _budget(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """``budget --code . --format json`` run in ``root``, in this process (click's runner: the CLI, faster)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        proc = invoke("budget", "--code", ".", "--format", "json", *args)
    assert proc.returncode in (0, 1) and not proc.stderr, proc.stdout + proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _service(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in report["services"] if s["name"] == name)


def test_native_pool_gunicorn_threads_and_celery_concurrency(tmp_path: Path) -> None:
    code, report = _budget(_tree(tmp_path))
    web, worker = _service(report, "web"), _service(report, "worker")
    # gunicorn.conf.py: workers = 4, threads = 2 (gthread); OPTIONS["pool"] max_size 5 is per process,
    # shared by its 2 threads: 4 x 5. Celery --concurrency 8, prefork: 8 processes x 5.
    assert (web["processes"], web["worst"], web["steady"]) == (4, 4 * 5, 4 * 2)
    assert (worker["processes"], worker["worst"], worker["steady"]) == (8, 8 * 5, 8 * 2)
    assert report["worst_total"] == 4 * 5 + 8 * 5 == 60 and code == 0
    notes = "\n".join(report["from_code"])
    for where in ("shop/settings.py:14", "gunicorn.conf.py:2", "gunicorn.conf.py:3", "Procfile:1", "Procfile:2"):
        assert where in notes, notes
    assert "max_size 5 (shop/settings.py:14)" in notes and "concurrency 8 (Procfile:2)" in notes
    assert str(tmp_path) not in notes  # paths relative


def test_no_pool_persistent_connections_one_per_thread(tmp_path: Path) -> None:
    _, report = _budget(_tree(tmp_path, {"shop/settings.py": "settings_persistent.py"}))
    web, worker = _service(report, "web"), _service(report, "worker")
    # no pool: a connection per thread; CONN_MAX_AGE 60 keeps it between requests (steady = worst)
    assert (web["worst"], web["steady"]) == (4 * 2, 4 * 2)
    assert (worker["worst"], worker["steady"]) == (8 * 1, 8 * 1)
    assert report["worst_total"] == 16
    notes = "\n".join(report["from_code"])
    assert "CONN_MAX_AGE 60 (shop/settings.py:11)" in notes and "persistent" in notes


def test_conn_max_age_zero_opens_per_request(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"shop/settings.py": "settings_persistent.py"})
    settings = root / "shop" / "settings.py"
    settings.write_text(settings.read_text().replace('"CONN_MAX_AGE": 60', '"CONN_MAX_AGE": 0'))
    _, report = _budget(root)
    assert report["worst_total"] == 16 and report["steady_total"] == 0  # same worst, nothing held between
    assert any("opened and closed per request" in line for line in report["from_code"])


def test_values_from_env_defaults_name_their_variables(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"shop/settings.py": "settings_env.py", "gunicorn.conf.py": "gunicorn_env.conf.py",
                            "Procfile": "Procfile_env"})
    _, report = _budget(root)
    web, worker = _service(report, "web"), _service(report, "worker")
    # GUNICORN_WORKERS default 3 (threads 4 share the pool), DB_POOL_MAX default 6,
    # CELERY_CONCURRENCY default 5 (the worker command gives no -c)
    assert (web["processes"], web["worst"]) == (3, 3 * 6)
    assert (worker["processes"], worker["worst"]) == (5, 5 * 6)
    assert report["worst_total"] == 48
    notes = "\n".join(report["from_code"])
    for var in ("GUNICORN_WORKERS", "GUNICORN_THREADS", "DB_POOL_MAX", "DB_POOL_MIN", "CELERY_CONCURRENCY"):
        assert f"env {var} changes it" in notes, (var, notes)


def test_asgi_without_pool_is_unbounded_and_over_budget(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"shop/settings.py": "settings_persistent.py", "Procfile": "Procfile_asgi"})
    (root / "gunicorn.conf.py").unlink()
    code, report = _budget(root)
    assert code == 1 and not report["fits"]
    assert any("unbounded: web" in p and "33497" in p for p in report["problems"]), report["problems"]
    proc = cli("budget", "--code", ".", cwd=root)
    assert proc.returncode == 1 and proc.stdout.startswith("OVER BUDGET: unbounded: web")


def test_asgi_with_the_native_pool_is_bounded_by_max_size(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"Procfile": "Procfile_asgi"})
    (root / "gunicorn.conf.py").unlink()
    code, report = _budget(root)
    assert code == 0 and report["worst_total"] == 4 * 5 + 8 * 5
    assert any("ASGI" in line for line in report["from_code"])


def test_uvicorn_limit_concurrency_bounds_per_request_connections(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"shop/settings.py": "settings_persistent.py", "Dockerfile": "Dockerfile_uvicorn"})
    settings = root / "shop" / "settings.py"
    settings.write_text(settings.read_text().replace('"CONN_MAX_AGE": 60', '"CONN_MAX_AGE": 0'))
    (root / "Procfile").write_text("worker: celery -A shop worker -c 2\n")
    (root / "gunicorn.conf.py").unlink()
    code, report = _budget(root)
    # UVICORN_WORKERS default 3 processes x --limit-concurrency 10 requests, each on its own thread
    assert code == 0 and _service(report, "web")["worst"] == 3 * 10
    assert _service(report, "worker")["worst"] == 2


def test_celery_default_concurrency_is_unknown_then_cpus(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "Procfile").write_text("web: gunicorn shop.wsgi -c gunicorn.conf.py\nworker: celery -A shop worker\n")
    _, report = _budget(root)
    assert _service(report, "worker")["processes"] == 1
    assert any("unknown here: counted as 1, pass --cpus N" in line for line in report["from_code"])
    _, report = _budget(root, "--cpus", "6")
    assert _service(report, "worker")["processes"] == 6


def test_a_config_with_services_wins_and_says_so(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "poolwarden.toml").write_text("[budget]\n[[budget.service]]\nname = 'api'\n"
                                          "[[budget.service.pool]]\npool_size = 1\nmax_overflow = 0\n")
    _, report = _budget(root)
    assert report["worst_total"] == 1
    assert any("1 Django DATABASES entries found in code; the config's services are used" in line
               for line in report["from_code"])


def test_sqlite_is_not_counted_and_a_service_without_pool_names_the_databases(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    settings = root / "shop" / "settings.py"
    settings.write_text(settings.read_text() + "DATABASES['cache'] = {'ENGINE': 'django.db.backends.sqlite3'}\n")
    _, report = _budget(root)
    assert report["worst_total"] == 60
    assert any("'cache'" in line and "not PostgreSQL: not counted" in line for line in report["from_code"])
    (root / "poolwarden.toml").write_text("[budget]\n[[budget.service]]\nname = 'api'\n")
    proc = cli("budget", "--code", ".", cwd=root)
    assert proc.returncode == 2 and "DATABASES['default'] at shop/settings.py:8" in proc.stderr


# -- the readers, on generated input -------------------------------------------------------------------------


def test_follow_reads_every_env_shape_to_its_default() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    shapes = ['os.environ.get("{v}", "{n}")', 'int(os.environ.get("{v}", "{n}"))', 'os.getenv("{v}", {n})',
              'env.int("{v}", default={n})', 'env("{v}", cast=int, default={n})',
              'config("{v}", cast=int, default={n})', 'config("{v}", default="{n}", cast=int)']
    names = st.from_regex(r"[A-Z][A-Z0-9_]{0,15}", fullmatch=True)

    @settings(max_examples=150, deadline=None)
    @given(st.sampled_from(shapes), names, st.integers(0, 10_000), st.booleans())
    def check(shape: str, var: str, n: int, indirect: bool) -> None:
        expr = shape.format(v=var, n=n)
        source = f"X = {expr}\nY = X\n" if indirect else f"Y = {expr}\n"
        tree = ast.parse(source)
        value = tree.body[-1].value  # type: ignore[attr-defined]
        got = follow(value, module_names(tree), "s.py")
        assert (got.value, got.env) == (n, var), (source, got)

    check()


def test_parse_command_reads_every_option_spelling() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    def spell(short: str, long: str, value: str) -> Any:
        return st.sampled_from([[short, value], [short + value], [long, value], [f"{long}={value}"]])

    @settings(max_examples=150, deadline=None)
    @given(st.integers(1, 64), st.integers(1, 64), st.data())
    def check(workers: int, threads: int, data: Any) -> None:
        opts = [data.draw(spell("-w", "--workers", str(workers))), ["--threads", str(threads)],
                data.draw(spell("-k", "--worker-class", "gthread"))]
        order = data.draw(st.permutations(opts))
        prefix = data.draw(st.sampled_from([["gunicorn"], ["python", "-m", "gunicorn"], ["/venv/bin/gunicorn"]]))
        argv = [*prefix, *[w for o in order for w in o], "app.wsgi"]
        got = parse_command(argv, "x:1")
        assert got is not None and got.workers is not None and got.threads is not None
        assert (got.workers.value, got.threads.value) == (workers, threads), argv
        assert got.worker_class is not None and got.worker_class.value == "gthread"
        celery = parse_command(["celery", "-A", "proj", "worker", *data.draw(spell("-c", "--concurrency",
                                                                                 str(workers)))], "x:2")
        assert celery is not None and celery.concurrency is not None and celery.concurrency.value == workers

    check()


@pytest.mark.parametrize(("token", "value", "env"), [
    ("4", 4, None), ("$WORKERS", None, "WORKERS"), ("${WORKERS}", None, "WORKERS"),
    ("${WORKERS:-6}", 6, "WORKERS"), ("${WORKERS-6}", 6, "WORKERS"), ("four", None, None)])
def test_shell_numbers(token: str, value: int | None, env: str | None) -> None:
    got = shell_number(token, "x:1")
    assert (got.value, got.env) == (value, env)


def test_command_files_in_their_shapes() -> None:
    text = ('FROM python\nCMD ["gunicorn", "app.wsgi", "-w", "5"]\n'
            'ENTRYPOINT ["sh", "-c", "celery -A app worker -P threads -c 7"]\n'
            'RUN pip install gunicorn celery\n'  # not a process: no worker subcommand, gunicorn with no options
            'web: exec gunicorn app.wsgi \\\n  --threads 3 && echo -w 99\n'
            'command: celery -A app beat\n'  # beat is not a worker pool
            "x: gunicorn 'unbalanced\n")
    found = read_command_file(text, "Dockerfile")
    assert [(c.program, c.where) for c in found] == [("gunicorn", "Dockerfile:2"), ("celery", "Dockerfile:3"),
                                                    ("gunicorn", "Dockerfile:4"), ("gunicorn", "Dockerfile:5")]
    assert found[0].workers is not None and found[0].workers.value == 5
    assert found[1].pool is not None and found[1].pool.value == "threads"
    assert found[3].threads is not None and found[3].threads.value == 3 and found[3].workers is None


def test_gunicorn_config_cpu_count_needs_cpus() -> None:
    tree = ast.parse("import multiprocessing\nworkers = multiprocessing.cpu_count() * 2 + 1\n")
    unknown = read_gunicorn_config(tree, "gunicorn.conf.py")
    assert unknown is not None and unknown.workers is not None and unknown.workers.value is None
    known = read_gunicorn_config(tree, "gunicorn.conf.py", cpus=4)
    assert known is not None and known.workers is not None and known.workers.value == 9


def test_databases_written_in_pieces() -> None:
    tree = ast.parse("DATABASES = {}\n"
                     "DATABASES['default'] = make_config().to_django_dict()\n"
                     "DATABASES['default']['OPTIONS'] = {'pool': {'max_size': 3}}\n"
                     "DATABASES['default']['CONN_MAX_AGE'] = None\n")
    (db,) = read_databases(tree, "s.py")
    assert db.built_by == "make_config(...).to_django_dict()" and db.postgres and db.engine is None
    assert db.pooled and db.pool_bounds()[:2] == (3, 3)  # min_size 4 > max_size 3: psycopg_pool refuses; counted 3
    assert db.conn_max_age is not None and db.conn_max_age.value is None and db.persistent


def test_sizes_psycopg_pool_refuses_are_not_bounds() -> None:
    tree = ast.parse("DATABASES = {'default': {'OPTIONS': {'pool': {'min_size': -5, 'max_size': -1}}}}\n"
                     "DATABASES['other'] = {'OPTIONS': {'pool': {'min_size': 6, 'max_size': 2}}}\n")
    negative, inverted = read_databases(tree, "s.py")
    low, high, how = negative.pool_bounds()
    assert (low, high) == (4, 4) and "max_size -1 (s.py:1) is not a size psycopg_pool accepts" in how
    low, high, how = inverted.pool_bounds()
    assert (low, high) == (6, 6) and "psycopg_pool refuses it" in how


def test_the_readme_quotes_todays_verdict_on_the_tree(tmp_path: Path) -> None:
    proc = cli("budget", "--code", ".", cwd=_tree(tmp_path))
    readme = (SITES.parents[1] / "README.md").read_text(encoding="utf-8")
    lines = proc.stdout.splitlines()
    assert lines[0] in readme, lines[0]
    for line in lines:
        if line.startswith(("web ", "worker ")):
            assert line in readme, line


def test_a_gunicorn_config_is_not_read_into_a_uvicorn_command(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"shop/settings.py": "settings_persistent.py"})
    settings = root / "shop" / "settings.py"
    settings.write_text(settings.read_text().replace('"CONN_MAX_AGE": 60', '"CONN_MAX_AGE": 0'))
    (root / "Procfile").write_text("web: uvicorn shop.asgi:application --limit-concurrency 10\n")
    _, report = _budget(root)
    # uvicorn: 1 process (its default, not gunicorn.conf.py's workers 4) x 10 requests; the gunicorn config
    # alone would be 4 x 2 threads = 8: the larger, 10, is counted and the other listed
    assert _service(report, "web")["worst"] == 10
    notes = "\n".join(report["from_code"])
    assert "workers 1 (uvicorn's default" in notes and "also found, not counted" in notes


@pytest.mark.parametrize(("procfile", "settings", "web", "worker"), [
    # gevent: every greenlet is a thread to Django, worker_connections of them (gunicorn's default 1000)
    ("web: gunicorn shop.wsgi -w 2 -k gevent\n", "settings_persistent.py", 2 * 1000, None),
    ("web: gunicorn shop.wsgi -w 2 -k gevent --worker-connections 50\n", "settings_persistent.py", 2 * 50, None),
    # Celery's threads pool: one process of -c threads, a connection each without a pool, one shared pool with
    ("worker: celery -A shop worker -P threads -c 7\n", "settings_persistent.py", 4 * 2, 7),
    ("worker: celery -A shop worker --pool=threads -c 7\n", None, 4 * 5, 5),
    ("worker: celery -A shop worker --autoscale=10,3\n", None, 4 * 5, 10 * 5),
    ("worker: celery -A shop worker -P solo -c 7\n", "settings_persistent.py", 4 * 2, 1),
    # daphne: ASGI, one process; hypercorn -w; both unbounded without a pool, bounded by it
    ("web: daphne shop.asgi:application\n", None, 5, None),
    ("web: hypercorn shop.asgi:application -w 3\n", None, 3 * 5, None),
])
def test_worker_classes_and_pools(tmp_path: Path, procfile: str, settings: str | None, web: int,
                                  worker: int | None) -> None:
    root = _tree(tmp_path, {"shop/settings.py": settings} if settings else None)
    (root / "Procfile").write_text(procfile)
    if "gunicorn" in procfile or "daphne" in procfile or "hypercorn" in procfile:
        (root / "gunicorn.conf.py").unlink()
    _, report = _budget(root)
    assert _service(report, "web")["worst"] == web, report["from_code"]
    if worker is not None:
        assert _service(report, "worker")["worst"] == worker, report["from_code"]


def test_entries_in_source_order_and_only_django_shapes() -> None:
    tree = ast.parse("DEFAULT = {'ENGINE': 'django.db.backends.postgresql', 'CONN_MAX_AGE': 30}\n"
                     "if DEBUG:\n    DATABASES = {'default': DEFAULT, 'urls': 'postgres://app:hunter2@db/app'}\n"
                     "else:\n    DATABASES = {'default': DEFAULT}\n"
                     "DATABASES['default']['OPTIONS'] = {'pool': {'max_size': 9}}\n")
    found = read_databases(tree, "s.py")
    # both branches' 'default' (the top-level OPTIONS line after them applies to the last one written),
    # the string entry is no Django entry
    assert [db.alias for db in found] == ["default", "default"]
    assert found[0].conn_max_age is not None and found[0].conn_max_age.value == 30
    assert not found[0].pooled and found[1].pooled and found[1].pool_bounds()[1] == 9


def test_an_asgi_worker_class_in_the_gunicorn_config(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"shop/settings.py": "settings_persistent.py"})
    conf = root / "gunicorn.conf.py"
    conf.write_text(conf.read_text().replace('"gthread"', '"uvicorn_worker.UvicornWorker"'))
    code, report = _budget(root)
    assert code == 1 and any("unbounded: web" in p and "CONN_MAX_AGE 60" in p for p in report["problems"])

