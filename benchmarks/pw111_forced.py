"""PW111 on the labelled services with the pooler fact forced on: every finding, per service.

Usage::

    .venv/bin/python benchmarks/pw111_forced.py [--checkouts DIR] [--service NAME ...]

For each service of ``benchmarks/realworld/services.json`` whose checkout exists under ``--checkouts``
(``benchmarks/realworld.py`` makes them), runs ``python -m poolwarden check <paths> --select PW111
--format json --no-cache`` with this tree's ``src/`` first on ``PYTHONPATH``, the checkout as working
directory and a config saying ``pgbouncer = "transaction"`` (as if every service ran behind a
transaction-mode PgBouncer), and prints each finding as ``service path:line message`` and a count per
service. Reading the findings (TRUE / FALSE / DEBATABLE) is done by hand: BENCHMARKS.md has the table.
Exit status: 0 after a report; 2 with one ``pw111_forced: error:`` line for bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TIMEOUT = 1800.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pw111_forced", description=__doc__.splitlines()[0])
    parser.add_argument("--checkouts", type=Path, default=HERE / ".work" / "realworld")
    parser.add_argument("--services", type=Path, default=HERE / "realworld" / "services.json")
    parser.add_argument("--service", action="append", default=[], metavar="NAME")
    args = parser.parse_args(argv)
    try:
        services = json.loads(args.services.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"pw111_forced: error: {args.services}: {exc}", file=sys.stderr)
        return 2
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    total = 0
    with tempfile.TemporaryDirectory(prefix="pw111-forced-") as tmp:
        config = Path(tmp) / "poolwarden.toml"
        config.write_text('[check]\npgbouncer = "transaction"\n', encoding="utf-8")
        for service in services:
            if args.service and service["name"] not in args.service:
                continue
            work = args.checkouts / service["name"]
            if not work.is_dir():
                print(f"{service['name']}: no checkout under {args.checkouts} (run benchmarks/realworld.py)")
                continue
            cmd = [sys.executable, "-m", "poolwarden", "check", *service["paths"], "--select", "PW111",
                   "--format", "json", "--no-cache", "--config", str(config)]
            proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=TIMEOUT,
                                  check=False)
            if proc.returncode not in (0, 1):
                print(f"pw111_forced: error: {service['name']}: check exited {proc.returncode}: "
                      f"{proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                return 2
            found = [f for f in json.loads(proc.stdout) if f["code"] == "PW111"]
            for f in found:
                print(f"{service['name']} {f['path']}:{f['line']} {f['message']}")
            print(f"{service['name']}: {len(found)} PW111 finding(s)")
            total += len(found)
    print(f"total: {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
