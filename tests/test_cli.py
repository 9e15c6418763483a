"""The `poolwarden` CLI as a user meets it: exit codes, formats, config, suppression, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import ENGINE, ROOT, SWALLOW, cli, write_tree


def test_text_output_and_exit_1(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/sel.py": SWALLOW})
    proc = cli("check", str(tmp_path), "--no-cache")
    assert proc.returncode == 1
    first = proc.stdout.splitlines()[0]
    assert first.startswith(f"{tmp_path / 'app' / 'sel.py'}:7:5: PW101 ")
    assert "Found 1 error" in proc.stdout


def test_clean_tree_exits_0(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/ok.py": "x = 1\n"})
    proc = cli("check", str(tmp_path), "--no-cache")
    assert proc.returncode == 0, proc.stderr
    assert "All checks passed" in proc.stdout


def test_json_has_the_contract_keys(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/sel.py": SWALLOW, "app/db.py": ENGINE})
    proc = cli("check", str(tmp_path), "--format", "json", "--no-cache")
    data = json.loads(proc.stdout)
    assert {d["code"] for d in data} == {"PW101", "PW103"}
    for d in data:
        assert set(d) >= {"code", "name", "path", "line", "col", "end_line", "end_col", "message", "severity"}
        assert d["line"] >= 1 and d["col"] >= 1


def test_sarif_is_2_1_0_with_rules_and_regions(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/sel.py": SWALLOW})
    proc = cli("check", str(tmp_path), "--format", "sarif", "--no-cache")
    log = json.loads(proc.stdout)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    result = run["results"][0]
    assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == "PW101"
    region = result["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == 7 and region["startColumn"] == 5
    assert result["level"] in ("error", "warning", "note")


def test_github_annotations(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/sel.py": SWALLOW})
    proc = cli("check", str(tmp_path), "--format", "github", "--no-cache")
    line = proc.stdout.splitlines()[0]
    assert line.startswith("::error title=PW101 swallowed-db-error,file=")
    assert ",line=7,col=5," in line


def test_select_and_ignore(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/sel.py": SWALLOW, "app/db.py": ENGINE})
    only = json.loads(cli("check", str(tmp_path), "--format", "json", "--select", "PW103", "--no-cache").stdout)
    assert {d["code"] for d in only} == {"PW103"}
    rest = json.loads(cli("check", str(tmp_path), "--format", "json", "--ignore", "PW103", "--no-cache").stdout)
    assert {d["code"] for d in rest} == {"PW101"}


def test_noqa_and_poolwarden_ignore(tmp_path: Path) -> None:
    src = SWALLOW.replace("except Exception:", "except Exception:  # noqa: PW101")
    src2 = ENGINE.replace('app")', 'app")  # poolwarden: ignore[PW103]')
    other = SWALLOW.replace("except Exception:", "except Exception:  # noqa: PW104")
    write_tree(tmp_path, {"app/a.py": src, "app/b.py": src2, "app/c.py": other})
    data = json.loads(cli("check", str(tmp_path), "--format", "json", "--no-cache").stdout)
    assert [(Path(d["path"]).name, d["code"]) for d in data] == [("c.py", "PW101")]


def test_pyproject_config_and_per_file_ignores(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/sel.py": SWALLOW, "app/db.py": ENGINE, "scripts/db.py": ENGINE})
    (tmp_path / "pyproject.toml").write_text(
        '[tool.poolwarden.check]\nignore = ["PW101"]\nper-file-ignores = { "scripts/*" = ["PW103"] }\n'
    )
    data = json.loads(cli("check", ".", "--format", "json", "--no-cache", cwd=tmp_path).stdout)
    assert [(d["path"], d["code"]) for d in data] == [("app/db.py", "PW103")]


def test_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/ok.py": "x = 1\n"})
    cases = [
        cli("check", str(tmp_path / "missing")),
        cli("check", str(tmp_path), "--select", "PW999"),
        cli("explain", "PW999"),
    ]
    (tmp_path / "pyproject.toml").write_text("[tool.poolwarden.check]\nselct = ['PW1']\n")
    cases.append(cli("check", ".", cwd=tmp_path))
    (tmp_path / "pyproject.toml").write_text("[tool.poolwarden.check\n")
    cases.append(cli("check", ".", cwd=tmp_path))
    (tmp_path / "pyproject.toml").write_text("[tool.poolwarden.check]\nignore = 'PW101'\n")
    cases.append(cli("check", ".", cwd=tmp_path))
    for proc in cases:
        assert proc.returncode == 2, proc
        assert "Traceback" not in proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("poolwarden: error: "), proc.stderr


def test_unparseable_undecodable_and_null_bytes_are_pw000_and_the_run_goes_on(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/sel.py": SWALLOW, "app/broken.py": "def f(:\n"})
    (tmp_path / "app" / "latin.py").write_bytes(b"x = '\xff\xfe'\n")
    (tmp_path / "app" / "nul.py").write_bytes(b"x = 1\x00\n")
    proc = cli("check", str(tmp_path), "--format", "json", "--no-cache")
    data = json.loads(proc.stdout)
    assert proc.returncode == 1
    by_file = {(Path(d["path"]).name, d["code"]) for d in data}
    assert by_file == {("sel.py", "PW101"), ("broken.py", "PW000"), ("latin.py", "PW000"), ("nul.py", "PW000")}


def test_cache_gives_the_same_answer_and_notices_edits(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/sel.py": SWALLOW, "app/repo.py": "x = 1\n"})
    first = cli("check", ".", "--format", "json", cwd=tmp_path)
    again = cli("check", ".", "--format", "json", cwd=tmp_path)
    assert (tmp_path / ".poolwarden_cache").is_dir()
    assert first.stdout == again.stdout and json.loads(first.stdout)
    (tmp_path / "app" / "sel.py").write_text(SWALLOW.replace("return None", "raise"))
    assert json.loads(cli("check", ".", "--format", "json", cwd=tmp_path).stdout) == []


def test_diff_reports_only_changed_lines(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/db.py": ENGINE})
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True, timeout=60)
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True, timeout=60)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=tmp_path, check=True, timeout=60)
    (tmp_path / "app" / "sel.py").write_text(SWALLOW)  # new, untracked file
    with (tmp_path / "app" / "db.py").open("a") as fh:
        fh.write('engine2 = create_engine("postgresql+asyncpg://db/other")\n')
    data = json.loads(cli("check", ".", "--format", "json", "--no-cache", "--diff", "HEAD", cwd=tmp_path).stdout)
    assert sorted((d["path"], d["line"], d["code"]) for d in data) == [
        ("app/db.py", 4, "PW103"), ("app/sel.py", 7, "PW101")]
    bad = cli("check", ".", "--diff", "no-such-rev", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("poolwarden: error: --diff")


def test_rules_and_explain() -> None:
    listing = cli("rules").stdout
    for code in ("PW101", "PW102", "PW103", "PW104", "PW105", "PW106", "PW107"):
        assert code in listing
    doc = cli("explain", "pw104").stdout
    for part in ("## What it does", "## Why is this bad?", "## Example", "## Use instead"):
        assert part in doc


def test_console_script_and_module_entry_point() -> None:
    script = Path(sys.executable).parent / "poolwarden"
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0 and "poolwarden" in proc.stdout


def test_check_imports_no_driver(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/sel.py": SWALLOW})
    code = (
        "import sys\nfrom poolwarden.cli import main\n"
        f"sys.argv = ['poolwarden', 'check', {str(tmp_path)!r}, '--no-cache', '-j', '1']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "drivers = ('sqlalchemy', 'asyncpg', 'psycopg', 'psycopg2', 'psycopg_pool', 'celery')\n"
        "bad = [m for m in drivers if m in sys.modules]\n"
        "print('IMPORTED', bad)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120)
    assert "IMPORTED []" in proc.stdout, proc.stdout + proc.stderr


def test_docs_rules_are_generated_and_fresh() -> None:
    from poolwarden.check.docs import render_all

    for name, content in render_all().items():
        path = ROOT / "docs" / "rules" / name
        assert path.is_file(), f"{path} missing: run `make docs`"
        assert path.read_text() == content, f"{path} is stale: run `make docs`"


def test_pre_commit_hook_definition() -> None:
    text = (ROOT / ".pre-commit-hooks.yaml").read_text()
    assert "id: poolwarden" in text and "entry: poolwarden check" in text


def test_syntax_warnings_of_checked_code_are_not_printed(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/w.py": 'x = "\\d"\nif x is 1:\n    pass\n'})
    proc = cli("check", str(tmp_path), "--no-cache")
    assert proc.returncode == 0 and proc.stderr == ""


def test_a_returned_lie_is_a_pw101_error_lost_work_an_opt_in_pw108_warning(tmp_path: Path) -> None:
    log_only = (  # returns nothing on any path: the work is lost, no value is made up
        "from sqlalchemy import update\n\n\nasync def mark(db, org):\n    try:\n"
        "        await db.execute(update(Org))\n    except Exception:\n        log.warning('mark failed')\n"
    )
    write_tree(tmp_path, {"app/a.py": SWALLOW, "app/b.py": log_only})
    data = json.loads(cli("check", str(tmp_path), "--format", "json", "--no-cache").stdout)
    assert [(Path(d["path"]).name, d["code"], d["severity"]) for d in data] == [("a.py", "PW101", "error")]
    data = json.loads(cli("check", str(tmp_path), "--format", "json", "--no-cache", "--extend-select", "PW108").stdout)
    assert sorted((Path(d["path"]).name, d["code"], d["severity"]) for d in data) == [
        ("a.py", "PW101", "error"), ("b.py", "PW108", "warning")]


def test_cache_rewalks_a_file_when_an_import_turns_into_db_code(tmp_path: Path) -> None:
    svc = ("from app.repo import load\n\n\ndef plan(org):\n    try:\n        return load(org)\n"
           "    except Exception:\n        return None\n")
    write_tree(tmp_path, {"app/svc.py": svc, "app/repo.py": "def load(org):\n    return org\n"})
    assert json.loads(cli("check", ".", "--format", "json", cwd=tmp_path).stdout) == []
    (tmp_path / "app" / "repo.py").write_text(
        "from sqlalchemy import text\n\n\ndef load(org, session=None):\n    return session.execute(text('x'))\n")
    data = json.loads(cli("check", ".", "--format", "json", cwd=tmp_path).stdout)
    assert [(d["path"], d["line"], d["code"]) for d in data] == [("app/svc.py", 7, "PW101")]


def test_a_damaged_cache_is_ignored_not_trusted(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/sel.py": SWALLOW})
    first = cli("check", ".", "--format", "json", cwd=tmp_path)
    caches = list((tmp_path / ".poolwarden_cache").glob("check-*.json"))
    assert len(caches) == 1
    caches[0].write_bytes(b"not json")
    again = cli("check", ".", "--format", "json", cwd=tmp_path)
    assert again.returncode == 1 and again.stdout == first.stdout and again.stderr == ""
