"""The runtime stats convention (docs/runtime/stats.md), and runtime modules using each other's
public names only."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest

from poolwarden.runtime.breaker import BreakerState, BreakerStats, CircuitBreaker
from poolwarden.runtime.monitor import PoolStats
from poolwarden.runtime.tenants import EngineRegistry, RegistryStats

RUNTIME = Path(__file__).resolve().parents[1] / "src" / "poolwarden" / "runtime"
VALUES_NOW = {"size", "checked_out", "idle", "overflow", "waiting", "max", "idle_max", "idle_min",
              "consecutive_failures", "engines", "draining", "connections", "peak_connections"}


@pytest.mark.parametrize("cls", [PoolStats, BreakerStats, RegistryStats])
def test_every_stats_class_follows_the_convention(cls: type) -> None:
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    fields = dataclasses.fields(cls)
    assert fields[0].name == "name" and fields[0].type in (str, "str")
    for f in fields[1:]:
        kind = str(f.type)
        if f.name in ("library", "state"):
            continue
        if f.name in VALUES_NOW:
            assert "int" in kind, f
        elif kind == "int":
            assert f.name.endswith("_total"), f"{cls.__name__}.{f.name}: a counter ends in _total"
        elif "float" in kind:
            assert f.name.endswith(("_ratio", "_ms", "_seconds")), f"{cls.__name__}.{f.name}: a unit in the name"
        else:
            assert f.name.endswith("_ms"), f"{cls.__name__}.{f.name}: histograms carry their unit"


def test_breaker_and_registry_stats_are_the_dataclasses() -> None:
    breaker = CircuitBreaker(name="billing", failure_threshold=1)
    breaker.failure(ConnectionRefusedError("refused"))
    stats = breaker.stats()
    assert stats == BreakerStats("billing", BreakerState.OPEN, 1, 0, 1, 0, 1)
    assert json.loads(json.dumps(dataclasses.asdict(stats)))["state"] == "open"
    assert stats.state == "open" and f"{stats.state}" == "open" and BreakerState("half-open") is BreakerState.HALF_OPEN
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.calls_total = 5  # type: ignore[misc]
    registry = EngineRegistry("postgresql+psycopg://u@localhost/{tenant}", name="tenants")
    try:
        assert registry.stats() == RegistryStats("tenants", engines=0, draining=0, connections=0, peak_connections=0,
                                                 engines_created_total=0, engines_disposed_total=0)
        registry.get("acme")  # an engine is made; nothing connects
        assert (registry.stats().engines, registry.stats().engines_created_total) == (1, 1)
    finally:
        registry.dispose()


def _defined_private_names(tree: ast.Module) -> set[str]:
    """``_names`` a module defines: functions, classes, module globals, ``self._x`` attributes."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def test_runtime_modules_use_each_others_public_names_only() -> None:
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(RUNTIME.rglob("*.py"))}
    defined = {path: _defined_private_names(tree) for path, tree in trees.items()}
    reaching: list[str] = []
    for path, tree in trees.items():
        others = set().union(*(names for p, names in defined.items() if p != path)) - defined[path]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("poolwarden"):
                reaching += [f"{path.name}:{node.lineno} imports {a.name}" for a in node.names
                             if a.name.startswith("_") and not a.name.startswith("__")]
            elif (isinstance(node, ast.Attribute) and node.attr in others and isinstance(node.value, ast.Name)
                  and node.value.id not in ("self", "cls")):
                reaching.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
    assert reaching == [], reaching
