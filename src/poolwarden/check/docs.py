"""Generate docs/rules/ from the rule classes: ``python -m poolwarden.check.docs docs/rules``.

The rule class is the single source; a test fails when the files on disk are stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from poolwarden.check.registry import ALL_RULES, DOCUMENTED


def render_all() -> dict[str, str]:
    """File name -> content of every generated page (one per rule, one for PW000, and an index)."""
    pages = {f"{code}.md": cls.doc() for code, cls in sorted(DOCUMENTED.items())}
    rows = "\n".join(f"| [{r.CODE}]({r.CODE}.md) | {r.NAME} | {r.SUMMARY} |" for r in ALL_RULES)
    pages["README.md"] = (
        "# poolwarden check rules\n\n"
        "Generated from the rule classes by `python -m poolwarden.check.docs docs/rules`; "
        "do not edit by hand.\n\n"
        "| code | name | what it finds |\n|---|---|---|\n"
        f"{rows}\n\n"
        "[`PW000`](PW000.md) is reported for a file that cannot be read, decoded or parsed; the run goes on.\n"
    )
    return pages


def write(directory: Path) -> list[Path]:
    """Write every page under ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in render_all().items():
        path = directory / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/rules")):
        print(path)
