"""How long ``poolwarden budget --manifests`` takes on a 200-document fleet.

Generates, in a temporary directory, ``--apps`` applications of four documents each (a Deployment
running gunicorn with pool settings from a ConfigMap, its HorizontalPodAutoscaler, the ConfigMap, a
Service; 50 apps: 200 documents, in one file per app) and a poolwarden.toml mapping every Deployment
to a pool, then times, interleaved, best and median of ``--repeat`` whole processes:

* baseline: ``python -m poolwarden --version`` (the interpreter and the CLI's start, the floor of any run);
* budget: ``python -m poolwarden budget --manifests DIR --format json``.

Goal (issue 15): ≤ 1 s for 200 documents.
Usage: ``.venv/bin/python benchmarks/budget_manifests.py [--apps 50] [--repeat 11]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

APP = """\
apiVersion: v1
kind: ConfigMap
metadata: {{name: app{i}-settings}}
data: {{DB_POOL_SIZE: "{size}"}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app{i}, labels: {{app: app{i}}}}}
spec:
  replicas: {replicas}
  strategy: {{rollingUpdate: {{maxSurge: 25%}}}}
  template:
    metadata: {{labels: {{app: app{i}}}}}
    spec:
      containers:
        - name: app
          image: shop/app{i}:1.0
          args: ["gunicorn", "-w", "{workers}", "--threads", "2", "app{i}.wsgi:application"]
          env:
            - name: DB_POOL_SIZE
              valueFrom: {{configMapKeyRef: {{name: app{i}-settings, key: DB_POOL_SIZE}}}}
            - {{name: DB_MAX_OVERFLOW, value: "2"}}
          resources: {{limits: {{cpu: "1", memory: 512Mi}}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: app{i}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: app{i}}}
  minReplicas: {replicas}
  maxReplicas: {high}
---
apiVersion: v1
kind: Service
metadata: {{name: app{i}}}
spec: {{ports: [{{port: 80, targetPort: 8000}}]}}
"""


def fleet(root: Path, apps: int) -> int:
    config = ["[budget]", "max_connections = 262143", "alert_at = 1.0"]
    for i in range(apps):
        (root / f"app{i}.yaml").write_text(APP.format(i=i, size=2 + i % 5, replicas=1 + i % 3, workers=1 + i % 4,
                                                      high=4 + i % 6))
        config += ["[[budget.workload]]", f'manifest = "Deployment/app{i}"', "[[budget.workload.pool]]",
                   'name = "main"']
    config += ["[budget.env]", 'DB_POOL_SIZE = "pool_size"', 'DB_MAX_OVERFLOW = "max_overflow"']
    (root / "poolwarden.toml").write_text("\n".join(config) + "\n")
    return apps * 4


def timed(argv: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{argv}: exit {proc.returncode}: {proc.stderr}")
    return elapsed, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=11)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pw-bench-") as tmp:
        root = Path(tmp)
        documents = fleet(root, args.apps)
        python = [sys.executable, "-m", "poolwarden"]
        base, run = [], []
        workloads = 0
        for _ in range(args.repeat):
            base.append(timed([*python, "--version"], root)[0])
            elapsed, out = timed([*python, "budget", "--manifests", ".", "--format", "json"], root)
            run.append(elapsed)
            workloads = len(json.loads(out)["workloads"])
    ms = 1000.0
    print(f"{documents} documents in {args.apps} files, {workloads} workloads counted; {args.repeat} runs each")
    print("| measurement | best ms | median ms | × baseline (median) |")
    print("|---|---:|---:|---:|")
    print(f"| baseline: `poolwarden --version` | {min(base) * ms:.0f} | {statistics.median(base) * ms:.0f} | 1.00 |")
    print(f"| `budget --manifests` ({documents} documents) | {min(run) * ms:.0f} | {statistics.median(run) * ms:.0f} | "
          f"{statistics.median(run) / statistics.median(base):.2f} |")


if __name__ == "__main__":
    main()
