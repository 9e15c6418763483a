"""PW106 / PW109 / PW110 on generated Django settings: the static rules and the system check agree.

Each generated settings module is literal (engines, ``CONN_MAX_AGE``, ``CONN_HEALTH_CHECKS``, ``OPTIONS``
with or without ``connect_timeout`` and a native pool, environment reads with literal defaults, later
writes into an entry, ``ASGI_APPLICATION`` or ``daphne`` in ``INSTALLED_APPS``). The contract asserted on
every input:

- ``poolwarden check`` (the file alone) never raises, and reports only Django findings of these codes
  (also on hostile modules: computed keys, non-dict values, odd literals, splats, writes into nothing);
- what it reports — (code, alias, severity) — is exactly what the runtime system check's judgement
  (:func:`poolwarden.runtime.django.checks.database_problems`) finds on the ``DATABASES`` the module
  builds when it is run for real with its environment variables unset. (A module that names
  ``connect_timeout`` anywhere is trusted by PW106 statically, so PW106 is compared only on the others.)

Generated inputs: see ``EXAMPLES``; ``THROWN`` counts what was thrown.
"""

from __future__ import annotations

import os
import re
import types

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poolwarden.check.config import CheckConfig
from poolwarden.check.engine import check_source
from poolwarden.runtime.django.checks import database_problems, settings_facts

from .contract import thrown

THROWN = thrown("django-settings")

EXAMPLES = {
    "generated settings modules, static vs system check (library)": 300,
    "hostile settings modules (library)": 200,
}

_ENGINES = ('"django.db.backends.postgresql"', '"django.contrib.gis.db.backends.postgis"',
            '"django.db.backends.sqlite3"')
_AGES = ("0", "60", "None", 'int(os.environ.get("PWX_AGE", "600"))', 'os.getenv("PWX_AGE", 0)')
_HEALTH = ("True", "False", 'os.environ.get("PWX_HEALTH", True)', 'os.environ.get("PWX_HEALTH", "False")',
           'bool(os.getenv("PWX_HEALTH", "False"))', 'bool(int(os.getenv("PWX_HEALTH", "0")))')
_POOLS = ("True", "False", "{}", '{"max_size": 4}', '{"timeout": 5}', '{"max_size": 4, "timeout": 5}')


@st.composite
def _entry(draw: st.DrawFn) -> str:
    parts = [f'"ENGINE": {draw(st.sampled_from(_ENGINES))}', '"NAME": "app"']
    if draw(st.booleans()):
        parts.append(f'"CONN_MAX_AGE": {draw(st.sampled_from(_AGES))}')
    if draw(st.booleans()):
        parts.append(f'"CONN_HEALTH_CHECKS": {draw(st.sampled_from(_HEALTH))}')
    options = []  # always there: the module writes into it
    if draw(st.booleans()):
        options.append('"connect_timeout": 5')
    if draw(st.booleans()):
        options.append(f'"pool": {draw(st.sampled_from(_POOLS))}')
    if draw(st.booleans()):
        options.append('"sslmode": "require"')
    parts.append('"OPTIONS": {' + ", ".join(options) + "}")
    return "{" + ", ".join(parts) + "}"


@st.composite
def _module(draw: st.DrawFn) -> str:
    aliases = draw(st.lists(st.sampled_from(("default", "replica", "reports")), min_size=1, max_size=3, unique=True))
    lines = ["import os", ""]
    asgi = draw(st.sampled_from(("", 'ASGI_APPLICATION = "proj.asgi.application"',
                                 'INSTALLED_APPS = ["daphne", "django.contrib.auth"]',
                                 'INSTALLED_APPS = ["django.contrib.auth"]')))
    if asgi:
        lines.append(asgi)
    lines.append("DATABASES = {" + ", ".join(f'"{a}": {draw(_entry())}' for a in aliases) + "}")
    for _ in range(draw(st.integers(0, 3))):
        alias = draw(st.sampled_from(aliases))
        lines.append(draw(st.sampled_from((
            f'DATABASES["{alias}"]["CONN_MAX_AGE"] = {draw(st.sampled_from(_AGES))}',
            f'DATABASES["{alias}"]["CONN_HEALTH_CHECKS"] = {draw(st.sampled_from(_HEALTH))}',
            f'DATABASES["{alias}"]["OPTIONS"] = {{"application_name": "app"}}',
            f'DATABASES["{alias}"]["OPTIONS"]["pool"] = {draw(st.sampled_from(_POOLS))}',
            f'DATABASES["{alias}"].update({{"CONN_MAX_AGE": {draw(st.sampled_from(_AGES))}}})',
        ))))
    return "\n".join(lines) + "\n"


