"""Typed facts about one workload read from a manifest: replicas, autoscaling, rollout surge, containers.

Every number carries its source, ``deploy/web.yaml: Deployment/web spec.replicas``, or says it is
a default and why. Kubernetes and compose readers (:mod:`poolwarden.budget.kubernetes`,
:mod:`poolwarden.budget.compose`) make these; :mod:`poolwarden.budget.fleet` counts them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from poolwarden.budget.model import show_value
from poolwarden.errors import UsageError

#: Kubernetes counts (replicas, maxReplicas, maxSurge) are int32
INT32 = 2**31 - 1
_PERCENT = re.compile(r"^(\d{1,10})%$")


@dataclass(frozen=True)
class Count:
    """A count and where it came from (a default says so in ``source``)."""

    value: int
    source: str


@dataclass(frozen=True)
class EnvValue:
    """An environment variable of a container: its literal value, or None and why not."""

    value: str | None
    source: str
    why: str = ""  # for a value that is not literal: "secretKeyRef", "ConfigMap 'x' not in the manifests"


@dataclass(frozen=True)
class Container:
    """A container's command line (``command`` + ``args``, ``$(VAR)`` expanded where literal) and env."""

    name: str
    words: tuple[str, ...]
    source: str  # where the command line was read
    env: Mapping[str, EnvValue] = field(default_factory=dict)
    image: str = ""


@dataclass(frozen=True)
class Surge:
    """The pods a rollout adds on top of the replicas: an absolute count, a percentage (rounded up, as
    Kubernetes does for ``maxSurge``), or none (``raw`` None: ``Recreate``, a StatefulSet, compose)."""

    raw: int | str | None
    source: str

    def pods(self, replicas: int) -> int:
        if self.raw is None:
            return 0
        if isinstance(self.raw, int):
            return self.raw
        percent = int(self.raw[:-1])
        return -(-replicas * percent // 100)

    def describe(self) -> str:
        return "no overlap" if self.raw is None else f"maxSurge {self.raw}"


@dataclass(frozen=True)
class Workload:
    """Pods of one kind: a Deployment, a StatefulSet, a compose service."""

    id: str  # "Deployment/web", "StatefulSet/db", "compose/web" (namespace first when not default)
    kind: str
    name: str
    path: str  # the file, relative to the current directory
    replicas: Count  # steady
    hpa_max: Count | None
    surge: Surge
    containers: tuple[Container, ...]

    @property
    def scaled_to(self) -> Count:
        """The most replicas it runs outside a rollout: the HPA's maxReplicas, else replicas."""
        if self.hpa_max is not None and self.hpa_max.value > self.replicas.value:
            return self.hpa_max
        return self.replicas

    @property
    def rollout_pods(self) -> int:
        """Pods at once during a rollout at :attr:`scaled_to` replicas: old and new overlap by the surge."""
        top = self.scaled_to.value
        return top + self.surge.pods(top)


def count(value: Any, where: str, *, low: int = 0, high: int = INT32) -> int:
    """An integer field of a manifest, checked: an int (not a bool, not a string) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{where} = {show_value(value)} is not an integer")
    if not low <= value <= high:
        raise UsageError(f"{where} = {value} is out of range ({low} … {high})")
    return value


def surge_value(value: Any, where: str) -> int | str:
    """``maxSurge``: an int ≥ 0 or ``"N%"``."""
    if isinstance(value, str):
        match = _PERCENT.match(value.strip())
        if match is None or int(match.group(1)) > 10_000:
            raise UsageError(f"{where} = {show_value(value)} is neither a count nor a percentage like '25%'")
        return f"{int(match.group(1))}%"
    return count(value, where)


def mapping(value: Any, where: str) -> dict[str, Any]:
    """A mapping field of a manifest (absent or null: empty); anything else is an error naming it."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(f"{where} is not a mapping")
    return value
