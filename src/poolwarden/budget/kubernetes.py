"""Kubernetes objects as workloads: Deployments, StatefulSets, their HorizontalPodAutoscalers, ConfigMaps.

- ``Deployment`` / ``StatefulSet``: ``spec.replicas`` (1 when absent, said so; the HPA's
  ``minReplicas`` when an HPA targets it); the pod template's containers.
- ``HorizontalPodAutoscaler`` (``autoscaling/v1`` and ``v2``): ``spec.maxReplicas`` and
  ``spec.minReplicas`` (default 1), matched to its ``scaleTargetRef`` (kind and name, same namespace);
  KEDA's ``ScaledObject`` likewise (``maxReplicaCount``, default 100; ``minReplicaCount``).
- Argo Rollouts' ``Rollout``: a ``blueGreen`` strategy runs a full preview set beside the active one
  (a 100% surge); ``canary`` surges by its ``maxSurge`` (default 25%).
- Rollout: a Deployment's ``spec.strategy``: ``Recreate`` stops the old pods first (no overlap);
  ``RollingUpdate`` (the default) adds ``rollingUpdate.maxSurge`` pods (default ``25%``, a percentage
  rounded up, as Kubernetes does). A StatefulSet replaces one pod at a time: no overlap.
- Containers: ``command`` + ``args`` (``$(VAR)`` replaced by the container's literal env value, as
  the kubelet does), ``env`` (``value``; ``valueFrom.configMapKeyRef`` followed to a ConfigMap in the
  manifests; ``secretKeyRef``, ``fieldRef`` and missing ConfigMaps are not literal, said so) and
  ``envFrom.configMapRef``.
- ``kind: List`` (``kubectl get -o yaml``) is read item by item. Other kinds (Service, Ingress,
  Secret…) run no pods of their own and are skipped; ``DaemonSet``, ``Job``, ``CronJob`` and bare
  ``Pod``s are listed as skipped (their pod counts are not in the manifest, or they are one-shot).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from poolwarden.budget.workload import Container, Count, EnvValue, Surge, Workload, count, mapping, surge_value
from poolwarden.errors import UsageError

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "Rollout"})
HPA_KIND = "HorizontalPodAutoscaler"
KEDA_KIND = "ScaledObject"
#: (max key, its default, min key, its default) of each autoscaler kind
_SCALERS = {HPA_KIND: ("maxReplicas", None, "minReplicas", 1),
            KEDA_KIND: ("maxReplicaCount", 100, "minReplicaCount", 0)}
_LISTED_APART = frozenset({"DaemonSet", "Job", "CronJob", "Pod", "ReplicaSet"})
_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
MAX_LIST_ITEMS = 100_000


@dataclass
class _Object:
    doc: dict[str, Any]
    path: str  # file
    at: str  # "file: document N"
    kind: str
    name: str
    namespace: str


@dataclass
class Objects:
    """The Kubernetes objects of every file, gathered first: an HPA or a ConfigMap may come before or
    after (or in another file than) the workload it refers to."""

    objects: list[_Object] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def add(self, doc: dict[str, Any], path: str, at: str) -> None:
        kind = doc.get("kind")
        if not isinstance(kind, str):
            raise UsageError(f"{at}: 'kind' = {str(kind)[:40]!r} is not a string")
        if kind == "List" or (kind.endswith("List") and "items" in doc):
            items = doc.get("items") or []
            if not isinstance(items, list) or len(items) > MAX_LIST_ITEMS:
                raise UsageError(f"{at}: {kind} 'items' must be a list (of at most {MAX_LIST_ITEMS})")
            for i, item in enumerate(items):
                if not isinstance(item, dict) or "kind" not in item:
                    raise UsageError(f"{at}: {kind} items[{i}] is not a Kubernetes object")
                self.add(item, path, f"{at} items[{i}]")
            return
        meta = doc.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        name, namespace = meta.get("name"), meta.get("namespace") or ""
        namespace = "" if namespace == "default" else namespace  # absent is the default namespace
        if kind not in WORKLOAD_KINDS and kind not in (*_SCALERS, "ConfigMap"):
            if kind in _LISTED_APART:
                self.skipped.append(f"{at}: {kind}/{name}: not counted (its pod count is not in the manifest, or "
                                    "it runs once); declare it as a [[budget.service]] if it holds pools")
            return
        if not isinstance(name, str) or not name:
            raise UsageError(f"{at}: {kind} without a metadata.name")
        if not isinstance(namespace, str):
            raise UsageError(f"{at}: {kind}/{name} metadata.namespace is not a string")
        self.objects.append(_Object(doc, path, at, kind, name, namespace))


def _ident(kind: str, name: str, namespace: str) -> str:
    return f"{kind}/{name}" if namespace in ("", "default") else f"{namespace}/{kind}/{name}"


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise UsageError(f"{where} is not a list")
    return value


def read_objects(objects: Objects) -> list[Workload]:
    """The Deployments and StatefulSets of ``objects``, with their HPAs and ConfigMaps applied."""
    config_maps: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
    hpas: dict[tuple[str, str, str], tuple[Count, Count | None]] = {}
    for obj in objects.objects:
        label = f"{obj.path}: {obj.kind}/{obj.name}"
        if obj.kind == "ConfigMap":
            data = mapping(obj.doc.get("data"), f"{label} data")
            config_maps[(obj.namespace, obj.name)] = ({str(k): v for k, v in data.items()}, label)
        elif obj.kind in _SCALERS:
            key, scaler = _scaler(obj, label)
            hpas[key] = scaler
    workloads: list[Workload] = []
    seen: dict[str, str] = {}
    for obj in objects.objects:
        if obj.kind in WORKLOAD_KINDS:
            ident = _ident(obj.kind, obj.name, obj.namespace)
            if ident in seen:
                raise UsageError(f"{obj.at}: {ident} is also defined in {seen[ident]}: give one environment's "
                                 "manifests (kubectl would apply the last over the first)")
            seen[ident] = obj.at
            hpa = hpas.pop((obj.namespace, obj.kind, obj.name), None)
            workloads.append(_workload(obj, hpa, config_maps))
    objects.skipped.extend(f"autoscaler of {kind}/{name}: its target is not a Deployment, StatefulSet or "
                           "Rollout in the manifests, not counted" for _, kind, name in hpas)
    return workloads


def _scaler(obj: _Object, label: str) -> tuple[tuple[str, str, str], tuple[Count, Count | None]]:
    """An HPA's (or a KEDA ScaledObject's) target and its (max, min) replicas."""
    high_key, high_default, low_key, low_default = _SCALERS[obj.kind]
    spec = mapping(obj.doc.get("spec"), f"{label} spec")
    target = mapping(spec.get("scaleTargetRef"), f"{label} spec.scaleTargetRef")
    if high_key in spec:
        high = Count(count(spec[high_key], f"{label} spec.{high_key}", low=1), f"{label} spec.{high_key}")
    elif high_default is not None:
        high = Count(high_default, f"{high_default} ({label} has no spec.{high_key}: KEDA's default)")
    else:
        raise UsageError(f"{label} spec.{high_key} is required")
    low = None
    if low_key in spec:
        low = Count(count(spec[low_key], f"{label} spec.{low_key}", low=low_default), f"{label} spec.{low_key}")
        if low.value > high.value:
            raise UsageError(f"{label} spec.{low_key} = {low.value} is more than spec.{high_key} = {high.value}")
    kind = target.get("kind", "Deployment" if obj.kind == KEDA_KIND else None)  # KEDA's default target kind
    return (obj.namespace, str(kind), str(target.get("name"))), (high, low)


def _workload(obj: _Object, hpa: tuple[Count, Count | None] | None,
              config_maps: dict[tuple[str, str], tuple[dict[str, Any], str]]) -> Workload:
    label = f"{obj.path}: {obj.kind}/{obj.name}"
    spec = mapping(obj.doc.get("spec"), f"{label} spec")
    if spec.get("replicas") is not None:
        replicas = Count(count(spec["replicas"], f"{label} spec.replicas"), f"{label} spec.replicas")
        if hpa is not None and hpa[1] is not None and hpa[1].value > replicas.value:
            replicas = hpa[1]  # the HPA scales it up to its minReplicas at once
    elif hpa is not None:
        replicas = hpa[1] or Count(1, f"1 ({label} has no spec.replicas; its HPA has no minReplicas: default 1)")
    else:
        replicas = Count(1, f"1 ({label} has no spec.replicas: Kubernetes' default)")
    surge = _surge(obj, spec, label)
    template = mapping(spec.get("template"), f"{label} spec.template")
    pod = mapping(template.get("spec"), f"{label} spec.template.spec")
    containers = []
    for i, raw in enumerate(_list(pod.get("containers"), f"{label} spec.template.spec.containers")):
        where = f"{label} spec.template.spec.containers[{i}]"
        containers.append(_container(mapping(raw, where), where, obj.namespace, config_maps))
    return Workload(_ident(obj.kind, obj.name, obj.namespace), obj.kind, obj.name, obj.path, replicas,
                    hpa[0] if hpa is not None else None, surge, tuple(containers))


def _surge(obj: _Object, spec: dict[str, Any], label: str) -> Surge:
    if obj.kind == "StatefulSet":
        return Surge(None, f"{label}: a StatefulSet replaces one pod at a time")
    if obj.kind == "Rollout":  # Argo Rollouts: blueGreen runs a full second set; canary surges like a Deployment
        strategy = mapping(spec.get("strategy"), f"{label} spec.strategy")
        if "blueGreen" in strategy:
            return Surge("100%", f"{label} spec.strategy.blueGreen: the preview set runs beside the active one")
        canary = mapping(strategy.get("canary"), f"{label} spec.strategy.canary")
        if canary.get("maxSurge") is not None:
            where = f"{label} spec.strategy.canary.maxSurge"
            return Surge(surge_value(canary["maxSurge"], where), where)
        return Surge("25%", f"{label}: canary maxSurge default 25%")
    strategy = mapping(spec.get("strategy"), f"{label} spec.strategy")
    kind = strategy.get("type", "RollingUpdate")
    if kind == "Recreate":
        return Surge(None, f"{label} spec.strategy.type Recreate: old pods stop first")
    if kind != "RollingUpdate":
        raise UsageError(f"{label} spec.strategy.type = {str(kind)[:40]!r} is neither RollingUpdate nor Recreate")
    rolling = mapping(strategy.get("rollingUpdate"), f"{label} spec.strategy.rollingUpdate")
    if "maxSurge" in rolling and rolling["maxSurge"] is not None:
        where = f"{label} spec.strategy.rollingUpdate.maxSurge"
        return Surge(surge_value(rolling["maxSurge"], where), where)
    return Surge("25%", f"{label}: maxSurge default 25%")


def _container(raw: dict[str, Any], where: str, namespace: str,
               config_maps: dict[tuple[str, str], tuple[dict[str, Any], str]]) -> Container:
    name = str(raw.get("name", ""))
    env: dict[str, EnvValue] = {}
    for j, ref in enumerate(_list(raw.get("envFrom"), f"{where}.envFrom")):
        ref = mapping(ref, f"{where}.envFrom[{j}]")
        cm = mapping(ref.get("configMapRef"), f"{where}.envFrom[{j}].configMapRef")
        prefix = str(ref.get("prefix") or "")
        if cm and (namespace, str(cm.get("name"))) in config_maps:
            data, origin = config_maps[(namespace, str(cm.get("name")))]
            for key, value in data.items():
                env[prefix + key] = EnvValue(None if value is None else str(value), f"{origin} data.{key}")
    for j, item in enumerate(_list(raw.get("env"), f"{where}.env")):
        item = mapping(item, f"{where}.env[{j}]")
        var = item.get("name")
        if not isinstance(var, str):
            raise UsageError(f"{where}.env[{j}] has no name")
        at = f"{where}.env[{j}] {var}"
        if "valueFrom" in item:
            env[var] = _value_from(mapping(item["valueFrom"], f"{at} valueFrom"), at, namespace, config_maps)
        else:
            value = item.get("value")
            env[var] = EnvValue(None if value is None else _expand(str(value), env), at)
    words: list[str] = []
    parts = []
    for part in ("command", "args"):
        values = _list(raw.get(part), f"{where}.{part}")
        if values:
            parts.append(part)
        words.extend(_expand(str(v), env) for v in values)
    source = f"{where}." + "+".join(parts) if parts else f"{where} (no command or args: the image's)"
    return Container(name, tuple(words), source, env, str(raw.get("image", "")))


def _value_from(ref: dict[str, Any], at: str, namespace: str,
                config_maps: dict[tuple[str, str], tuple[dict[str, Any], str]]) -> EnvValue:
    cm = ref.get("configMapKeyRef")
    if isinstance(cm, dict):
        found = config_maps.get((namespace, str(cm.get("name"))))
        ref_key = str(cm.get("key"))
        if found is None:
            return EnvValue(None, at, f"ConfigMap {cm.get('name')!r} is not in the manifests")
        data, origin = found
        if data.get(ref_key) is None:
            return EnvValue(None, at, f"ConfigMap {cm.get('name')!r} has no key {ref_key!r}")
        return EnvValue(str(data[ref_key]), f"{origin} data.{ref_key} (via {at})")
    what = next(iter(ref), "valueFrom")
    return EnvValue(None, at, f"{what}: not literal")


def _expand(text: str, env: dict[str, EnvValue]) -> str:
    """``$(VAR)`` replaced by the literal value of an earlier env entry, as the kubelet does."""
    def sub(match: re.Match[str]) -> str:
        found = env.get(match.group(1))
        return found.value if found is not None and found.value is not None else match.group(0)

    return _VAR_REF.sub(sub, text) if "$(" in text else text
