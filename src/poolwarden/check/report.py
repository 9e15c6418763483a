"""Output formats of ``poolwarden check``: text, json, sarif (2.1.0) and github annotations."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence

from poolwarden import __version__
from poolwarden.check.finding import Finding
from poolwarden.check.registry import BY_CODE

FORMATS = ("text", "json", "sarif", "github")


def render(fmt: str, findings: Sequence[Finding], files: int) -> str:
    """The report in format ``fmt`` (one of :data:`FORMATS`)."""
    renderers: dict[str, Callable[[Sequence[Finding], int], str]] = {
        "text": text, "json": as_json, "sarif": sarif, "github": github,
    }
    return renderers[fmt](findings, files)


def text(findings: Sequence[Finding], files: int) -> str:
    """ruff's shape: ``path:line:col: CODE message``, then a summary line."""
    lines = [f"{f.path}:{f.line}:{f.col}: {f.code} {f.message}" for f in findings]
    n = len(findings)
    if n:
        lines.append(f"Found {n} error{'s' if n != 1 else ''} in {files} file{'s' if files != 1 else ''} checked.")
    else:
        lines.append(f"All checks passed! ({files} file{'s' if files != 1 else ''} checked)")
    return "\n".join(lines)


def as_json(findings: Sequence[Finding], files: int) -> str:
    """A JSON array of findings (the contract's keys)."""
    return json.dumps([f.as_dict() for f in findings], indent=2)


def github(findings: Sequence[Finding], files: int) -> str:
    """GitHub Actions workflow commands: one ``::error`` annotation per finding."""
    out = []
    for f in findings:
        level = "error" if f.severity == "error" else "warning"
        msg = f.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        title = f"{f.code} {f.name}".replace(",", "%2C").replace("::", "%3A%3A")
        path = f.path.replace(",", "%2C")
        out.append(
            f"::{level} title={title},file={path},line={f.line},col={f.col},"
            f"endLine={f.end_line},endColumn={f.end_col}::{f.code} {msg}"
        )
    return "\n".join(out)


def sarif(findings: Sequence[Finding], files: int) -> str:
    """A SARIF 2.1.0 log that GitHub code scanning accepts."""
    codes = sorted({f.code for f in findings} | set(BY_CODE))
    rules = []
    for code in codes:
        cls = BY_CODE.get(code)
        if cls is None:
            rules.append({"id": code, "name": "syntax-error",
                          "shortDescription": {"text": "The file cannot be parsed."},
                          "defaultConfiguration": {"level": "error"}})
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
    for f in findings:
        uri = f.path.replace(os.sep, "/")
        results.append({
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": "error" if f.severity == "error" else "warning",
            "message": {"text": f.message},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": f.line, "startColumn": f.col,
                               "endLine": f.end_line, "endColumn": max(f.end_col, 1)},
                }
            }],
        })
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "poolwarden", "version": __version__,
                                "informationUri": "https://github.com/poolwarden/poolwarden",
                                "rules": rules}},
            "results": results,
        }],
    }
    return json.dumps(log, indent=2)