_ALIAS = re.compile(r"Django database `([^`]+)`")


@settings(max_examples=EXAMPLES["generated settings modules, static vs system check (library)"], deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(_module())
def test_static_rules_agree_with_the_system_check(source: str) -> None:
    THROWN["generated settings modules, static vs system check (library)"] += 1
    config = CheckConfig(select=["PW106", "PW109", "PW110"])
    result = check_source(source.encode(), "proj/settings.py", config)
    static: set[tuple[str, str, str]] = set()
    for f in result.findings:
        assert f.code in ("PW106", "PW109", "PW110"), f
        match = _ALIAS.search(f.message)
        assert match is not None, f.message
        static.add((f.code, match.group(1), f.severity))
    namespace: dict[str, object] = {}
    assert not [k for k in os.environ if k.startswith("PWX_")], "the generated variables must be unset"
    exec(compile(source, "settings.py", "exec"), namespace)  # the generated settings are literal
    facts = settings_facts(types.SimpleNamespace(**{k: v for k, v in namespace.items() if k.isupper()}), environ={})
    runtime = {(p.code, alias, p.severity) for alias, p in database_problems(namespace["DATABASES"], facts)}  # type: ignore[arg-type]
    if "connect_timeout" in source:
        static = {s for s in static if s[0] != "PW106"}
        runtime = {r for r in runtime if r[0] != "PW106"}
    assert static == runtime, source


_HOSTILE_VALUES = ("None", "-1", "1.5", "'60'", "'abc'", "b'x'", "1j", "[]", "{}", "{**base}", "True", "f()", "x.y",
                   "env.int('A', default='x')", "os.environ.get('A')", "int(os.getenv('A', 'nope'))",
                   "env('A', default={'k': 1})", "config(1, default=2)", "dj_database_url.config(**kw)", "lambda: 0")
_HOSTILE_TARGETS = ('DATABASES', 'DATABASES["default"]', 'DATABASES[k]', 'DATABASES["default"]["CONN_MAX_AGE"]',
                    'DATABASES["default"]["OPTIONS"]', 'DATABASES["default"]["OPTIONS"]["pool"]',
                    'DATABASES["x"][k]["pool"]', 'DATABASES["default"]["CONN_HEALTH_CHECKS"]', 'ASGI_APPLICATION',
                    'INSTALLED_APPS', 'DATABASES[1]', 'DATABASES["default"][0]')


@st.composite
def _hostile(draw: st.DrawFn) -> str:
    lines = ["import os", "import dj_database_url", "import environ", "from decouple import config",
             "env = environ.Env()"]
    for _ in range(draw(st.integers(1, 8))):
        target = draw(st.sampled_from(_HOSTILE_TARGETS))
        value = draw(st.sampled_from(_HOSTILE_VALUES))
        form = draw(st.sampled_from(("assign", "entry", "options", "update", "branch")))
        lines.append({
            "assign": f"{target} = {value}",
            "entry": f"{target} = {{'ENGINE': 'django.db.backends.postgresql', 'CONN_MAX_AGE': {value}, "
                     f"'CONN_HEALTH_CHECKS': {value}, 'OPTIONS': {{'pool': {value}}}}}",
            "options": f"{target} = {{'default': {{'OPTIONS': {value}, 'CONN_MAX_AGE': {value}}}}}",
            "update": f"{target}.update({value})",
            "branch": f"if os.environ.get('X'):\n    {target} = {value}\nelse:\n    {target} = {{'pool': {value}}}",
        }[form])
    return "\n".join(lines) + "\n"


@settings(max_examples=EXAMPLES["hostile settings modules (library)"], deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(_hostile())
def test_hostile_settings_never_raise(source: str) -> None:
    THROWN["hostile settings modules (library)"] += 1
    result = check_source(source.encode(), "proj/settings.py", CheckConfig(select=["PW106", "PW109", "PW110"]))
    for f in result.findings:
        assert f.code in ("PW106", "PW109", "PW110"), f
        assert _ALIAS.search(f.message) is not None, f.message
