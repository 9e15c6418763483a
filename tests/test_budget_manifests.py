"""``budget --manifests``: the fleet under tests/fleet/ counted, with every worst case computed by hand here.

tests/fleet/ holds real files: Kubernetes manifests (k8s/: a Deployment with an HPA and the default 25%
surge, gunicorn workers x threads, pool settings from a ConfigMap; a Celery --autoscale worker with an
absolute surge; workers from WEB_CONCURRENCY and threads from GUNICORN_CMD_ARGS; a StatefulSet; a kind: List
with a redis), a transaction-mode pgbouncer.ini, code whose engine --code finds, a compose file (anchors,
merge keys, deploy.replicas, scale, start-first) and a checked-in ``helm template`` output (helm is not
installed here).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from poolwarden.budget.manifests import load_documents
from poolwarden.budget.workload import Surge
from poolwarden.errors import UsageError
from poolwarden.pgbouncer_ini import pool_mode

from .conftest import cli

FLEET = Path(__file__).parent / "fleet"


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _json(proc: Any) -> dict[str, Any]:
    assert proc.stderr == "", proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def _by_name(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {w["workload"]: w for w in data["workloads"]}


def test_the_mixed_fleet_hpa_surge_gunicorn_threads_celery_autoscale_transaction_pgbouncer(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"  # a copy: under tests/, --code takes the fleet's code for test code (not counted)
    shutil.copytree(FLEET, fleet)
    proc = cli("budget", "--manifests", "k8s", "--manifests", "pgbouncer/pgbouncer.ini", "--code", "code",
               "--format", "json", cwd=fleet)
    data = _json(proc)
    rows = _by_name(data)
    # web: HPA maxReplicas 10, 25% surge rounded up: ceil(10 * 25 / 100) = 3 → 13 pods at once;
    # gunicorn -w $(WORKERS)=4 --threads 2; pools per process: main pool_size 10 (ConfigMap) + max_overflow 5
    # (env), and Django's alias per thread: 2 threads x (1 + 0)
    web_pods = 10 + _ceil_div(10 * 25, 100)
    web_per_process = (10 + 5) + 2 * (1 + 0)
    web_worst = web_pods * 4 * web_per_process
    assert web_worst == 884
    assert rows["Deployment/web"]["worst"] == web_worst
    assert rows["Deployment/web"]["steady"] == 3 * 4 * (10 + 2 * 1)  # minReplicas/replicas 3, pool_size only
    # worker: replicas 2 + maxSurge 1; celery --autoscale=8,2: 8 prefork processes; pool 5 + 0 from env
    worker_worst = (2 + 1) * 8 * (5 + 0)
    assert rows["Deployment/worker"]["worst"] == worker_worst
    # api: replicas 2 + maxSurge 2; WEB_CONCURRENCY=3 workers (GUNICORN_CMD_ARGS sets only threads);
    # the engine --code found in code/app/db.py (package app of app.main, not read): 7 + 3
    api_worst = (2 + 2) * 3 * (7 + 3)
    assert rows["Deployment/api"]["worst"] == api_worst
    assert rows["Deployment/api"]["threads"] == 4
    # reporter: a StatefulSet of 2, no surge; uvicorn --workers 2; 4 + 2
    reporter_worst = 2 * 2 * (4 + 2)
    assert rows["StatefulSet/reporter"]["worst"] == reporter_worst
    clients = web_worst + worker_worst + api_worst + reporter_worst
    assert clients == 1148
    bouncer = data["pgbouncer"]
    assert bouncer["client_side_worst"] == clients and bouncer["max_client_conn"] == 1000
    # server side: app pool_size 30 + reserve 5; reports (20 + 5) capped by its max_db_connections 15
    assert bouncer["server_side"] == (30 + 5) + min(20 + 5, 15) == 50
    assert bouncer["pool_mode"] == "transaction"
    assert proc.returncode == 1 and not data["ok"]
    assert data["problems"] == [f"clients may open {clients} connections to PgBouncer > max_client_conn 1000"]
    # the largest web replicas that fit: room 1000 - (1148 - 884) = 736 clients = 736 // (4 x 17) = 10 pods;
    # r + ceil(r / 4) <= 10 → r = 8 (8 + 2 = 10; 9 + 3 = 12)
    assert rows["Deployment/web"]["max_replicas"] == 8
    assert data["no_pools"] == ["Deployment/redis (image redis:7)"]


def test_the_mixed_fleet_fits_once_max_client_conn_does(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    shutil.copytree(FLEET, fleet)
    ini = fleet / "pgbouncer" / "pgbouncer.ini"
    ini.write_text(ini.read_text().replace("max_client_conn = 1000", "max_client_conn = 1200"))
    proc = cli("budget", "--manifests", "k8s", "--manifests", "pgbouncer/pgbouncer.ini", "--code", "code",
               cwd=fleet)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("OK: worst case 50 of 497 usable")
    # every number says where it came from, paths relative to the current directory
    for source in ("k8s/web.yaml: Deployment/web spec.replicas",
                   "k8s/web.yaml: HorizontalPodAutoscaler/web spec.maxReplicas",
                   "k8s/web.yaml: Deployment/web: maxSurge default 25%",
                   "k8s/web.yaml: ConfigMap/web-settings data.DB_POOL_SIZE",
                   "k8s/worker.yaml: Deployment/worker spec.template.spec.containers[0].args",
                   "create_engine() at code/app/db.py:3",
                   "pool_mode transaction (pgbouncer/pgbouncer.ini)"):
        assert source in proc.stdout, source
    assert str(tmp_path) not in proc.stdout
    assert "s3cr3t" not in proc.stdout + proc.stderr


def test_compose_replicas_scale_start_first_and_anchors() -> None:
    proc = cli("budget", "--manifests", ".", "--format", "json", cwd=FLEET / "compose")
    data = _json(proc)
    rows = _by_name(data)
    # web: deploy.replicas 2, start-first overlaps parallelism 1 → 3 containers; gunicorn -w 2; 6 + 4 (the
    # merge key's environment; DB_MAX_OVERFLOW's ${…:-4} default)
    assert rows["compose/web"]["worst"] == (2 + 1) * 2 * (6 + 4) == 60
    # worker: scale 3, stop-first; celery -c 4 --pool threads: 1 process (of 4 threads), 6 + 4
    assert rows["compose/worker"]["worst"] == 3 * 1 * (6 + 4) == 30
    assert rows["compose/worker"]["threads"] == 4
    assert data["worst_total"] == 60 + 30 and data["usable"] == 100 - 3
    assert data["no_pools"] == ["compose/db (image postgres:15)", "compose/redis (image redis:7)"]
    assert proc.returncode == 0 and data["ok"]
    assert "s3cr3t" not in proc.stdout


def test_checked_in_helm_template_output() -> None:
    proc = cli("budget", "--manifests", "rendered.yaml", "--format", "json", cwd=FLEET / "helm")
    data = _json(proc)
    (row,) = data["workloads"]
    # no spec.replicas: the HPA's minReplicas 2 steady; maxReplicas 5 + 50% surge, ceil(2.5) = 3 → 8 pods;
    # gunicorn workers from WEB_CONCURRENCY 5 (envFrom the ConfigMap); pool_size 8 (ConfigMap) + 2
    assert row["replicas"] == 2 and row["hpa_max"] == 5 and row["rollout_pods"] == 5 + _ceil_div(5 * 50, 100)
    assert row["worst"] == 8 * 5 * (8 + 2) == 400
    assert row["steady"] == 2 * 5 * 8
    # room 197 usable = 197 // 50 = 3 pods; r + ceil(r / 2) <= 3 → r = 2
    assert row["max_replicas"] == 2
    assert proc.returncode == 1
    assert any("Pod/release-shop-test-connection" in note for note in data["fleet_notes"])


def test_json_shape_is_pinned() -> None:
    data = _json(cli("budget", "--manifests", ".", "--format", "json", cwd=FLEET / "compose"))
    assert set(data["workloads"][0]) == {
        "workload", "kind", "file", "container", "replicas", "hpa_max", "rollout_pods", "processes", "threads",
        "pools", "per_process_worst", "worst", "steady", "max_replicas", "max_replicas_against", "sources"}
    assert set(data["workloads"][0]["sources"]) == {"replicas", "hpa_max", "surge", "processes", "pools"}
    assert {"workloads", "no_pools", "fleet_notes", "pgbouncer", "worst_total", "ok"} <= set(data)


@pytest.mark.parametrize(("raw", "replicas", "pods"), [
    ("25%", 4, 1), ("25%", 5, 2), ("25%", 1, 1), ("100%", 3, 3), ("0%", 9, 0), (2, 10, 2), (None, 10, 0)])
def test_surge_rounds_a_percentage_up_as_kubernetes_does(raw: int | str | None, replicas: int, pods: int) -> None:
    assert Surge(raw, "test").pods(replicas) == pods


def test_pool_mode_of_a_pgbouncer_ini(tmp_path: Path) -> None:
    assert pool_mode(FLEET / "pgbouncer" / "pgbouncer.ini") == "transaction"
    plain = tmp_path / "pgbouncer.ini"
    plain.write_text("[pgbouncer]\nlisten_port = 6432\n")
    assert pool_mode(plain) == "session"


def test_unmatched_workload_that_plausibly_uses_the_database_is_not_counted_as_zero() -> None:
    # without --code, nothing says which pools Deployment/api's gunicorn holds
    proc = cli("budget", "--manifests", "k8s", cwd=FLEET)
    assert proc.returncode == 2
    assert "Deployment/api plausibly uses the database (it runs gunicorn)" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("toml", "message"), [
    ('[[budget.workload]]\nmanifest = "web"\nreplicas = 3\n', "unknown key 'replicas'"),
    ('[[budget.workload]]\nmanifest = "Deployment/nope"\n', "no workload 'Deployment/nope'"),
    ('[[budget.workload]]\nmanifest = "compose/web"\n', "declares no [[…workload.pool]]"),
    ('[budget.env]\nDB_POOL_SIZE = "pool_sise"\n', "unknown pool setting 'pool_sise'"),
    ('[[budget.workload]]\nmanifest = "compose/web"\n[[budget.workload.pool]]\nper = "request"\n',
     "'per' = 'request'"),
])
def test_config_keys_are_validated_strictly(tmp_path: Path, toml: str, message: str) -> None:
    shutil.copy(FLEET / "compose" / "docker-compose.yml", tmp_path)
    (tmp_path / "poolwarden.toml").write_text("[budget]\nmax_connections = 100\n" + toml)
    proc = cli("budget", "--manifests", ".", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout
    assert message in proc.stderr and proc.stderr.startswith("poolwarden: error: ")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_documents_are_read_safely() -> None:
    docs = list(load_documents(b"a: 1\n---\n---\nb: [1, 2]\n", "x.yaml"))
    assert docs == [(1, {"a": 1}), (2, None), (3, {"b": [1, 2]})]
    with pytest.raises(UsageError, match="could not determine a constructor"):
        list(load_documents(b"!!python/object/apply:os.system ['true']\n", "x.yaml"))


# -- single fields, each against a small fleet written here ---------------------------------------------------


def _deploy(name: str, args: list[str], *, replicas: int = 2, env: dict[str, Any] | None = None,
            extra: str = "", namespace: str = "", image: str = "shop:1") -> str:
    env_lines = "".join(f"\n            - name: {k}\n              {v}" for k, v in (env or {}).items())
    meta = f"{{name: {name}{', namespace: ' + namespace if namespace else ''}}}"
    return f"""---
