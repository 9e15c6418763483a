"""`poolwarden check`, `rules` and `explain` as a careful user meets them (issue 10, items 8, 12, 14,
15, 17): a config typo is an error, never a silently disabled rule; PW000 is a code like the others;
`--diff` reads the right repository; SARIF and github output survive odd file names; the summary
and the messages speak the user's language; the help is complete."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import click
import pytest

from .conftest import ENGINE, ROOT, SWALLOW, cli, write_tree

SKIP = '''\
from sqlalchemy import select


async def touch(db):
    try:
        await db.execute(select(A))
    except Exception:
        pass
'''
GIT = ["git", "-c", "user.email=t@t", "-c", "user.name=t", "-c", "init.defaultBranch=main"]


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("poolwarden: error: "), proc.stderr
    return lines[0]


# -- item 8: configuration typos never silently turn rules off -------------------------------------
@pytest.mark.parametrize(("filename", "text", "needles"), [
    ("pyproject.toml", "[tool.poolwarden.chek]\nselect = ['PW1']\n",
     ["pyproject.toml", "'tool.poolwarden.chek'", "did you mean 'tool.poolwarden.check'"]),
    ("pyproject.toml", "[tool.poolwarden]\nchek = {}\n",
     ["pyproject.toml", "'tool.poolwarden.chek'", "did you mean 'tool.poolwarden.check'"]),
    ("poolwarden.toml", "[chek]\nselect = ['PW1']\n", ["poolwarden.toml", "'chek'", "did you mean 'check'"]),
    ("pyproject.toml", "[tool.poolwarden.check]\nselect = []\n", ["pyproject.toml", "'select' is empty"]),
    ("pyproject.toml", "[tool.poolwarden.check]\nselect = ['']\n", ["pyproject.toml", "select", "empty rule code"]),
    ("poolwarden.toml", "[check]\nignore = ['PW1010']\n",
     ["poolwarden.toml", "ignore", "'PW1010'", "did you mean 'PW1"]),
    ("pyproject.toml", "[tool.poolwarden.check]\nselct = ['PW1']\n", ["unknown key 'selct'", "did you mean 'select'"]),
    ("pyproject.toml", "[tool.poolwarden.check]\nextend-select = ['PW18']\n",
     ["pyproject.toml", "extend-select", "'PW18'", "did you mean"]),
    ("pyproject.toml", "[tool.poolwarden.check]\nextend-select = 'PW108'\n",
     ["pyproject.toml", "'extend-select' must be a list of strings"]),
    ("pyproject.toml", "[tool.poolwarden.check]\nper-file-ignores = { 'a/*' = ['PW9x'] }\n",
     ["per-file-ignores 'a/*'", "'PW9x'"]),
])
def test_config_typos_are_errors_naming_file_and_key(tmp_path: Path, filename: str, text: str,
                                                     needles: list[str]) -> None:
    write_tree(tmp_path, {"app/sel.py": SWALLOW})
    (tmp_path / filename).write_text(text)
    line = _one_error_line(cli("check", ".", cwd=tmp_path))
    for needle in needles:
        assert needle in line, line


@pytest.mark.parametrize(("args", "needles"), [
    (["--select="], ["--select", "no rule code"]),
    (["--select", " , "], ["--select", "no rule code"]),
    (["--select", "PW10O"], ["--select", "'PW10O'", "did you mean 'PW10'"]),
    (["--ignore", "PW1O1"], ["--ignore", "'PW1O1'", "did you mean"]),
    (["--extend-select", "PW1O8"], ["--extend-select", "'PW1O8'", "did you mean"]),
])
def test_bad_select_and_ignore_options_name_the_option(tmp_path: Path, args: list[str], needles: list[str]) -> None:
    write_tree(tmp_path, {"app/sel.py": SWALLOW})
    line = _one_error_line(cli("check", ".", *args, cwd=tmp_path))
    for needle in needles:
        assert needle in line, line


def test_pw000_is_a_known_code_everywhere(tmp_path: Path) -> None:
    doc = cli("explain", "PW000")
    assert doc.returncode == 0 and doc.stdout.startswith("# PW000 syntax-error"), doc.stderr
    listing = cli("rules")
    assert listing.stdout.splitlines()[0].startswith("PW000  syntax-error")
    assert "PW000" in {r["code"] for r in json.loads(cli("rules", "--format", "json").stdout)}
    assert (ROOT / "docs" / "rules" / "PW000.md").read_text() + "\n" == doc.stdout

    write_tree(tmp_path, {"app/sel.py": SWALLOW, "app/broken.py": "def f(:  # noqa: PW000\n"})

    def codes(*args: str) -> list[str]:
        proc = cli("check", ".", "--format", "json", "--no-cache", *args, cwd=tmp_path)
        assert proc.returncode in (0, 1), proc.stderr
        return sorted(d["code"] for d in json.loads(proc.stdout))

    assert codes() == ["PW000", "PW101"]  # a noqa comment cannot suppress it: the file did not parse
    assert codes("--select", "PW103") == ["PW000"]  # selecting rules never hides an unread file
    assert codes("--select", "PW000") == ["PW000"]
    assert codes("--ignore", "PW000") == ["PW101"]
    assert codes("--ignore", "PW0") == ["PW101"]
    (tmp_path / "pyproject.toml").write_text("[tool.poolwarden.check]\nignore = ['PW000']\n")
    assert codes() == ["PW101"]
    (tmp_path / "pyproject.toml").write_text(
        "[tool.poolwarden.check]\nper-file-ignores = { 'app/broken.py' = ['PW000'] }\n")
    assert codes() == ["PW101"]


# -- item 12: --diff and pre-commit -------------------------------------------------------------------
def _git(cwd: Path, *args: str) -> None:
    subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def test_diff_head_in_a_repository_without_commits_treats_every_file_as_new(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/sel.py": SWALLOW, "app/db.py": ENGINE})
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "app/db.py")  # staged, and untracked: both new
    proc = cli("check", ".", "--format", "json", "--no-cache", "--diff", "HEAD", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert sorted((d["path"], d["code"]) for d in json.loads(proc.stdout)) == [
        ("app/db.py", "PW103"), ("app/sel.py", "PW101")]


def test_diff_reads_the_repository_of_the_checked_path_not_the_working_directory(tmp_path: Path) -> None:
    repo, elsewhere = tmp_path / "repo", tmp_path / "elsewhere"
    write_tree(repo, {"app/db.py": ENGINE})
    elsewhere.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    (repo / "app" / "sel.py").write_text(SWALLOW)
    proc = cli("check", str(repo), "--format", "json", "--no-cache", "--diff", "HEAD", cwd=elsewhere)
    assert proc.returncode == 1, proc.stderr
    assert [(Path(d["path"]).name, d["code"]) for d in json.loads(proc.stdout)] == [("sel.py", "PW101")]
    # a bad revision, and a path outside any repository, stay one-line errors
    assert "unknown revision 'no-such-rev'" in _one_error_line(
        cli("check", str(repo), "--diff", "no-such-rev", cwd=elsewhere))
    assert "not a git repository" in _one_error_line(cli("check", str(elsewhere), "--diff", "HEAD"))


def test_pre_commit_offers_a_changed_lines_hook_and_a_whole_tree_hook() -> None:
    text = (ROOT / ".pre-commit-hooks.yaml").read_text()
    hooks = re.findall(r"^- id: (\S+)\n(?:  .*\n)*?  entry: (.*)$", text, re.M)
    assert dict(hooks) == {"poolwarden": "poolwarden check --diff HEAD", "poolwarden-all": "poolwarden check"}
    readme = (ROOT / "README.md").read_text()
    assert "reports only findings on lines changed since `HEAD`" in readme and "poolwarden-all" in readme


# -- item 14: SARIF and github annotations ----------------------------------------------------------
def _sarif(cwd: Path, *args: str) -> dict:  # type: ignore[type-arg]
    proc = cli("check", *args, "--format", "sarif", "--no-cache", cwd=cwd)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_sarif_uris_are_percent_encoded_and_a_file_named_twice_is_reported_once(tmp_path: Path) -> None:
    odd = "dir with space#1%é"
    write_tree(tmp_path, {f"{odd}/sel.py": SWALLOW})
    log = _sarif(tmp_path, ".", str(tmp_path / odd / "sel.py"), f"{odd}/sel.py")
    results = log["runs"][0]["results"]
    assert len(results) == 1
    location = results[0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": "dir%20with%20space%231%25%C3%A9/sel.py", "uriBaseId": "%SRCROOT%"}
    assert log["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"].startswith("file:///")
    outside = _sarif(ROOT, str(tmp_path / odd))["runs"][0]["results"]
    uri = outside[0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri == {"uri": "file://" + str(tmp_path).replace(" ", "%20") + "/dir%20with%20space%231%25%C3%A9/sel.py"}
    text = cli("check", ".", str(tmp_path / odd / "sel.py"), "--no-cache", cwd=tmp_path).stdout
    assert text.endswith("Found 1 error in 2 files checked (PW101: 1).\n"), text


def test_sarif_fingerprints_survive_lines_moving_and_tell_twins_apart(tmp_path: Path) -> None:
    twins = ENGINE + 'engine = create_engine("postgresql+asyncpg://db/app")\n'
    write_tree(tmp_path, {"app/db.py": twins})

    def prints() -> list[tuple[int, str]]:
        results = _sarif(tmp_path, ".")["runs"][0]["results"]
        return [(r["locations"][0]["physicalLocation"]["region"]["startLine"],
                 r["partialFingerprints"]["poolwarden/v1"]) for r in results if r["ruleId"] == "PW103"]

    before = prints()
    assert len(before) == 2 and before[0][1] != before[1][1]
    (tmp_path / "app" / "db.py").write_text("# a\n# b\n\n" + twins)
    after = prints()
    assert [line for line, _ in after] == [line + 3 for line, _ in before]
    assert [fp for _, fp in after] == [fp for _, fp in before]


def parse_annotation(line: str) -> tuple[str, dict[str, str], str]:
    """A workflow command as GitHub's runner reads it: ``::name k=v,k=v::data``, unescaped."""
    m = re.fullmatch(r"::(\w+) ([^:]*)::(.*)", line)
    assert m, line

    def unescape(value: str, prop: bool) -> str:
        for enc, dec in ([("%3A", ":"), ("%2C", ",")] if prop else []) + [("%0D", "\r"), ("%0A", "\n"), ("%25", "%")]:
            value = value.replace(enc, dec)
        return value

    props = {}
    for part in m.group(2).split(","):
        key, _, value = part.partition("=")
        props[key] = unescape(value, True)
    return m.group(1), props, unescape(m.group(3), False)


