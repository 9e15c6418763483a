"""``poolwarden budget --manifests`` under hostile input: YAML that would run code, alias bombs, recursive
aliases, documents of the wrong shape, impossible counts, huge and binary files, symbolic-link loops, junk
pgbouncer.ini files — and generated ones (Hypothesis; every input counted in ``thrown("budget-manifests")``).

The contract (tests/adversarial/contract.py): exit 2 with one ``poolwarden: error:`` line naming the file
(and the field), or a report (exit 0 / 1) when the input is merely not a workload; never a traceback, never
a password, never code run. Inputs that could blow memory or time run in a subprocess bounded by both.
"""

from __future__ import annotations

import contextlib
import os
import string
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .contract import assert_clean_failure, assert_no_secret, invoke, run, scaled, thrown

MEMORY = 1 << 30
TIMEOUT = 60.0
GENERATED = thrown("budget-manifests")
SETTINGS = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

CONFIG = """
[budget]
max_connections = 1000
[[budget.workload]]
manifest = "Deployment/web"
[[budget.workload.pool]]
name = "main"
pool_size = 5
max_overflow = 5
"""


def _deployment(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "replicas": 2,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
        "template": {"spec": {"containers": [{"name": "app", "image": "shop:1",
                                              "args": ["gunicorn", "-w", "2", "app.wsgi:application"],
                                              "env": [{"name": "DB_POOL_SIZE", "value": "5"}]}]}},
    }
    base.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": base}


HPA = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
       "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 4}}


@contextlib.contextmanager
def _fleet(files: dict[str, bytes | str], config: str = CONFIG) -> Iterator[Path]:
    """A temporary directory holding ``files`` and poolwarden.toml, as the current directory."""
    saved = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="pw-manifests-") as tmp:
        root = Path(tmp)
        (root / "poolwarden.toml").write_text(config)
        for name, data in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data.encode() if isinstance(data, str) else data)
        os.chdir(root)
        try:
            yield root
        finally:
            os.chdir(saved)


def _outcome(proc: Any, contains: str | tuple[str, ...] = ()) -> None:
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out and "internal error" not in out, out
    assert_no_secret(out)
    if proc.returncode == 2:
        assert_clean_failure(proc, contains=contains)
    else:
        assert proc.returncode in (0, 1), out
        assert proc.stdout.startswith(("OK: ", "OVER BUDGET: ")) and not proc.stderr, out


def _yaml(*docs: Any) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


# -- crafted inputs, one each ---------------------------------------------------------------------------------


def test_python_tags_are_an_error_not_code(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    text = f"!!python/object/apply:os.system ['touch {canary}']\n"
    with _fleet({"evil.yaml": text}) as root:
        proc = run("budget", "--manifests", ".", cwd=root, timeout=TIMEOUT, memory=MEMORY)
    assert_clean_failure(proc, contains="evil.yaml: not valid YAML")
    assert not canary.exists()


@pytest.mark.parametrize("where", ["replicas", "env", "name"])
def test_a_dsn_where_a_count_or_a_name_goes_is_never_printed(where: str) -> None:
    dep = _deployment()
    container = dep["spec"]["template"]["spec"]["containers"][0]
    if where == "replicas":
        dep["spec"]["replicas"] = DSN
    elif where == "env":
        container["env"] = [{"name": "WEB_CONCURRENCY", "value": DSN}, {"name": "DB_POOL_SIZE", "value": DSN}]
    else:
        dep["metadata"]["name"] = DSN
    config = CONFIG + '[budget.env]\nDB_POOL_SIZE = "pool_size"\n'
    with _fleet({"web.yaml": _yaml(dep)}, config=config.replace("Deployment/web", DSN if where == "name" else
                                                                  "Deployment/web")):
        proc = invoke("budget", "--manifests", ".")
        json_proc = invoke("budget", "--manifests", ".", "--format", "json")
    _outcome(proc)
    assert_no_secret(json_proc.stdout + json_proc.stderr)


def test_an_alias_bomb_is_refused_in_bounded_memory_and_time() -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 12)]
    with _fleet({"bomb.yaml": "\n".join(lines) + "\n"}) as root:
        proc = run("budget", "--manifests", ".", cwd=root, timeout=TIMEOUT, memory=MEMORY)
    assert_clean_failure(proc, contains=("bomb.yaml: document 1", "alias bomb"))


