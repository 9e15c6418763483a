"""Adversarial input for `poolwarden check`'s configuration and output formats (issue 10).

Generated bad configurations (random sections, keys and values in pyproject.toml and
poolwarden.toml), random ``--select`` / ``--ignore`` strings and random file names full of
characters that URIs and workflow commands treat specially. The contract:

- a bad configuration or option: exit 2, one ``poolwarden: error:`` line naming the file (or the
  option) and the offending key, never a traceback; a configuration that is accepted selects at
  least one rule;
- SARIF is always valid JSON whose URIs are RFC 3986 references that decode back to the file;
- every github annotation parses back (GitHub's workflow-command rules) to the finding's file,
  position and message.

Each test counts the inputs it was thrown (``COUNTS``); ``-s`` prints the totals. With
``POOLWARDEN_SARIF_SCHEMA`` pointing at the OASIS SARIF 2.1.0 schema and ``jsonschema`` installed,
SARIF logs are also validated against the schema (it is not vendored: the OASIS IPR terms are not a
licence to redistribute it here).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poolwarden.check.config import _KEYS, apply_options, load_config
from poolwarden.check.files import DEFAULT_EXCLUDE
from poolwarden.check.finding import Finding
from poolwarden.check.registry import DOCUMENTED, UnknownCodeError, expand_codes
from poolwarden.check.report import github, sarif
from poolwarden.config import SECTIONS
from poolwarden.errors import UsageError

from .contract import assert_clean_failure, run, scaled, thrown

COUNTS = thrown("check (config, formats)")
SWALLOW = ("from sqlalchemy import select\n\n\nasync def get_sub(db, org):\n    try:\n"
           "        return (await db.execute(select(Sub))).scalar_one_or_none()\n    except Exception:\n"
           "        return None\n")
FAST = settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(deadline=None, max_examples=scaled(10), suppress_health_check=[HealthCheck.too_slow])


# -- strategies -------------------------------------------------------------------------------------
TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)
CODE = st.sampled_from(["PW", "PW1", "PW10", "PW101", "PW107", "PW000", "PW0", "ALL", "pw104", "", " ", "PW999",
                        "PW1010", "E501", "PW10O", "*", "PW1,PW2", "PW 101", "\u00a0PW101"]) | TEXT
VALID_CODE = st.sampled_from([*sorted(DOCUMENTED), "PW", "PW1", "PW10", "ALL", "pw104", " PW101 "])
SCALAR = st.one_of(st.booleans(), st.integers(-10, 10**6), TEXT, CODE)
VALUE = st.one_of(SCALAR, st.lists(CODE, max_size=4), st.lists(SCALAR, max_size=3),
                  st.dictionaries(TEXT, st.lists(CODE, max_size=3), max_size=3))
SECTION_NAME = st.sampled_from([*SECTIONS, "chek", "checks", "Check", "", "tool", "poolwarden", "check.x"]) | TEXT
KEY = st.sampled_from([*_KEYS, "selct", "Select", "ignores", "exclude ", "per_file_ignores", "cache_dir", ""]) | TEXT


def toml_string(value: str) -> str:
    """A TOML basic string: JSON's escapes for control characters (TOML shares them), DEL too."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    """TOML for the JSON-like ``value``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def document(filename: str, sections: dict[str, dict[str, Any]]) -> str:
    """A config file holding ``sections`` (as inline tables, so that any name can be written)."""
    head = "[tool.poolwarden]\n" if filename == "pyproject.toml" else ""
    return head + "".join(f"{toml_string(name)} = {toml_value(table)}\n" for name, table in sections.items())


def _known(code: str) -> bool:
    try:
        expand_codes([code])
    except UnknownCodeError:
        return False
    return True


