"""``poolwarden budget --code .`` on the labelled services, as a new user runs it (no config).

Usage::

    .venv/bin/python benchmarks/budget_code_realworld.py [--checkouts DIR] [--src DIR] [--with-commands]
                                                         [--service NAME ...]

For each checkout under ``--checkouts`` (default ``benchmarks/.work/realworld``; the checkouts
``benchmarks/realworld.py`` writes, which hold the services' Python files only) it runs
``python -m poolwarden budget --code . --format json`` in a subprocess, with ``--src`` (default
this tree's ``src/``) first on ``PYTHONPATH`` and the checkout as working directory, and prints
one Markdown row: the verdict (worst case, steady state, exit status), the services with their
processes, how many engines were counted and how many listed as migrations / one-shot.

``--with-commands`` first copies each checkout to a temporary directory and adds the
repository's process command files at the same commit — Dockerfiles, Procfiles, compose files,
shell and entrypoint scripts, supervisord configs, uWSGI ini files, gunicorn config modules — read from the bare
git directory ``<checkouts>/.<name>.git`` beside it: what ``--code`` would read on a full clone.
The checkouts are never written.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_COMMAND_FILE = re.compile(r"(^|/)(Procfile[^/]*|Dockerfile[^/]*|[^/]*\.dockerfile|[^/]*\.sh|(docker-)?compose[^/]*"
                           r"\.ya?ml|(docker-)?entrypoint[^/]*|supervisord?[^/]*\.conf|[^/]*uwsgi[^/]*\.ini|"
                           r"[^/]*gunicorn[^/]*\.py)$",
                           re.IGNORECASE)


def _with_commands(checkout: Path, into: Path) -> Path:
    """A copy of ``checkout`` with the repository's command files added (from its bare git dir)."""
    target = into / checkout.name
    shutil.copytree(checkout, target, symlinks=True)
    git_dir = checkout.parent / f".{checkout.name}.git"
    if not git_dir.is_dir():
        return target
    names = subprocess.run(["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", "HEAD"],
                           capture_output=True, text=True, check=False, timeout=120).stdout.splitlines()
    for name in names:
        if not _COMMAND_FILE.search(name) or (target / name).exists():
            continue
        shown = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"HEAD:{name}"],
                               capture_output=True, check=False, timeout=120)
        if shown.returncode == 0:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(shown.stdout)
    return target


def run(tree: Path, src: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    proc = subprocess.run([sys.executable, "-m", "poolwarden", "budget", "--code", ".", "--format", "json"],
                          cwd=tree, env=env, capture_output=True, text=True, check=False, timeout=600)
    if proc.returncode == 2:
        return {"rc": 2, "error": proc.stderr.strip().removeprefix("poolwarden: error: ")[:120]}
    data = json.loads(proc.stdout)
    notes = data["from_code"]
    return {"rc": proc.returncode, "worst": data["worst_total"], "steady": round(data["steady_total"]),
            "services": ", ".join(f"{s['name']} {s['processes']}p" for s in data["services"]),
            "engines": sum(1 for n in notes if n.startswith("pool ")),
            "one_shot": sum(1 for n in notes if n.startswith("not counted (migrations / one-shot)")),
            "from_settings": sum(1 for n in notes if n.startswith("pool ") and "changes it" in n)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkouts", type=Path, default=ROOT / "benchmarks" / ".work" / "realworld")
    parser.add_argument("--src", type=Path, default=ROOT / "src")
    parser.add_argument("--with-commands", action="store_true")
    parser.add_argument("--service", action="append", default=[])
    args = parser.parse_args()
    services = sorted(p for p in args.checkouts.iterdir() if p.is_dir() and not p.name.startswith("."))
    if args.service:
        services = [p for p in services if p.name in args.service]
    print("| service | verdict | services (processes) | engines counted | of them from settings | one-shot listed |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for checkout in services:
            tree = _with_commands(checkout, Path(tmp)) if args.with_commands else checkout
            got = run(tree, args.src.resolve())
            if got["rc"] == 2:
                print(f"| {checkout.name} | exit 2: {got['error']} | | | | |")
                continue
            verdict = f"worst {got['worst']}, steady {got['steady']} (exit {got['rc']})"
            print(f"| {checkout.name} | {verdict} | {got['services']} | {got['engines']} | {got['from_settings']} "
                  f"| {got['one_shot']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
