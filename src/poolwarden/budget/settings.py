"""Pool arguments read from settings, followed across modules to the literal default where the
settings are declared.

``create_engine(url, pool_size=settings.DB_POOL_SIZE)`` holds no number; the settings module
does. :class:`SettingsIndex` knows every module ``budget --code`` read (its dotted name, as
``check`` names it, and its imports, as ``check``'s walk resolves them) and follows a name to
its value:

- a module constant, here or in the module it is imported from (``from app.config import
  POOL_SIZE``; ``config.POOL_SIZE`` after ``from app import config``), through re-exports;
- an attribute of a settings object: a module-level instance (``settings = Settings()``, or
  ``settings = get_settings()`` where that function returns ``Settings()``) or the class itself,
  whose field is read from the class body or its project bases: ``pool_size: int = 20``,
  ``pool_size = 20``, ``Field(default=20)`` / ``Field(20)`` (pydantic), ``field(default=20)``
  (dataclasses);
- the value found is followed as :mod:`poolwarden.budget.values` follows values (environment
  lookups with a literal default: ``os.getenv("X", "20")``, ``config("X", cast=int,
  default=20)``, ``env.int("X", default=20)``; ``int(...)``; arithmetic), and further across
  modules when it is itself a name.

A field of a pydantic ``BaseSettings`` class is read from the environment variable pydantic
derives: the field name upper-cased (pydantic matches it case-insensitively), after the
``env_prefix`` of ``model_config = SettingsConfigDict(env_prefix=...)`` (or a dict) or of
``class Config: env_prefix = ...``; a literal ``alias`` / ``validation_alias`` / ``env`` of the
field names it instead. The :class:`~poolwarden.budget.values.Number` returned says the value,
where it was declared, and that variable. Anything else (a function parameter, ``self.x``, a
value computed by a call) is not literal and stays so.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field

from poolwarden.budget.values import NOT_LITERAL, Number, as_int, literal, module_names, shown
from poolwarden.check import source as S
from poolwarden.check.scope import dotted_text

_MAX_DEPTH = 12
_FIELD_CALLS = frozenset({"Field", "pydantic.Field", "field", "dataclasses.field", "attr.ib", "attrs.field"})
_ALIAS_KEYWORDS = ("validation_alias", "alias", "env")


@dataclass
class _Module:
    """One module read by the scan: where it is and what its names import."""

    module: str  # dotted name
    path: str  # as reported (relative to the current directory)
    source_path: str  # as opened
    imports: dict[str, str]
    root: str
    tree: ast.Module | None = None
    names: dict[str, ast.expr] = field(default_factory=dict)
    defs: dict[str, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)
    loaded: bool = False


class SettingsIndex:
    """The modules of a scan, by dotted name; each parsed again only when a value is followed into it."""

    def __init__(self) -> None:
        self._modules: dict[str, list[_Module]] = {}

    def add(self, module: str, path: str, source_path: str, imports: Mapping[str, str], root: str) -> None:
        """Record a module the scan read (``imports``: local name -> dotted name, as check resolves them)."""
        if module:
            self._modules.setdefault(module, []).append(_Module(module, path, source_path, dict(imports), root))

    def imports_of(self, module: str) -> list[str]:
        """The dotted names ``module`` imports (every copy of it)."""
        return [target for m in self._modules.get(module, []) for target in m.imports.values()]

    def known(self, dotted: str) -> tuple[str, list[str]] | None:
        """The longest prefix of ``dotted`` that is a module read, and the names after it."""
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            head = ".".join(parts[:cut])
            if head in self._modules:
                return head, parts[cut:]
        return None

    def _get(self, module: str, root: str) -> _Module | None:
        copies = self._modules.get(module)
        if not copies:
            return None
        found = next((m for m in copies if m.root == root), copies[0])
        if not found.loaded:
            found.loaded = True
            loaded = S.load(found.source_path)
            if not isinstance(loaded, S.Failure):
                found.tree = loaded.tree
                found.names = module_names(loaded.tree)
                found.defs = {s.name: s for s in loaded.tree.body
                              if isinstance(s, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))}
        return found if found.tree is not None else None

    # -- following ------------------------------------------------------------------------------
    def follow(self, node: ast.expr, module: str, root: str, imports: Mapping[str, str],
               names: Mapping[str, ast.expr], path: str, cpus: int | None = None) -> Number:
        """The integer ``node`` (written in ``module``) holds as far as literals go, across modules."""
        return self._follow(node, module, root, imports, names, path, cpus, 0)

    def _follow(self, node: ast.expr, module: str, root: str, imports: Mapping[str, str],
                names: Mapping[str, ast.expr], path: str, cpus: int | None, depth: int,
                env: str | None = None) -> Number:
        where = f"{path}:{getattr(node, 'lineno', 0)}"
        value, found_env = literal(node, names, cpus=cpus)
        number = _as_count(value)
        if value is not NOT_LITERAL and (number is not None or value is None):
            line = _value_line(node, names)
            return Number(number, f"{path}:{line}", found_env or env, shown(node))
        if found_env is not None:  # an env lookup whose default is not literal
            return Number(None, where, found_env, shown(node))
        target = _chain(node)
        if target is None or depth > _MAX_DEPTH:
            return Number(None, where, env, shown(node))
        head, rest = target
        if head in names and not rest:  # a local constant bound to a name from elsewhere
            return self._follow(names[head], module, root, imports, names, path, cpus, depth + 1, env)
        found = self._resolve(head, rest, module, root, imports, names, cpus, depth + 1)
        if found is None:
            return Number(None, where, env, shown(node))
        return found

    def _resolve(self, head: str, rest: list[str], module: str, root: str, imports: Mapping[str, str],
                 names: Mapping[str, ast.expr], cpus: int | None, depth: int) -> Number | None:
        """``head.rest…`` as seen from ``module``."""
        if depth > _MAX_DEPTH:
            return None
        here = self._get(module, root)
        if head in names and rest and here is not None:  # settings = Settings(); settings.X
            cls = self._instance_class(names[head], here, module, depth)
            if cls is not None:
                return self._field(cls[0], cls[1], rest[0], cpus, depth + 1)
            return None
        if here is not None and head in here.defs and rest:  # Settings.X
            node = here.defs[head]
            if isinstance(node, ast.ClassDef):
                return self._field(here, node, rest[0], cpus, depth + 1)
            return None
        target = imports.get(head)
        if target is None:
            return None
        return self._dotted(".".join([target, *rest]), root, cpus, depth + 1)

    def _dotted(self, dotted: str, root: str, cpus: int | None, depth: int) -> Number | None:
        known = self.known(dotted)
        if known is None or not known[1]:
            return None
        module, parts = known
        target = self._get(module, root)
        if target is None:
            return None
        head, rest = parts[0], parts[1:]
        if head in target.names and not rest:
            return self._follow(target.names[head], module, target.root, target.imports, target.names,
                                target.path, cpus, depth + 1)
        return self._resolve(head, rest, module, target.root, target.imports, target.names, cpus, depth + 1)

    def _class(self, func: ast.expr, here: _Module, module: str,
               depth: int) -> tuple[_Module, ast.ClassDef] | None:
        """The project class ``func`` names (seen from ``here``), or the class a factory function returns."""
        chain = _chain(func)
        if chain is None or depth > _MAX_DEPTH:
            return None
        head, rest = chain
        if not rest and head in here.defs:
            node = here.defs[head]
            if isinstance(node, ast.ClassDef):
                return here, node
            for ret in (n for n in ast.walk(node) if isinstance(n, ast.Return) and isinstance(n.value, ast.Call)):
                assert isinstance(ret.value, ast.Call)
                found = self._class(ret.value.func, here, module, depth + 1)
                if found is not None:
                    return found
            return None
        target = here.imports.get(head)
        if target is None:
            return None
        known = self.known(".".join([target, *rest]))
        if known is None or len(known[1]) != 1:
            return None
        other = self._get(known[0], here.root)
        if other is None:
            return None
        return self._class(ast.Name(known[1][0]), other, known[0], depth + 1)

    def _instance_class(self, value: ast.expr, here: _Module, module: str,
                        depth: int) -> tuple[_Module, ast.ClassDef] | None:
        if isinstance(value, ast.Call):
            return self._class(value.func, here, module, depth)
        return None

    def _field(self, owner: _Module, cls: ast.ClassDef, name: str, cpus: int | None,
               depth: int) -> Number | None:
        """Field ``name`` of ``cls``, from its body or a project base's, with the env var pydantic reads."""
        for stmt in cls.body:
            target: ast.expr | None = None
            value: ast.expr | None = None
            if isinstance(stmt, ast.AnnAssign):
                target, value = stmt.target, stmt.value
            elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target, value = stmt.targets[0], stmt.value
            if not (isinstance(target, ast.Name) and target.id == name):
                continue
            env = self._env_name(owner, cls, name, value, depth)
            where = f"{owner.path}:{stmt.lineno}"
            if value is None:
                return Number(None, where, env, f"{name} (no default)")
            default = _field_default(value)
            if default is None:
                return Number(None, where, env, shown(value))
            found = self._follow(default, owner.module, owner.root, owner.imports, owner.names,
                                 owner.path, cpus, depth + 1, env)
            return found if found.env or not env else Number(found.value, found.where, env, found.text)
        for base in cls.bases:
            parent = self._class(base, owner, owner.module, depth + 1)
            if parent is not None:
                inherited = self._field(parent[0], parent[1], name, cpus, depth + 1)
                if inherited is not None:
                    return inherited
        return None

    def _env_name(self, owner: _Module, cls: ast.ClassDef, name: str, value: ast.expr | None,
                  depth: int) -> str | None:
        """The environment variable pydantic-settings reads field ``name`` from, or None (not BaseSettings)."""
        if not self._is_settings(owner, cls, depth):
            return None
        if isinstance(value, ast.Call) and dotted_text(value.func).rpartition(".")[2] == "Field":
            for kw in value.keywords:
                if kw.arg in _ALIAS_KEYWORDS and isinstance(kw.value, ast.Constant) \
                        and isinstance(kw.value.value, str):
                    return kw.value.value.upper()
        return f"{self._prefix(owner, cls, depth)}{name}".upper()

    def _is_settings(self, owner: _Module, cls: ast.ClassDef, depth: int) -> bool:
        for base in cls.bases:
            text = dotted_text(base)
            if text.rpartition(".")[2] == "BaseSettings":
                return True
            parent = self._class(base, owner, owner.module, depth + 1)
            if parent is not None and depth < _MAX_DEPTH and self._is_settings(parent[0], parent[1], depth + 1):
                return True
        return False

    def _prefix(self, owner: _Module, cls: ast.ClassDef, depth: int) -> str:
        for stmt in cls.body:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                target = stmt.targets[0] if isinstance(stmt, ast.Assign) else stmt.target
                if isinstance(target, ast.Name) and target.id == "model_config" and stmt.value is not None:
                    prefix = _prefix_in(stmt.value)
                    if prefix is not None:
                        return prefix
            if isinstance(stmt, ast.ClassDef) and stmt.name == "Config":
                for inner in stmt.body:
                    if isinstance(inner, ast.Assign) and isinstance(inner.targets[0], ast.Name) \
                            and inner.targets[0].id == "env_prefix" and isinstance(inner.value, ast.Constant) \
                            and isinstance(inner.value.value, str):
                        return inner.value.value
        for base in cls.bases:
            parent = self._class(base, owner, owner.module, depth + 1)
            if parent is not None and depth < _MAX_DEPTH:
                return self._prefix(parent[0], parent[1], depth + 1)
        return ""