def test_a_recursive_alias_is_refused() -> None:
    with _fleet({"loop.yaml": "kind: Deployment\nspec: &s {template: *s}\n"}) as root:
        proc = invoke("budget", "--manifests", str(root))
    _outcome(proc)
    assert proc.returncode == 2


@pytest.mark.parametrize(("doc", "contains"), [
    ("- a\n- b\n", "a list, not a mapping"),
    ("just text\n", "a str, not a mapping"),
    (_yaml(_deployment(replicas="three")), "Deployment/web spec.replicas = 'three' is not an integer"),
    (_yaml(_deployment(replicas=-1)), "spec.replicas = -1 is out of range"),
    (_yaml(_deployment(replicas=10**40)), f"spec.replicas = {10**40} is out of range"),
    ("kind: Deployment\nspec:\n  replicas: " + "9" * 5000 + "\n", "not valid YAML"),
    (_yaml(_deployment(replicas=True)), "spec.replicas = True is not an integer"),
    (_yaml(_deployment(strategy={"rollingUpdate": {"maxSurge": "lots"}})), "maxSurge = 'lots' is neither"),
    (_yaml(_deployment(), {**HPA, "spec": {**HPA["spec"], "maxReplicas": 0}}), "spec.maxReplicas = 0 is out of range"),
    (_yaml(_deployment(template={"spec": {"containers": "app"}})), "spec.template.spec.containers is not a list"),
    ("kind: [Deployment]\n", "'kind'"),
    ("\x00\x01\x02 binary \xff", "not UTF-8"),
    ("a: [1, 2\n", "not valid YAML"),
    ("[" * 5000 + "]" * 5000, "not valid YAML"),
])
def test_malformed_documents_get_one_line(doc: str, contains: str) -> None:
    with _fleet({"deploy/web.yaml": doc.encode("latin-1") if "\xff" in doc else doc}) as root:
        proc = invoke("budget", "--manifests", str(root / "deploy"))
    assert_clean_failure(proc, contains=("web.yaml", contains))


def test_a_file_past_the_size_limit_is_refused_before_it_is_read() -> None:
    with _fleet({}) as root:
        with open(root / "huge.yaml", "wb") as handle:
            handle.truncate(50 * 1024 * 1024)  # 50 MB, sparse
        proc = run("budget", "--manifests", ".", cwd=root, timeout=TIMEOUT, memory=MEMORY)
    assert_clean_failure(proc, contains=("huge.yaml", "52428800 bytes"))


def test_a_file_of_millions_of_tiny_nodes_is_refused_in_bounded_memory_and_time() -> None:
    with _fleet({"tiny.yaml": "- 1\n" * (4 * 1024 * 1024)}) as root:  # 16 MiB, 4 million nodes
        proc = run("budget", "--manifests", ".", cwd=root, timeout=TIMEOUT, memory=MEMORY)
    assert_clean_failure(proc, contains=("tiny.yaml", "more than 400000 YAML nodes"))


def test_a_symbolic_link_loop_ends_and_each_file_counts_once() -> None:
    with _fleet({"deploy/web.yaml": _yaml(_deployment())}) as root:
        os.symlink("..", root / "deploy" / "up")  # deploy/up -> the root: a loop
        proc = invoke("budget", "--manifests", ".", "--format", "json")
    assert proc.returncode == 0 and not proc.stderr, proc.stdout + proc.stderr
    assert proc.stdout.count('"workload": "Deployment/web"') == 1


def test_documents_that_are_not_workloads_are_skipped_with_a_note() -> None:
    values = _yaml({"replicaCount": 3, "image": {"repository": "shop"}})
    with _fleet({"deploy/web.yaml": _yaml(_deployment()), "chart/values.yaml": values}) as root:
        proc = invoke("budget", "--manifests", str(root))
    _outcome(proc)
    assert "chart/values.yaml: document 1: no 'kind' and no 'services'" in proc.stdout


INI = "[databases]\napp = host=db password=s3cr3t pool_size=10\n[pgbouncer]\npool_mode = transaction\n"


