"""Output formats of ``poolwarden check``: text, json, sarif (2.1.0) and github annotations.

Promises: a finding reported twice under two spellings of one file (``app/x.py`` and
``/repo/app/x.py``, or a symlink) is rendered once; the text summary counts errors and warnings
apart; SARIF URIs are RFC 3986 (percent-encoded relative references against ``%SRCROOT%`` — the
working directory — for files under it, ``file:`` URIs otherwise) and every result carries a
``partialFingerprints`` entry that survives lines moving; github annotations escape their
properties and message as GitHub's workflow-command parser expects.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import quote

from poolwarden import __version__
from poolwarden.check.display import display_path
from poolwarden.check.finding import Finding
from poolwarden.check.registry import DOCUMENTED
from poolwarden.text import one_line

FORMATS = ("text", "json", "sarif", "github")

#: The key of poolwarden's own fingerprint in SARIF ``partialFingerprints`` (versioned: a change
#: of the recipe must change the key).
FINGERPRINT_KEY = "poolwarden/v1"


def render(fmt: str, findings: Sequence[Finding], files: int) -> str:
    """The report in format ``fmt`` (one of :data:`FORMATS`), each finding once."""
    renderers: dict[str, Callable[[Sequence[Finding], int], str]] = {
        "text": text, "json": as_json, "sarif": sarif, "github": github,
    }
    return renderers[fmt](unique(findings), files)


def unique(findings: Sequence[Finding]) -> list[Finding]:
    """``findings`` without repeats of one place of one file under another spelling of its path."""
    seen: set[tuple[str, int, int, str, int, int]] = set()
    out = []
    for f in findings:
        key = (os.path.realpath(f.path), f.line, f.col, f.code, f.end_line, f.end_col)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def summary(findings: Sequence[Finding], files: int) -> str:
    """``Found 3 errors and 2 warnings in 4 files checked (PW101: 3, PW104: 2).`` — how many findings
    each rule made, by code — or ``All checks passed! …``."""
    checked = f"{files} file{'s' if files != 1 else ''} checked"
    if not findings:
        return f"All checks passed! ({checked})"
    warnings = sum(1 for f in findings if f.severity == "warning")
    errors = len(findings) - warnings
    parts = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in ((errors, "error"), (warnings, "warning")) if n]
    by_rule = ", ".join(f"{code}: {n}" for code, n in sorted(Counter(f.code for f in findings).items()))
    return f"Found {' and '.join(parts)} in {checked} ({by_rule})."


def statistics(fmt: str, findings: Sequence[Finding], files: int) -> str:
    """``--statistics`` (ruff's): one row per rule with findings — count, code, name — most first;
    ``text`` ends with the summary line, ``json`` is a list of ``{"code", "name", "count"}``."""
    found = unique(findings)
    names = {f.code: f.name for f in found}
    rows = sorted(Counter(f.code for f in found).items(), key=lambda item: (-item[1], item[0]))
    if fmt == "json":
        return json.dumps([{"code": code, "name": names[code], "count": n} for code, n in rows], indent=2)
    width = max((len(str(n)) for _, n in rows), default=1)
    lines = [f"{n:>{width}}\t{code}\t{names[code]}" for code, n in rows]
    lines.append(summary(found, files))
    return "\n".join(lines)


def text(findings: Sequence[Finding], files: int) -> str:
    """ruff's shape: ``path:line:col: CODE message``, then a summary line. One line per finding:
    control characters in a path or message (a file named with a newline) are shown escaped, so a
    file name can never forge a line of output."""
    lines = [one_line(f"{f.path}:{f.line}:{f.col}: {f.code} {f.message}") for f in findings]
    lines.append(summary(findings, files))
    return "\n".join(lines)


def as_json(findings: Sequence[Finding], files: int) -> str:
    """A JSON array of findings (the contract's keys)."""
    return json.dumps([f.as_dict() for f in findings], indent=2)


def escape_data(value: str) -> str:
    """The message of a workflow command, escaped as GitHub's runner unescapes it."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """A property value (``file=``, ``title=``) of a workflow command: data escapes plus ``:`` and ``,``."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def github(findings: Sequence[Finding], files: int) -> str:
    """GitHub Actions workflow commands: one ``::error`` / ``::warning`` annotation per finding."""
    out = []
    for f in findings:
        level = "error" if f.severity == "error" else "warning"
        props = ",".join((
            f"title={escape_property(f'{f.code} {f.name}')}",
            f"file={escape_property(f.path)}",
            f"line={f.line}", f"col={f.col}", f"endLine={f.end_line}", f"endColumn={f.end_col}",
        ))
        out.append(f"::{level} {props}::{escape_data(f'{f.code} {f.message}')}")
    return "\n".join(out)


def artifact_location(path: str, cwd: str | None = None) -> dict[str, str]:
    """SARIF ``artifactLocation`` of ``path``: a percent-encoded URI reference relative to
    ``%SRCROOT%`` (``cwd``) when the file is under it, else an absolute ``file:`` URI."""
    shown = display_path(path, cwd)
    if os.path.isabs(shown):
        return {"uri": file_uri(shown)}
    return {"uri": _quote(Path(shown).as_posix()), "uriBaseId": "%SRCROOT%"}


def file_uri(absolute: str, directory: bool = False) -> str:
    """An RFC 3986 ``file:`` URI (UTF-8, percent-encoded) for an absolute path."""
    posix = Path(absolute).as_posix()
    if directory and not posix.endswith("/"):
        posix += "/"
    return "file://" + _quote(posix if posix.startswith("/") else "/" + posix)


def _quote(path: str) -> str:
    # Only unreserved characters and "/" stay as they are; the bytes are the file system's.
    return quote(os.fsencode(path), safe="/")


def fingerprints(findings: Sequence[Finding], cwd: str | None = None) -> list[str]:
    """A fingerprint per finding that survives lines moving: sha256 of the code, the anchor line's
    text with whitespace collapsed, and the finding's index among same-code findings on identical
    lines of its file."""
    base = cwd if cwd is not None else os.getcwd()
    texts: dict[str, list[str]] = {}
    seen: dict[tuple[str, str, str], int] = {}
    out = []
    for f in findings:
        if f.path not in texts:
            try:
                raw = Path(base, f.path).read_bytes()
                texts[f.path] = raw.decode("utf-8", "replace").splitlines()
            except OSError:
                texts[f.path] = []
        lines = texts[f.path]
        line = " ".join(lines[f.line - 1].split()) if 0 < f.line <= len(lines) else ""
        key = (f.path, f.code, line)
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        digest = hashlib.sha256(f"{f.code}\0{line}\0{occurrence}".encode("utf-8", "surrogatepass")).hexdigest()
        out.append(f"{digest[:32]}:{occurrence + 1}")
    return out


def sarif(findings: Sequence[Finding], files: int) -> str:
    """A SARIF 2.1.0 log that GitHub code scanning accepts."""
    cwd = os.getcwd()
    codes = sorted({f.code for f in findings} | set(DOCUMENTED))
    rules = []
    for code in codes:
        cls = DOCUMENTED.get(code)
        if cls is None:  # pragma: no cover - every finding carries a documented code
            rules.append({"id": code, "defaultConfiguration": {"level": "error"}})
            continue
        rules.append({
            "id": code,
            "name": cls.NAME,
            "shortDescription": {"text": cls.SUMMARY},
            "fullDescription": {"text": " ".join(cls.WHAT.split())},
            "help": {"text": " ".join(cls.WHY.split()), "markdown": cls.doc()},
            "helpUri": f"https://github.com/poolwarden/poolwarden/blob/main/docs/rules/{code}.md",
            "defaultConfiguration": {"level": "error" if cls.SEVERITY == "error" else "warning"},
        })
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = []
    for f, fingerprint in zip(findings, fingerprints(findings, cwd), strict=True):
        results.append({
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": "error" if f.severity == "error" else "warning",
            "message": {"text": f.message},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": artifact_location(f.path, cwd),
                    "region": {"startLine": max(f.line, 1), "startColumn": max(f.col, 1),
                               "endLine": max(f.end_line, f.line, 1), "endColumn": max(f.end_col, 1)},
                }
            }],
            "partialFingerprints": {FINGERPRINT_KEY: fingerprint},
        })
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "poolwarden", "version": __version__,
                                "informationUri": "https://github.com/poolwarden/poolwarden",
                                "rules": rules}},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": file_uri(cwd, directory=True)}},
            "results": results,
        }],
    }
    return json.dumps(log, indent=2)