def _prefix_in(node: ast.expr) -> str | None:
    """``env_prefix`` of ``SettingsConfigDict(env_prefix="X")`` / ``{"env_prefix": "X"}``."""
    if isinstance(node, ast.Call):
        for kw in node.keywords:
            if kw.arg == "env_prefix" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                return kw.value.value
    if isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value == "env_prefix" and isinstance(value, ast.Constant) \
                    and isinstance(value.value, str):
                return value.value
    return None


def _field_default(value: ast.expr) -> ast.expr | None:
    """The default of a field's value: itself, or the ``default`` of ``Field(...)`` / ``field(...)``."""
    if isinstance(value, ast.Call) and dotted_text(value.func) in _FIELD_CALLS:
        for kw in value.keywords:
            if kw.arg == "default":
                return kw.value
        if value.args and not (isinstance(value.args[0], ast.Constant) and value.args[0].value is Ellipsis):
            return value.args[0]
        return None
    return value


def _chain(node: ast.expr) -> tuple[str, list[str]] | None:
    """``a.b.c`` -> ("a", ["b", "c"]); None for anything but a name or an attribute chain."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return node.id, list(reversed(parts))


def _value_line(node: ast.expr, names: Mapping[str, ast.expr]) -> int:
    """The line the literal behind ``node`` is written on (a module constant's, when ``node`` names one)."""
    seen = 0
    while isinstance(node, ast.Name) and node.id in names and seen < _MAX_DEPTH:
        node, seen = names[node.id], seen + 1
    return getattr(node, "lineno", 0)


def _as_count(value: object) -> int | None:
    return None if value is NOT_LITERAL else as_int(value)
    return None