def test_github_annotations_escape_properties_and_data(tmp_path: Path) -> None:
    odd = "a,b:c%d"
    write_tree(tmp_path, {f"{odd}/sel.py": SWALLOW})
    proc = cli("check", ".", "--format", "github", "--no-cache", cwd=tmp_path)
    (line,) = proc.stdout.splitlines()
    assert "file=a%2Cb%3Ac%25d/sel.py," in line
    level, props, data = parse_annotation(line)
    assert level == "error" and props["file"] == f"{odd}/sel.py" and props["line"] == "7"
    assert props["title"] == "PW101 swallowed-db-error" and data.startswith("PW101 ")


# -- item 15: output speaks to users ------------------------------------------------------------------
def test_summary_counts_errors_and_warnings_apart(tmp_path: Path) -> None:
    write_tree(tmp_path, {"app/sel.py": SWALLOW, "app/skip.py": SKIP})
    proc = cli("check", ".", "--no-cache", "--extend-select", "PW108", cwd=tmp_path)
    assert proc.stdout.splitlines()[-1] == "Found 1 error and 1 warning in 3 files checked (PW101: 1, PW108: 1)."
    only_warning = cli("check", "app/skip.py", "--no-cache", "--extend-select", "PW108", cwd=tmp_path)
    assert only_warning.stdout.splitlines()[-1] == "Found 1 warning in 1 file checked (PW108: 1)."


