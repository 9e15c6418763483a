"""docker-compose files as workloads.

``services.NAME``: ``deploy.replicas``, else ``scale``, else 1; ``command`` and ``entrypoint``
(a string split as compose splits it, or a list); ``environment`` (a list of ``KEY=VALUE`` or a
mapping; ``${VAR:-default}`` is the default, ``${VAR}`` / ``$VAR`` not literal — compose takes
them from the shell or ``.env``, which the manifests do not hold). Keys starting with ``x-`` are
extensions and ignored; anchors and merge keys (``<<:``) are resolved by the YAML loader as compose
does. A rollout (``docker compose up`` of a new image) stops the old container first unless
``deploy.update_config.order`` is ``start-first``, which overlaps ``parallelism`` (default 1)
containers.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from poolwarden.budget.workload import Container, Count, EnvValue, Surge, Workload, count, mapping
from poolwarden.errors import UsageError

_INTERPOLATION = re.compile(r"\$\{([A-Za-z_]\w*)(?::?-([^}]*))?\}|\$([A-Za-z_]\w*)")


def _interpolate(text: str) -> str | None:
    """``text`` with ``${VAR:-default}`` replaced by the default; None when a variable has none."""
    missing = False

    def sub(match: re.Match[str]) -> str:
        nonlocal missing
        if match.group(2) is not None:
            return match.group(2)
        missing = True
        return match.group(0)

    result = _INTERPOLATION.sub(sub, text.replace("$$", "\0"))
    return None if missing else result.replace("\0", "$")


def _words(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError:
            raise UsageError(f"{where} = {value[:60]!r}: unbalanced quotes") from None
    if isinstance(value, list):
        return [str(v) for v in value]
    raise UsageError(f"{where} is neither a string nor a list")


def _environment(value: Any, where: str) -> dict[str, EnvValue]:
    env: dict[str, EnvValue] = {}
    if value is None:
        return env
    if isinstance(value, list):
        pairs = []
        for item in value:
            key, sep, rest = str(item).partition("=")
            pairs.append((key, rest if sep else None))
    elif isinstance(value, dict):
        pairs = [(str(k), None if v is None else str(v).lower() if isinstance(v, bool) else str(v))
                 for k, v in value.items()]
    else:
        raise UsageError(f"{where} is neither a list nor a mapping")
    for key, raw in pairs:
        at = f"{where}.{key}"
        if raw is None:
            env[key] = EnvValue(None, at, "taken from the shell: not literal")
            continue
        text = _interpolate(raw)
        env[key] = EnvValue(text, at, "" if text is not None else "a ${VAR} without default: not literal")
    return env


def read_compose(doc: dict[str, Any], path: str) -> list[Any]:
    """The services of a compose document as :class:`~poolwarden.budget.workload.Workload`\\ s."""
    workloads = []
    for name, raw in doc["services"].items():
        if str(name).startswith("x-"):
            continue
        label = f"{path}: services.{name}"
        service = mapping(raw, label)
        deploy = mapping(service.get("deploy"), f"{label}.deploy")
        if deploy.get("replicas") is not None:
            replicas = Count(count(deploy["replicas"], f"{label}.deploy.replicas"), f"{label}.deploy.replicas")
        elif service.get("scale") is not None:
            replicas = Count(count(service["scale"], f"{label}.scale"), f"{label}.scale")
        else:
            replicas = Count(1, f"1 ({label} has no deploy.replicas or scale: compose's default)")
        update = mapping(deploy.get("update_config"), f"{label}.deploy.update_config")
        if update.get("order") == "start-first":
            parallel = update.get("parallelism", 1)
            surge = Surge(count(parallel, f"{label}.deploy.update_config.parallelism", low=1)
                          if parallel else replicas.value, f"{label}.deploy.update_config (start-first)")
        else:
            surge = Surge(None, f"{label}: compose stops the old container first")
        env = _environment(service.get("environment"), f"{label}.environment")
        words = [*_words(service.get("entrypoint"), f"{label}.entrypoint"),
                 *_words(service.get("command"), f"{label}.command")]
        expanded = []
        for word in words:
            text = _interpolate(word)
            expanded.append(text if text is not None else word)
        parts = [p for p in ("entrypoint", "command") if service.get(p)]
        source = f"{label}." + "+".join(parts) if parts else f"{label} (no command: the image's)"
        container = Container(str(name), tuple(expanded), source, env, str(service.get("image", "")))
        workloads.append(Workload(f"compose/{name}", "compose", str(name), path, replicas, None, surge,
                                  (container,)))
    return workloads