@pytest.mark.parametrize(("ini", "contains"), [
    (INI + "this is junk\n", "not 'key = value'"),
    (INI + "pool_mode = session\n", "[pgbouncer] pool_mode given twice"),
    (INI + "max_client_conn = lots\n", "max_client_conn = 'lots' is not a count"),
    (INI.replace("transaction", "sometimes"), "pool_mode = 'sometimes' is not a pool_mode"),
    ("%include /etc/pgbouncer/more.ini\n" + INI, "%include is not followed"),
    ("listen_port = 6432\n" + INI, "a line before any [section]"),
    ("[databases]\napp = host=db password=s3cr3t pool_size=x1\n[pgbouncer]\n", "[databases] app pool_size"),
    ("[databases]\n", "no [pgbouncer] section"),
])
def test_junk_pgbouncer_ini_gets_one_line_and_no_password(ini: str, contains: str) -> None:
    with _fleet({"deploy/web.yaml": _yaml(_deployment()), "pgbouncer.ini": ini}) as root:
        proc = invoke("budget", "--manifests", str(root))
    assert_clean_failure(proc, contains=("pgbouncer.ini", contains))


# -- generated inputs -----------------------------------------------------------------------------------------

DSN = "postgresql://shop:s3cr3t@db:5432/shop"
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.integers(-3, 12),
                     st.floats(allow_nan=True), st.text(max_size=12),
                     st.sampled_from(["25%", "0%", "150%", "-5%", "3", "1e3", "$(X)", "${X:-4}", DSN,
                                      f"gunicorn -w 2 --bind {DSN}", "password=s3cr3t", "Rollout", "ScaledObject",
                                      "List", "StatefulSet", "blueGreen"]))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) |
                       st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
#: (field, where it is in a Deployment's spec) of the counts the oracle knows
_FIELDS = ("replicas", "maxSurge", "maxReplicas", "minReplicas", "strategy", "containers", "args", "env", "kind")