def test_statistics_count_each_rule_most_first_in_text_and_json(tmp_path: Path) -> None:
    """``--statistics`` (ruff's): count, code and name per rule instead of the findings; exit code as a run's."""
    write_tree(tmp_path, {"app/sel.py": SWALLOW, "app/sel2.py": SWALLOW, "app/skip.py": SKIP, "app/db.py": ENGINE})
    full = cli("check", ".", "--no-cache", "--extend-select", "PW108", cwd=tmp_path)
    proc = cli("check", ".", "--no-cache", "--statistics", "--extend-select", "PW108", cwd=tmp_path)
    assert proc.returncode == full.returncode == 1
    rows = proc.stdout.splitlines()
    assert rows[-1] == full.stdout.splitlines()[-1]
    table = [row.split("\t") for row in rows[:-1]]
    assert table[0] == ["2", "PW101", "swallowed-db-error"]
    assert [r[1] for r in table[1:]] == sorted(r[1] for r in table[1:]) and all(r[0] == "1" for r in table[1:])
    as_json = json.loads(cli("check", ".", "--no-cache", "--statistics", "--format", "json", "--extend-select", "PW108",
                             cwd=tmp_path).stdout)
    assert as_json[0] == {"code": "PW101", "name": "swallowed-db-error", "count": 2}
    assert sum(r["count"] for r in as_json) == len(full.stdout.splitlines()) - 1
    bad = cli("check", ".", "--statistics", "--format", "sarif", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr == "poolwarden: error: --statistics prints text or json, not sarif\n"


def test_callee_locations_in_messages_are_relative_like_the_finding_path(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples" / "seed2-enricher" / "buggy", tmp_path / "buggy")
    proc = cli("check", str(tmp_path / "buggy"), "--format", "json", "--no-cache", cwd=tmp_path)
    pinned = {(d["code"], d["path"], d["line"], d["col"], d["message"]) for d in json.loads(proc.stdout)}
    assert ("PW104", "buggy/enricher/batch.py", 41, 37,
            "`validate_email()` does external I/O (validate_email() → HTTP (_client.get()) at line 27 in "
            "buggy/enricher/validation.py) while the transaction of `engine.begin()` (line 28) is held: the "
            "connection sits idle in transaction for the whole wait; finish the transaction first (read, commit, "
            "then call) and write back in a fresh, short transaction") in pinned
    assert str(tmp_path) not in proc.stdout


# -- item 17: help ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["check", "rules", "explain"])
def test_every_option_has_help_and_the_help_states_exit_codes(name: str) -> None:
    from poolwarden.cli import main

    command = main.commands[name]
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{name} {param.opts} has no help"
    help_text = cli(name, "--help").stdout
    assert "Exit codes" in help_text
    if name == "check":
        assert re.search(r"0\s+no findings", help_text) and re.search(r"1\s+findings", help_text)
        assert re.search(r"2\s+bad input", help_text)


def test_explain_summary_is_not_cut_in_the_command_list() -> None:
    listing = cli("--help").stdout
    (line,) = [line for line in listing.splitlines() if line.strip().startswith("explain")]
    assert not line.rstrip().endswith(("e.g.", "...")), line