@st.composite
def bad_config(draw: st.DrawFn) -> tuple[str, str, list[str]]:
    """(file name, text, what the error line must name): a valid check section with one defect."""
    filename = draw(st.sampled_from(["pyproject.toml", "poolwarden.toml"]))
    prefix = "tool.poolwarden." if filename == "pyproject.toml" else ""
    check: dict[str, Any] = {"select": draw(st.lists(VALID_CODE, min_size=1, max_size=3)),
                             "ignore": draw(st.lists(VALID_CODE, max_size=2))}
    sections: dict[str, dict[str, Any]] = {"check": check}
    defect = draw(st.sampled_from(["section", "key", "type", "empty_select", "empty_code", "unknown_code",
                                   "per_file_code", "cache_dir"]))
    if defect == "section":
        name = draw(SECTION_NAME.filter(lambda s: s not in SECTIONS))
        sections[name] = {}
        needles = [repr(prefix + name)]
    elif defect == "key":
        key = draw(KEY.filter(lambda k: k not in _KEYS))
        check[key] = draw(VALUE)
        needles = [repr(key)]
    elif defect == "type":
        key = draw(st.sampled_from(["select", "ignore", "exclude"]))
        check[key] = draw(st.one_of(st.booleans(), st.integers(), TEXT, st.lists(st.integers(), min_size=1)))
        needles = [repr(key), "must be a list of strings"]
    elif defect == "empty_select":
        check["select"] = []
        needles = ["'select' is empty"]
    elif defect == "empty_code":
        key = draw(st.sampled_from(["select", "ignore"]))
        check[key] = [*check[key], draw(st.sampled_from(["", " ", "\t"]))]
        needles = [key, "empty rule code"]
    elif defect == "unknown_code":
        key = draw(st.sampled_from(["select", "ignore"]))
        code = draw(CODE.filter(lambda c: bool(c.strip()) and not _known(c)))
        check[key] = [*check[key], code]
        needles = [key, repr(code.strip())]
    elif defect == "per_file_code":
        glob = draw(TEXT)
        code = draw(CODE.filter(lambda c: not _known(c)))
        check["per-file-ignores"] = {glob: [code]}
        needles = [f"per-file-ignores {glob!r}"]
    else:
        check["cache-dir"] = draw(st.one_of(st.just(""), st.just("  "), st.integers(), st.lists(TEXT, max_size=2)))
        needles = ["'cache-dir'"]
    return filename, document(filename, sections), needles


@contextmanager
def _project(text: str, filename: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="pwcfg-") as tmp:
        root = Path(tmp)
        (root / "app").mkdir()
        (root / "app" / "sel.py").write_text(SWALLOW)
        (root / filename).write_text(text, encoding="utf-8")
        yield root


# -- configurations -----------------------------------------------------------------------------------
@FAST
@given(bad_config())
def test_a_bad_config_is_an_error_naming_file_and_key_in_process(case: tuple[str, str, list[str]]) -> None:
    filename, text, needles = case
    COUNTS["bad config (library)"] += 1
    with _project(text, filename) as root:
        with pytest.raises(UsageError) as info:
            load_config(root / filename)
        message = str(info.value)
        assert "\n" not in message and "\r" not in message, message
        assert message.startswith(f"{root / filename}: "), message
        for needle in needles:
            assert needle in message, (needle, message)


@SLOW
@given(bad_config())
def test_a_bad_config_is_exit_2_and_one_line(case: tuple[str, str, list[str]]) -> None:
    filename, text, needles = case
    COUNTS["bad config (cli)"] += 1
    with _project(text, filename) as root:
        proc = run("check", ".", "--no-cache", cwd=root)
        assert_clean_failure(proc, contains=[filename, *needles])


@st.composite
def random_config(draw: st.DrawFn) -> tuple[str, str]:
    filename = draw(st.sampled_from(["pyproject.toml", "poolwarden.toml"]))
    sections = draw(st.dictionaries(SECTION_NAME, st.dictionaries(KEY, VALUE, max_size=4), max_size=3))
    return filename, document(filename, sections)


@FAST
@given(random_config())
def test_any_config_loads_or_fails_in_one_line_in_process(case: tuple[str, str]) -> None:
    filename, text = case
    COUNTS["random config (library)"] += 1
    with _project(text, filename) as root:
        try:
            config = load_config(root / filename)
        except UsageError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(str(root / filename)), str(exc)
            return
        assert config.select and all(_known(c) for c in config.select)  # never an empty selection


@SLOW
@given(random_config())
def test_any_config_runs_or_fails_cleanly(case: tuple[str, str]) -> None:
    filename, text = case
    COUNTS["random config (cli)"] += 1
    with _project(text, filename) as root:
        proc = run("check", ".", "--no-cache", "--format", "json", cwd=root)
        if proc.returncode == 2:
            assert_clean_failure(proc, contains=filename)
        else:
            assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
            json.loads(proc.stdout)


# -- --select / --ignore ------------------------------------------------------------------------------
OPTION = st.lists(CODE, max_size=4).map(",".join) | TEXT