def _set(field: str, value: Any) -> list[dict[str, Any]]:
    dep, hpa = _deployment(), {**HPA, "spec": dict(HPA["spec"])}
    container = dep["spec"]["template"]["spec"]["containers"][0]
    if field == "replicas":
        dep["spec"]["replicas"] = value
    elif field == "maxSurge":
        dep["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = value
    elif field in ("maxReplicas", "minReplicas"):
        hpa["spec"][field] = value
    elif field == "strategy":
        dep["spec"]["strategy"] = value
    elif field == "containers":
        dep["spec"]["template"]["spec"]["containers"] = value
    elif field in ("args", "env"):
        container[field] = value
    else:
        dep["kind"] = value
    return [dep, hpa]


def _count_ok(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= 2**31 - 1


@settings(SETTINGS, max_examples=scaled(300))
@given(field=st.sampled_from(_FIELDS), value=_values)
def test_generated_fields_of_a_sound_deployment(field: str, value: Any) -> None:
    GENERATED["deployment field"] += 1
    with _fleet({"deploy.yaml": _yaml(*_set(field, value))}):
        proc = invoke("budget", "--manifests", ".")
    _outcome(proc)
    # the oracle, where the answer is certain
    if field == "replicas":
        assert (proc.returncode != 2) == (value is None or _count_ok(value, 0)), proc.stderr
    elif field == "maxReplicas":
        assert (proc.returncode != 2) == _count_ok(value, 1), proc.stderr
    if proc.returncode == 2 and field in ("replicas", "maxSurge", "maxReplicas", "minReplicas"):
        assert field in proc.stderr, proc.stderr


@settings(SETTINGS, max_examples=scaled(200))
@given(docs=st.lists(_values, min_size=1, max_size=4))
def test_generated_yaml_documents(docs: list[Any]) -> None:
    GENERATED["yaml documents"] += 1
    with _fleet({"a.yaml": _yaml(*docs)}):
        proc = invoke("budget", "--manifests", ".")
    _outcome(proc)


@settings(SETTINGS, max_examples=scaled(200))
@given(data=st.binary(max_size=400) | st.text(st.sampled_from(string.printable + "&*!|>-:[]{}"), max_size=200)
       .map(str.encode))
def test_generated_bytes(data: bytes) -> None:
    GENERATED["bytes"] += 1
    with _fleet({"a.yaml": data}):
        proc = invoke("budget", "--manifests", ".")
    _outcome(proc)


_INI_LINES = st.one_of(
    st.sampled_from(["[pgbouncer]", "[databases]", "[users]", "%include x.ini", "; comment", "", "junk",
                     "pool_mode = transaction", "pool_mode = nope", "default_pool_size = 20",
                     "max_client_conn = 99999999999", "reserve_pool_size = -1",
                     "app = host=db password=s3cr3t pool_size=5", "app = dbname=x pool_mode=statement"]),
    st.builds(lambda k, v: f"{k} = {v}", st.sampled_from(["default_pool_size", "max_db_connections", "pool_mode",
                                                          "max_client_conn", "reserve_pool_size"]),
              st.text(string.printable.strip(), max_size=8)),
)


@settings(SETTINGS, max_examples=scaled(200))
@given(lines=st.lists(_INI_LINES, max_size=10))
def test_generated_pgbouncer_ini(lines: list[str]) -> None:
    GENERATED["pgbouncer.ini"] += 1
    with _fleet({"deploy.yaml": _yaml(_deployment()), "pgbouncer.ini": "\n".join(lines) + "\n"}):
        proc = invoke("budget", "--manifests", ".")
    _outcome(proc)
    assert "s3cr3t" not in proc.stdout + proc.stderr


_COMPOSE_KEYS = ("deploy", "scale", "command", "environment", "entrypoint")


@settings(SETTINGS, max_examples=scaled(200))
@given(key=st.sampled_from(_COMPOSE_KEYS), value=_values)
def test_generated_compose_fields(key: str, value: Any) -> None:
    GENERATED["compose field"] += 1
    service = {"image": "shop:1", "command": "gunicorn -w 2 app:app", "deploy": {"replicas": 2}, key: value}
    config = CONFIG.replace("Deployment/web", "compose/web")
    with _fleet({"compose.yaml": _yaml({"services": {"web": service, "x-note": value}})}, config=config):
        proc = invoke("budget", "--manifests", ".")
    _outcome(proc)


FLEET = Path(__file__).resolve().parents[1] / "fleet"
_FLEET_FILES = sorted(str(p.relative_to(FLEET)) for p in FLEET.rglob("*")
                      if p.suffix in (".yaml", ".yml", ".ini"))


@settings(SETTINGS, max_examples=scaled(200))
@given(name=st.sampled_from(_FLEET_FILES), data=st.data())
def test_the_real_fleet_truncated_or_with_a_byte_changed(name: str, data: Any) -> None:
    GENERATED["real fleet damaged"] += 1
    genuine = (FLEET / name).read_bytes()
    at = data.draw(st.integers(0, len(genuine) - 1))
    if data.draw(st.booleans()):
        damaged = genuine[:at]
    else:
        damaged = genuine[:at] + bytes([data.draw(st.integers(0, 255))]) + genuine[at + 1:]
    config = (FLEET / "poolwarden.toml").read_text()
    with _fleet({Path(name).name: damaged}, config=config):
        proc = invoke("budget", "--manifests", ".")
    _outcome(proc)


_KINDS = ("Deployment", "StatefulSet", "Rollout", "HorizontalPodAutoscaler", "ScaledObject", "ConfigMap", "List")
_SPEC_KEYS = ("replicas", "strategy", "template", "scaleTargetRef", "maxReplicas", "minReplicas", "maxReplicaCount",
              "minReplicaCount", "items", "data")
_objects = st.fixed_dictionaries({
    "kind": st.sampled_from(_KINDS),
    "metadata": st.fixed_dictionaries({"name": st.sampled_from(["web", "worker", ""]) | _scalars},
                                      optional={"namespace": st.sampled_from(["default", "prod"]) | _scalars}),
    "spec": st.dictionaries(st.sampled_from(_SPEC_KEYS), _values, max_size=5),
}, optional={"data": _values, "items": st.lists(_values, max_size=3)})


@settings(SETTINGS, max_examples=scaled(200))
@given(objects=st.lists(_objects, min_size=1, max_size=4))
def test_generated_kubernetes_shaped_objects(objects: list[dict[str, Any]]) -> None:
    GENERATED["kubernetes objects"] += 1
    with _fleet({"k8s.yaml": _yaml(_deployment(), *objects)}):
        proc = invoke("budget", "--manifests", ".")
    _outcome(proc)


def test_a_name_with_a_newline_stays_one_line(tmp_path: Path) -> None:
    """A metadata.name holding a newline (found by the generated objects) cannot add a line to the error."""
    (tmp_path / "k8s.yaml").write_text('kind: Deployment\nmetadata: {name: "web\\nforged: line"}\nspec: {}\n')
    line = assert_clean_failure(run("budget", "--manifests", "k8s.yaml", cwd=tmp_path))
    assert "web\\nforged: line" in line