apiVersion: apps/v1
kind: Deployment
metadata: {meta}
spec:
  replicas: {replicas}{extra}
  template:
    spec:
      containers:
        - name: app
          image: {image}
          args: {json.dumps(args)}
          env:{' []' if not env else ''}{env_lines}
"""


def _budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, manifests: str, config: str,
            *extra: str) -> tuple[int, dict[str, Any], str]:
    from .adversarial.contract import invoke

    (tmp_path / "fleet.yaml").write_text(manifests)
    (tmp_path / "poolwarden.toml").write_text("[budget]\nmax_connections = 1000\n" + config)
    monkeypatch.chdir(tmp_path)
    proc = invoke("budget", "--manifests", ".", "--format", "json", *extra)
    data = json.loads(proc.stdout) if proc.returncode in (0, 1) else {}
    return proc.returncode, data, proc.stderr


def _pool(manifest: str, pool: str = "", per: str = "") -> str:
    return (f'[[budget.workload]]\nmanifest = "{manifest}"\n[[budget.workload.pool]]\nname = "main"\n{pool}'
            + (f'per = "{per}"\n' if per else ""))


def test_gunicorn_precedence_command_line_then_gunicorn_cmd_args_then_web_concurrency(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"GUNICORN_CMD_ARGS": 'value: "--workers 3 --threads 5"', "WEB_CONCURRENCY": 'value: "2"'}
    manifests = (_deploy("a", ["gunicorn", "-w", "6", "app:app"], env=env)
                 + _deploy("b", ["gunicorn", "app:app"], env=env)
                 + _deploy("c", ["gunicorn", "app:app"], env={"WEB_CONCURRENCY": 'value: "2"'})
                 + _deploy("d", ["gunicorn", "-k", "gevent", "app:app"]))
    config = "".join(_pool(f"Deployment/{n}", "pool_size = 1\nmax_overflow = 0\n", "thread") for n in "abcd")
    code, data, _ = _budget(tmp_path, monkeypatch, manifests, config)
    rows = _by_name(data)
    assert (rows["Deployment/a"]["processes"], rows["Deployment/a"]["threads"]) == (6, 5)
    assert (rows["Deployment/b"]["processes"], rows["Deployment/b"]["threads"]) == (3, 5)
    assert (rows["Deployment/c"]["processes"], rows["Deployment/c"]["threads"]) == (2, 1)
    # gevent: 1000 greenlets per process (gunicorn's worker_connections default), each its own connection
    assert rows["Deployment/d"]["threads"] == 1000
    # 2 replicas + ceil(25% of 2) = 3 pods; 1 process x 1000 threads x (1 + 0)
    assert rows["Deployment/d"]["worst"] == (2 + 1) * 1 * 1000 * 1
    assert code == 1


def test_a_secret_is_not_literal_and_the_config_value_stays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"DB_POOL_SIZE": "valueFrom: {secretKeyRef: {name: db, key: pool}}"}
    manifests = _deploy("web", ["gunicorn", "-w", "2", "app:app"], env=env)
    config = _pool("web", "pool_size = 4\nmax_overflow = 1\n") + '[budget.env]\nDB_POOL_SIZE = "pool_size"\n'
    code, data, _ = _budget(tmp_path, monkeypatch, manifests, config)
    (row,) = data["workloads"]
    assert row["pools"][0]["pool_size"] == 4 and row["worst"] == (2 + 1) * 2 * (4 + 1)
    assert any("DB_POOL_SIZE not literal" in line and "secretKeyRef" in line for line in row["sources"]["pools"])
    assert code == 0


def test_recreate_has_no_overlap_and_namespaces_keep_workloads_apart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recreate = "\n  strategy: {type: Recreate}"
    manifests = (_deploy("web", ["celery", "-A", "app", "worker", "-c", "3"], extra=recreate, namespace="prod")
                 + _deploy("web", ["celery", "-A", "app", "worker", "--pool", "gevent", "-c", "50"],
                           namespace="staging"))
    config = _pool("prod/Deployment/web") + _pool("staging/Deployment/web", per="thread")
    code, data, _ = _budget(tmp_path, monkeypatch, manifests, config)
    rows = _by_name(data)
    # prod: Recreate, 2 pods; 3 prefork processes; 5 + 10 (the pool defaults)
    assert rows["prod/Deployment/web"]["worst"] == 2 * 3 * (5 + 10)
    # staging: 2 + 1 pods; gevent: 1 process of 50 greenlets, a pool per thread
    assert rows["staging/Deployment/web"]["worst"] == (2 + 1) * 1 * 50 * (5 + 10)
    assert code == 1


def test_the_same_workload_twice_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifests = _deploy("web", ["gunicorn", "app:app"]) + _deploy("web", ["gunicorn", "app:app"])
    code, _, stderr = _budget(tmp_path, monkeypatch, manifests, _pool("web"))
    assert code == 2 and "Deployment/web is also defined in fleet.yaml: document 1" in stderr


def test_pgbouncer_running_in_the_fleet_multiplies_its_server_side(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifests = (_deploy("web", ["gunicorn", "-w", "2", "app:app"], replicas=4)
                 + _deploy("pgbouncer", ["pgbouncer", "/etc/pgbouncer/pgbouncer.ini"], replicas=2,
                           image="bitnami/pgbouncer:1.23"))
    (tmp_path / "pgbouncer.ini").write_text("[databases]\napp = host=db\n[pgbouncer]\npool_mode = transaction\n"
                                            "default_pool_size = 25\nmax_client_conn = 100\n")
    code, data, _ = _budget(tmp_path, monkeypatch, manifests, _pool("Deployment/web", "max_overflow = 5\n"))
    bouncer = data["pgbouncer"]
    # 2 PgBouncer pods + ceil(25% of 2) = 3 during a rollout, each with its pool of 25
    assert bouncer["server_side"] == (2 + 1) * 25
    # clients: web (4 + 1) pods x 2 processes x (5 + 5) = 100, against 2 instances x max_client_conn 100
    assert bouncer["client_side_worst"] == (4 + 1) * 2 * (5 + 5) and bouncer["client_capacity"] == 2 * 100
    assert any("PgBouncer runs as Deployment/pgbouncer" in note for note in data["fleet_notes"])
    assert "Deployment/pgbouncer (image bitnami/pgbouncer:1.23)" in data["no_pools"]
    assert code == 0


def test_an_hpa_whose_target_is_missing_is_noted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hpa = ("---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: gone}\n"
           "spec: {scaleTargetRef: {kind: Deployment, name: gone}, maxReplicas: 9}\n")
    code, data, _ = _budget(tmp_path, monkeypatch, _deploy("web", ["gunicorn", "app:app"]) + hpa, _pool("web"))
    assert any("autoscaler of Deployment/gone" in note for note in data["fleet_notes"])
    assert code == 0


DJANGO_POOLED = """
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "shop",
                         "OPTIONS": {"pool": {"min_size": 2, "max_size": 8}}}}