@FAST
@given(OPTION, st.sampled_from(["--select", "--extend-select", "--ignore"]))
def test_select_and_ignore_strings_in_process(value: str, option: str) -> None:
    COUNTS["--select/--extend-select/--ignore (library)"] += 1
    config = load_config(None)
    select, extend, ignore = (value if option == "--select" else None,
                              value if option == "--extend-select" else None,
                              value if option == "--ignore" else None)
    tokens = [c.strip() for c in value.split(",") if c.strip()]
    expected_error = (option == "--select" and not tokens) or not all(_known(t) for t in tokens)
    try:
        apply_options(config, select, ignore, extend)
    except UsageError as exc:
        message = str(exc)
        assert message.startswith(f"{option}: ") and "\n" not in message, message
        assert expected_error, message
        return
    assert not expected_error
    if option == "--select":
        assert tokens and config.select == tokens  # an accepted selection names at least one rule
    if option == "--extend-select":
        assert config.extend_select == tokens and config.select == ["PW"]


@SLOW
@given(OPTION.filter(lambda v: "\x00" not in v), st.sampled_from(["--select", "--extend-select", "--ignore"]))
def test_select_and_ignore_strings_on_the_command_line(value: str, option: str) -> None:
    COUNTS["--select/--extend-select/--ignore (cli)"] += 1
    with _project("", "poolwarden.toml") as root:
        proc = run("check", ".", "--no-cache", f"{option}={value}", cwd=root)
        if proc.returncode == 2:
            assert_clean_failure(proc, contains=option)
        else:
            assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr


# -- output formats -------------------------------------------------------------------------------------
NAME = st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="/\x00"), min_size=1,
               max_size=10).filter(lambda s: s not in (".", "..") and s not in DEFAULT_EXCLUDE
                                   and not s.endswith(".egg-info"))
MESSAGE = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)
_URI_CHARS = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-F]{2})*")


def check_uri(location: dict[str, str], expected_abs: str, cwd: str) -> None:
    """An RFC 3986 reference without query or fragment that decodes back to ``expected_abs``."""
    uri = location["uri"]
    assert _URI_CHARS.fullmatch(uri), uri
    parts = urlsplit(uri)
    assert not parts.query and not parts.fragment, uri
    if "uriBaseId" in location:
        assert location["uriBaseId"] == "%SRCROOT%" and not parts.scheme and not uri.startswith("/"), uri
        decoded = os.path.join(cwd, os.fsdecode(unquote_to_bytes(uri)))
    else:
        assert parts.scheme == "file" and parts.netloc == "", uri
        decoded = os.fsdecode(unquote_to_bytes(parts.path))
    assert os.path.normpath(decoded) == os.path.normpath(expected_abs), (uri, expected_abs)


