"""The real-world scorer (benchmarks/realworld.py) on a tiny local service: no network.

A git repository made here, cloned into a bare "mirror" the way the fetch tool leaves them,
holds one file with two findings (PW101 at line 10, PW106 at line 17). The labels cover every
outcome: a TRUE label found, a FALSE label found, a MISS label with no finding (a miss), a
DEBATABLE label with no finding (silent); bad labels and commits end in one line and exit 2.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "realworld.py"

APP = '''\
import psycopg2


def fetch_count():
    conn = psycopg2.connect("dbname=app", connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("select count(*) from t")
            return cur.fetchone()[0]
    except Exception:
        return 0
    finally:
        conn.close()


def ping():
    conn = psycopg2.connect("dbname=app")
    try:
        conn.cursor().execute("select 1")
    finally:
        conn.close()
'''


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("realworld_scorer", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


rw = _load()


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True, timeout=60).stdout.strip()


@pytest.fixture
def service(tmp_path: Path) -> dict[str, Any]:
    src = tmp_path / "src"
    (src / "svc").mkdir(parents=True)
    (src / "svc" / "app.py").write_text(APP)
    (src / "other").mkdir()
    (src / "other" / "unchecked.py").write_text("import psycopg2\npsycopg2.connect('x')\n")
    _git("init", "-q", cwd=src)
    _git("add", ".", cwd=src)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one", cwd=src)
    commit = _git("rev-parse", "HEAD", cwd=src)
    mirror = tmp_path / "mirror"
    (mirror / "example+svc").mkdir(parents=True)
    _git("clone", "-q", "--bare", str(src), str(mirror / "example+svc" / "repo"), cwd=tmp_path)
    svc = {"name": "svc", "repo": "example/svc", "commit": commit, "paths": ["svc"],
           "stack": "psycopg2", "why": "a fixture"}
    (tmp_path / "services.json").write_text(json.dumps([svc]))
    return {"tmp": tmp_path, "commit": commit, "mirror": mirror}


def _label(commit: str, line: int, rule: str, verdict: str) -> dict[str, Any]:
    return {"repo": "example/svc", "commit": commit, "path": "svc/app.py", "line": line,
            "rule": rule, "verdict": verdict, "why": "fixture"}


def _main(svc: dict[str, Any], labels: list[dict[str, Any]], *extra: str) -> int:
    tmp = svc["tmp"]
    (tmp / "labels.json").write_text(json.dumps(labels))
    code: int = rw.main(["--services", str(tmp / "services.json"),
                         "--labels", str(tmp / "labels.json"),
                         "--checkouts", str(tmp / "checkouts"),
                         "--mirror-root", str(svc["mirror"]), *extra])
    return code


def test_scores_every_outcome(service: dict[str, Any],
                              capsys: pytest.CaptureFixture[str]) -> None:
    c = service["commit"]
    labels = [_label(c, 5, "PW105", "MISS"), _label(c, 10, "PW101", "TRUE"),
              _label(c, 11, "PW101", "DEBATABLE"), _label(c, 17, "PW106", "FALSE")]
    assert _main(service, labels, "--misses") == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    # findings TRUE FALSE DEBATABLE unlabelled misses precision FALSE/all recall
    assert rows["PW101"] == ["1", "1", "0", "0", "0", "0", "100%", "0%", "100%"]
    assert rows["PW105"] == ["0", "0", "0", "0", "0", "1", "–", "–", "0%"]
    assert rows["PW106"] == ["1", "0", "1", "0", "0", "0", "0%", "100%", "–"]
    assert rows["svc"] == ["2", "1", "1", "0", "0", "1", "50%", "50%", "50%"]
    assert "svc/app.py:5 PW105 MISS" in out
    # Only the service's path was checked out and checked (other/ would add a PW106).
    checkout = service["tmp"] / "checkouts" / "svc"
    assert (checkout / "svc" / "app.py").is_file()
    assert not (checkout / "other").exists()


def test_unlabelled_findings_are_loud_and_in_no_ratio(
        service: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    c = service["commit"]
    assert _main(service, [_label(c, 10, "PW101", "MISS")], "--unlabelled", "--markdown") == 0
    captured = capsys.readouterr()
    assert "| PW101 | 1 | 1 | 0 | 0 | 0 | 0 | 100% | 0% | 100% |" in captured.out
    assert "| PW106 | 1 | 0 | 0 | 0 | 1 | 0 | – | – | – |" in captured.out
    assert "[svc] svc/app.py:17 PW106" in captured.out
    assert "1 finding(s) have no label" in captured.err


@pytest.mark.parametrize(("change", "message"), [
    ({"verdict": "MAYBE"}, "unknown verdict 'MAYBE'"),
    ({"rule": "PW199"}, "unknown rule 'PW199'"),
    ({"repo": "someone/else"}, "repo 'someone/else' is not in services.json"),
    ({"commit": "0" * 40}, "is not the pinned commit"),
    ({"line": "10"}, "field 'line' must be int"),
    ({"line": True}, "field 'line' must be int"),
    ({"path": "/abs/app.py"}, "must be relative"),
    ({"extra": 1}, "unknown field(s) extra"),
])
def test_bad_labels_exit_2(service: dict[str, Any], capsys: pytest.CaptureFixture[str],
                           change: dict[str, Any], message: str) -> None:
    label = {**_label(service["commit"], 10, "PW101", "TRUE"), **change}
    assert _main(service, [label]) == 2
    err = capsys.readouterr().err
    assert err.startswith("realworld: error: ") and message in err
    assert err.count("\n") == 1


def test_duplicates_and_bad_commits_exit_2(service: dict[str, Any],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    c = service["commit"]
    assert _main(service, [_label(c, 10, "PW101", "TRUE"), _label(c, 10, "PW101", "FALSE")]) == 2
    assert "duplicate of labels.json[0]" in capsys.readouterr().err
    services = json.loads((service["tmp"] / "services.json").read_text())
    services[0]["commit"] = "f" * 40
    (service["tmp"] / "services.json").write_text(json.dumps(services))
    assert _main(service, []) == 2
    err = capsys.readouterr().err
    assert err.startswith("realworld: error: svc: cannot check out " + "f" * 40)
    (service["tmp"] / "services.json").unlink()
    assert _main(service, []) == 2
    assert "cannot read" in capsys.readouterr().err


def test_checkout_keeps_the_packages_above_its_paths(tmp_path: Path) -> None:
    """``web/pkg/sub`` stays ``pkg.sub``: the ``__init__.py`` files above it are written too."""
    src = tmp_path / "src"
    (src / "web" / "pkg" / "sub").mkdir(parents=True)
    (src / "web" / "pkg" / "__init__.py").write_text("")
    (src / "web" / "pkg" / "sub" / "a.py").write_text("x = 1\n")
    (src / "web" / "pkg" / "b.py").write_text("y = 1\n")
    _git("init", "-q", cwd=src)
    _git("add", ".", cwd=src)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one", cwd=src)
    svc = rw.Service(name="svc", repo="example/svc", commit=_git("rev-parse", "HEAD", cwd=src),
                     paths=("web/pkg/sub",), stack="", why="")
    mirror = tmp_path / "mirror"
    _git("clone", "-q", "--bare", str(src), str(mirror / "example+svc" / "repo"), cwd=tmp_path)
    work = rw.ensure_checkout(svc, tmp_path / "checkouts", mirror)
    assert (work / "web" / "pkg" / "sub" / "a.py").is_file()
    assert (work / "web" / "pkg" / "__init__.py").is_file()
    assert not (work / "web" / "pkg" / "b.py").exists()
    (work / "web" / "pkg" / "__init__.py").unlink()  # a tree exported before the parents were
    rw.ensure_checkout(svc, tmp_path / "checkouts", mirror)
    assert (work / "web" / "pkg" / "__init__.py").is_file()
