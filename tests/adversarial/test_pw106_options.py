"""PW106 on generated code: options dicts built step by step, and hostile Django ``DATABASES``.

The contract asserted on every generated input:

- options built in a local dict and splatted (``create_engine(url, **d)``): when the dict, run for
  real, carries ``connect_args["connect_timeout"]``, PW106 says nothing (no false positive); when no
  step writes ``connect_timeout`` and every step is visible, PW106 reports the call at once; a step
  with project data (``d.update(extra)``) leaves it to the project index, a step with outside data
  (``d.update(json.loads(...))``) silences it;
- any module-level ``DATABASES`` the generator writes (computed keys, nested subscripts, non-dict
  values, calls) is analysed without an exception, and what PW106 reports on it is a Django finding.

Generated inputs: see ``EXAMPLES``; ``THROWN`` counts what was thrown.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poolwarden.check.engine import analyze_source
from poolwarden.check.rules.pw106_connect_without_timeout import ConnectWithoutTimeout

from .contract import thrown

THROWN = thrown("pw106")

EXAMPLES = {
    "options dicts built step by step (library)": 300,
    "hostile DATABASES settings (library)": 200,
}

_INNER_KEYS = ("connect_timeout", "application_name", "keepalives")
_OUTER_KEYS = ("connect_args", "pool_size", "echo")

_inner = st.dictionaries(st.sampled_from(_INNER_KEYS), st.integers(0, 9), max_size=3)


@st.composite
def _literal(draw: st.DrawFn) -> str:
    """A dict display of engine options, e.g. ``{'connect_args': {'keepalives': 1}, 'pool_size': 5}``."""
    keys = draw(st.lists(st.sampled_from(_OUTER_KEYS), unique=True, max_size=3))
    parts = [f"{k!r}: {draw(_inner)!r}" if k == "connect_args" else f"{k!r}: 5" for k in keys]
    return "{" + ", ".join(parts) + "}"


@st.composite
def _step(draw: st.DrawFn) -> tuple[str, str]:
    """One statement changing ``d`` and its kind: ``visible``, ``project`` or ``external``."""
    key = draw(st.sampled_from(_OUTER_KEYS))
    value = repr(draw(_inner)) if key == "connect_args" else "5"
    lit = draw(_literal())
    kind = draw(st.sampled_from((
        "assign", "item", "update", "update_kw", "setdefault", "ior", "dict_call", "splat", "nested", "helper",
        "returned", "project", "external",
    )))
    text = {
        "assign": f"d = {lit}",
        "item": f"d[{key!r}] = {value}",
        "update": f"d.update({lit})",
        "update_kw": f"d.update({key}={value})",
        "setdefault": f"d.setdefault({key!r}, {value})",
        "ior": f"d |= {lit}",
        "dict_call": f"d = dict(d, {key}={value})",
        "splat": f"d = {{**d, {key!r}: {value}}}",
        "nested": "if isinstance(d.get('connect_args'), dict):\n        d['connect_args']['connect_timeout'] = 5",
        "helper": f"_fill(d, {key!r}, {value})",
        "returned": f"d = _merged(d, {lit})",
        "project": "d.update(extra)",
        "external": "d.update(json.loads(url))",
    }[kind]
    return text, kind if kind in ("project", "external") else "visible"


# The module's own helpers the steps call: one fills a key its caller names, one returns a new dict.
_HELPERS = """\
def _fill(target, key, value):
    target[key] = value


def _merged(base, extra):
    out = dict(base)
    out.update(extra)
    return out
"""


def _module(steps: list[tuple[str, str]]) -> str:
    body = "".join(f"    {text}\n" for text, _ in steps)
    return (f"import json\nfrom sqlalchemy import create_engine\n\n\n{_HELPERS}\n\ndef make(url, extra):\n"
            f"    d = {{}}\n{body}    return create_engine('postgresql+psycopg2://db/app', **d)\n")


def _run(source: str) -> tuple[list[int], int]:
    result = analyze_source(source.encode(), "pkgx/engine.py", "pkgx.engine", False, [ConnectWithoutTimeout()])
    assert not [f for f in result.findings if f.code == "PW000"], source
    return [f.line for f in result.findings if f.code == "PW106"], len(result.pendings)


@settings(max_examples=EXAMPLES["options dicts built step by step (library)"], deadline=None,
          suppress_health_check=list(HealthCheck), database=None)
@given(st.lists(_step(), max_size=6))
def test_options_dict_built_step_by_step(steps: list[tuple[str, str]]) -> None:
    THROWN["options dicts built step by step (library)"] += 1
    source = _module(steps)
    found, pending = _run(source)
    kinds = {kind for _, kind in steps}
    writes_timeout = any("connect_timeout" in text for text, _ in steps)
    if not kinds - {"visible"}:
        helpers: dict[str, object] = {}
        exec(_HELPERS, helpers)  # our own helpers and literal steps, never the analyzer's input
        namespace: dict[str, object] = {"d": {}}
        for text, _ in steps:
            exec(compile(text.replace("\n    ", "\n"), "<step>", "exec"), helpers, namespace)
        final = namespace["d"]
        assert isinstance(final, dict)
        args = final.get("connect_args")
        if isinstance(args, dict) and "connect_timeout" in args:
            assert found == [] and pending == 0, source  # never a false positive on visible code
        if not writes_timeout:
            assert len(found) == 1 and pending == 0, source  # every step visible, none sets it: reported
    elif "external" in kinds:
        assert found == [] and pending == 0, source  # options from outside the code are trusted
    elif not writes_timeout:
        assert found == [] and pending == 1, source  # project data: the project index decides


_KEY = st.one_of(st.sampled_from(["'default'", "'replica'", "'OPTIONS'", "'ENGINE'", "key", "0", "None"]),
                 st.text("abc_", min_size=1, max_size=4).map(repr))
_VALUE = st.recursive(
    st.sampled_from([
        "'django.db.backends.postgresql'", "'django.db.backends.sqlite3'", "None", "5", "os.environ['X']",
        "dj_database_url.config()", "dj_database_url.parse(url)", "helper()", "[]", "{}",
        "{'application_name': 'x'}", "{'connect_timeout': 5}", "{'init_command': 'SET x'}",
    ]),
    lambda inner: st.one_of(
        st.lists(st.tuples(_KEY, inner), max_size=3).map(lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv) + "}"),
        inner.map(lambda v: f"{{**{v}}}" if v.startswith("{") else v),
    ),
    max_leaves=6,
)
_TARGET = st.lists(_KEY, max_size=3).map(lambda keys: "DATABASES" + "".join(f"[{k}]" for k in keys))


@settings(max_examples=EXAMPLES["hostile DATABASES settings (library)"], deadline=None,
          suppress_health_check=list(HealthCheck), database=None)
@given(st.lists(st.tuples(_TARGET, _VALUE, st.booleans()), min_size=1, max_size=5))
def test_hostile_databases_settings(statements: list[tuple[str, str, bool]]) -> None:
    THROWN["hostile DATABASES settings (library)"] += 1
    lines = ["import os", "import dj_database_url", ""]
    for target, value, guarded in statements:
        stmt = f"{target} = {value}"
        lines.append(f"if os.environ.get('X'):\n    {stmt}" if guarded else stmt)
    source = "\n".join(lines) + "\n"
    result = analyze_source(source.encode(), "cfg/settings.py", "cfg.settings", False, [ConnectWithoutTimeout()])
    assert not [f for f in result.findings if f.code == "PW000"], source
    for finding in result.findings:
        assert finding.code == "PW106" and finding.message.startswith("Django database `"), json.dumps(source)