def validate_sarif(text: str, cwd: str, paths: list[str]) -> dict[str, Any]:
    """Parse a SARIF log and check what code scanning relies on (and the schema, when available)."""
    log: dict[str, Any] = json.loads(text)
    schema_file = os.environ.get("POOLWARDEN_SARIF_SCHEMA")
    if schema_file:
        jsonschema = pytest.importorskip("jsonschema")
        jsonschema.Draft4Validator(json.loads(Path(schema_file).read_text())).validate(log)
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1
    run_ = log["runs"][0]
    rules = run_["tool"]["driver"]["rules"]
    assert run_["originalUriBaseIds"]["%SRCROOT%"]["uri"].endswith("/")
    check_uri(run_["originalUriBaseIds"]["%SRCROOT%"], cwd, cwd)
    assert len(run_["results"]) == len(paths)
    for result, path in zip(run_["results"], paths, strict=True):
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning") and isinstance(result["message"]["text"], str)
        physical = result["locations"][0]["physicalLocation"]
        check_uri(physical["artifactLocation"], os.path.join(cwd, path), cwd)
        region = physical["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1 and region["endLine"] >= region["startLine"]
        (fingerprint,) = result["partialFingerprints"].values()
        assert isinstance(fingerprint, str) and fingerprint
    return log


def parse_annotation(line: str) -> tuple[str, dict[str, str], str]:
    """A workflow command as GitHub's runner reads it: ``::name k=v,k=v::data``, unescaped."""
    m = re.fullmatch(r"::(\w+) ([^:\r\n]*)::([^\r\n]*)", line)
    assert m, line

    def unescape(value: str, prop: bool) -> str:
        pairs = ([("%3A", ":"), ("%2C", ",")] if prop else []) + [("%0D", "\r"), ("%0A", "\n"), ("%25", "%")]
        for enc, dec in pairs:
            value = value.replace(enc, dec)
        return value

    props: dict[str, str] = {}
    for part in m.group(2).split(","):
        key, sep, value = part.partition("=")
        assert sep and key not in props, line
        props[key] = unescape(value, True)
    return m.group(1), props, unescape(m.group(3), False)


def check_github(text: str, findings: list[Finding]) -> None:
    lines = text.split("\n") if text else []
    assert len(lines) == len(findings)
    for line, f in zip(lines, findings, strict=True):
        level, props, data = parse_annotation(line)
        assert level == ("error" if f.severity == "error" else "warning")
        assert props["file"] == f.path and props["title"] == f"{f.code} {f.name}"
        assert (props["line"], props["col"]) == (str(f.line), str(f.col))
        assert data == f"{f.code} {f.message}"


@st.composite
def findings(draw: st.DrawFn) -> list[Finding]:
    out = []
    for _ in range(draw(st.integers(1, 4))):
        parts = draw(st.lists(NAME, min_size=1, max_size=3))
        path = os.path.join(*parts) + ".py"
        if draw(st.booleans()):
            path = os.path.join(draw(st.sampled_from(["/tmp", "/", "/srv/x y", ".."])), path)
        code = draw(st.sampled_from(sorted(DOCUMENTED)))
        line, col = draw(st.integers(1, 10**6)), draw(st.integers(1, 500))
        out.append(Finding(path, line, col, code, line, col + 1, DOCUMENTED[code].NAME, draw(MESSAGE),
                           draw(st.sampled_from(["error", "warning"]))))
    return out


@FAST
@given(findings())
def test_sarif_and_github_of_any_paths_and_messages_in_process(found: list[Finding]) -> None:
    COUNTS["sarif/github findings (library)"] += 1
    cwd = os.getcwd()
    validate_sarif(sarif(found, len(found)), cwd, [f.path for f in found])
    check_github(github(found, len(found)), found)


@SLOW
@given(NAME, NAME)
def test_sarif_and_github_of_odd_file_names_on_the_command_line(directory: str, stem: str) -> None:
    COUNTS["odd file names (cli)"] += 1
    with tempfile.TemporaryDirectory(prefix="pwsarif-") as tmp:
        root = Path(tmp).resolve()
        target = root / directory / f"{stem}.py"
        target.parent.mkdir()
        target.write_text(SWALLOW)
        rel = os.path.relpath(target, root)
        # the same file named three ways: through the tree, relatively and absolutely
        proc = run("check", ".", f"./{rel}", str(target), "--no-cache", "--format", "sarif", cwd=root)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        validate_sarif(proc.stdout, str(root), [rel])
        proc = run("check", ".", str(target), "--no-cache", "--format", "github", cwd=root)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        (line,) = proc.stdout.rstrip("\n").split("\n")
        level, props, data = parse_annotation(line)
        assert (level, props["file"], props["line"]) == ("error", rel, "7") and data.startswith("PW101 ")


# -- --diff ---------------------------------------------------------------------------------------------
REV = st.sampled_from(["HEAD", "@", "HEAD~1", "HEAD^^", "main", "no-such-rev", "", " ", "-p", "--output=x",
                       "HEAD:app", "..", "HEAD..HEAD", "@{-1}", "$(id)", "`id`", "HEAD;id"]) | TEXT


@SLOW
@given(REV.filter(lambda v: "\x00" not in v), st.booleans())
def test_any_diff_revision_runs_or_fails_in_one_line(rev: str, committed: bool) -> None:
    COUNTS["--diff revisions (cli)"] += 1
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t", "-c", "init.defaultBranch=main"]
    with _project("", "poolwarden.toml") as root:
        subprocess.run([*git, "init", "-q"], cwd=root, check=True, capture_output=True, timeout=60)
        if committed:
            subprocess.run([*git, "add", "."], cwd=root, check=True, capture_output=True, timeout=60)
            subprocess.run([*git, "commit", "-qm", "base"], cwd=root, check=True, capture_output=True, timeout=60)
        before = sorted(p.name for p in root.iterdir())
        proc = run("check", str(root), "--no-cache", f"--diff={rev}", cwd=root.parent)
        if proc.returncode == 2:
            assert_clean_failure(proc, contains="--diff")
        else:
            assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
        if rev in ("HEAD", "@"):  # committed: nothing changed; no commit yet: every file is new
            assert proc.returncode == (0 if committed else 1), proc.stdout + proc.stderr
        assert sorted(p.name for p in root.iterdir() if p.name != ".poolwarden_cache") == before