"""
DJANGO_PLAIN = """
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "legacy", "CONN_MAX_AGE": 60}}
"""


def test_django_settings_found_by_code_under_the_command_package(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for package, settings in (("shop", DJANGO_POOLED), ("legacy", DJANGO_PLAIN)):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        (tmp_path / package / "settings.py").write_text(settings)
    manifests = (_deploy("shop", ["gunicorn", "-w", "3", "--threads", "4", "shop.wsgi:application"])
                 + _deploy("legacy", ["gunicorn", "-w", "2", "--threads", "8", "legacy.wsgi:application"],
                           extra="\n  strategy: {type: Recreate}"))
    code, data, _ = _budget(tmp_path, monkeypatch, manifests, "", "--code", ".")
    rows = _by_name(data)
    # shop: the native pool, per process: max_size 8 worst, min_size 2 steady; 2 + ceil(25% of 2) = 3 pods
    assert rows["Deployment/shop"]["worst"] == (2 + 1) * 3 * 8
    assert rows["Deployment/shop"]["steady"] == 2 * 3 * 2
    # legacy: no pool, a connection per thread, kept (CONN_MAX_AGE 60); Recreate: 2 pods
    assert rows["Deployment/legacy"]["worst"] == 2 * 2 * 8 * 1
    assert rows["Deployment/legacy"]["steady"] == 2 * 2 * 8 * 1
    assert code == 0, data["problems"]


def test_django_without_its_pool_under_asgi_is_unbounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "settings.py").write_text(DJANGO_PLAIN)
    manifests = _deploy("legacy", ["uvicorn", "legacy.asgi:application", "--workers", "2"])
    code, data, _ = _budget(tmp_path, monkeypatch, manifests, "", "--code", ".")
    assert code == 1
    assert any("legacy.asgi" not in p and "runs under ASGI (uvicorn) without Django's native pool" in p
               for p in data["problems"]), data["problems"]


def test_an_hpa_in_the_default_namespace_and_its_min_replicas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hpa = ("---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: web, namespace: default}\n"
           "spec: {scaleTargetRef: {kind: Deployment, name: web}, minReplicas: 3, maxReplicas: 6}\n")
    code, data, _ = _budget(tmp_path, monkeypatch, _deploy("web", ["gunicorn", "app:app"], replicas=1) + hpa,
                            _pool("web"))
    (row,) = data["workloads"]
    # the HPA raises replicas 1 to its minReplicas 3 at once; worst 6 + ceil(25% of 6) = 8 pods x 1 x (5 + 10)
    assert (row["replicas"], row["hpa_max"], row["rollout_pods"]) == (3, 6, 6 + 2)
    assert row["worst"] == 8 * 1 * (5 + 10) and code == 0


def test_a_fleet_without_pools_counts_nothing_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  redis: {image: 'redis:7'}\n")
    monkeypatch.chdir(tmp_path)
    from .adversarial.contract import assert_clean_failure, invoke

    assert_clean_failure(invoke("budget", "--manifests", "."),
                         contains="--manifests read 1 file(s), 1 document(s), and no workload holds a database pool "
                                  "(no database pools: compose/redis (image redis:7))")


def test_argo_rollouts_blue_green_and_a_keda_scaled_object(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blue_green = _deploy("web", ["gunicorn", "-w", "2", "app:app"], replicas=3,
                         extra="\n  strategy: {blueGreen: {activeService: web, previewService: web-preview}}")
    blue_green = blue_green.replace("kind: Deployment", "kind: Rollout")
    canary = _deploy("api", ["gunicorn", "app:app"], replicas=4, extra="\n  strategy: {canary: {maxSurge: 1}}")
    canary = canary.replace("kind: Deployment", "kind: Rollout")
    worker = _deploy("worker", ["celery", "-A", "app", "worker", "-c", "2"], replicas=1)
    keda = ("---\napiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: worker-queue}\n"
            "spec: {scaleTargetRef: {name: worker}, minReplicaCount: 0}\n")
    config = _pool("Rollout/web") + _pool("Rollout/api") + _pool("worker")
    code, data, _ = _budget(tmp_path, monkeypatch, blue_green + canary + worker + keda, config)
    rows = _by_name(data)
    # blueGreen: the preview set runs beside the active one: 3 + 3 pods x 2 processes x (5 + 10)
    assert rows["Rollout/web"]["rollout_pods"] == 3 + 3 and rows["Rollout/web"]["worst"] == 6 * 2 * 15
    # canary with maxSurge 1: 4 + 1 pods x 1 x (5 + 10)
    assert rows["Rollout/api"]["worst"] == 5 * 1 * 15
    # KEDA: maxReplicaCount absent, its default 100, + ceil(25% of 100) = 125 pods x 2 x (5 + 10)
    assert rows["Deployment/worker"]["hpa_max"] == 100
    assert rows["Deployment/worker"]["worst"] == (100 + 25) * 2 * 15
    assert code == 1


def test_combined_with_config_services_and_a_live_server(tmp_path: Path, postgres_cluster: Any) -> None:
    fleet = tmp_path / "fleet"
    shutil.copytree(FLEET / "compose", fleet)
    config = fleet / "poolwarden.toml"
    config.write_text(config.read_text() + "[[budget.service]]\nname = 'cron'\n[[budget.service.pool]]\n"
                      "pool_size = 1\nmax_overflow = 0\n")
    proc = cli("budget", "--manifests", ".", "--dsn", postgres_cluster.dsn(), "--format", "json", cwd=fleet)
    data = json.loads(proc.stdout)
    # the server's max_connections (40, the cluster's) replaces the config's 100: 40 - 3 reserved = 37 usable
    assert data["max_connections"] == 40 and data["sources"]["max_connections"] == "server"
    # the compose fleet (web 60 + worker 30, as above) and the config's own service cron (1 x 1 x (1 + 0))
    assert data["worst_total"] == 60 + 30 + 1 and data["usable"] == 37
    rows = _by_name(data)
    # web has room 37 - (91 - 60) = 6 connections: 6 // (2 x 10) = 0 containers; r + 1 <= 0: none
    assert rows["compose/web"]["max_replicas"] == 0
    assert proc.returncode == 1


def test_code_pools_are_those_the_command_module_imports_migrations_left_out(tmp_path: Path) -> None:
    """With --manifests --code, a container runs the engines its app module imports (as --code alone
    decides), not every engine of its package: the Alembic env.py and an unimported module stay out."""
    app = tmp_path / "app"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "main.py").write_text("from app.db import engine\n")
    (app / "db.py").write_text("import sqlalchemy\nengine = sqlalchemy.create_engine('postgresql://h/db', "
                               "pool_size=6, max_overflow=2)\n")
    (app / "reports.py").write_text("import sqlalchemy\nreports = sqlalchemy.create_engine('postgresql://h/db', "
                                    "pool_size=40, max_overflow=40)\n")
    (app / "migrations" / "env.py").write_text("import sqlalchemy\nfrom alembic import context\n"
                                               "engine = sqlalchemy.create_engine('postgresql://h/db', "
                                               "pool_size=50)\n")
    (tmp_path / "web.yaml").write_text(
        "kind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n"
        "      - name: web\n        command: [gunicorn, 'app.main:app', '-w', '3']\n")
    proc = cli("budget", "--manifests", "web.yaml", "--code", ".", "--format", "json", cwd=tmp_path)
    rows = _by_name(_json(proc))
    # 2 replicas + 25% surge rounded up (1) = 3 pods x 3 workers x (6 + 2): reports.py and env.py not counted
    assert rows["Deployment/web"]["worst"] == (2 + 1) * 3 * (6 + 2)


def test_an_app_module_that_imports_no_pool_falls_back_to_its_package(tmp_path: Path) -> None:
    """An app factory that imports its database module by string reaches no engine by imports: the
    engines of its package count (a worst case), not nothing (which would be exit 2)."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "main.py").write_text("import importlib\ndb = importlib.import_module('app.db')\n")
    (app / "db.py").write_text("import sqlalchemy\nengine = sqlalchemy.create_engine('postgresql://h/db', "
                               "pool_size=6, max_overflow=2)\n")
    (tmp_path / "web.yaml").write_text(
        "kind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n"
        "      - name: web\n        command: [gunicorn, 'app.main:app', '-w', '3']\n")
    rows = _by_name(_json(cli("budget", "--manifests", "web.yaml", "--code", ".", "--format", "json", cwd=tmp_path)))
    assert rows["Deployment/web"]["worst"] == (2 + 1) * 3 * (6 + 2)
