"""What is wrong with one Django ``DATABASES`` entry: one pure function, :func:`judge`, on plain values.

Both sides call it: the static rules (PW106, PW109, PW110 read the entry out of a settings module's
code, :mod:`poolwarden.check.django_settings`) and the runtime system checks
(:mod:`poolwarden.runtime.django.checks`, from the live ``settings.DATABASES``). It imports no Django.

An entry is a mapping of Django's keys to plain values. Keys left out take Django's defaults
(``CONN_MAX_AGE`` 0, ``CONN_HEALTH_CHECKS`` False). Read from code, a value can be one of three
markers: :class:`FromEnv` (an environment variable with a literal default: the default is judged, and
the message names the variable), :class:`NotLiteral` (computed: never judged) and :class:`FromUrl`
(keys a database URL's query may set: the entry's ``OPTIONS`` from dj-database-url).

Severities, as Django's checks mean them (an error stops ``runserver`` and ``migrate``): a leak that
fills the server (persistent connections under ASGI) and a connect that can hang forever (no
``connect_timeout``) are errors; a dead connection used once after a restart (``CONN_MAX_AGE=None``
without health checks) and a native pool left to psycopg_pool's defaults are warnings, as is anything
judged on a value the URL may still change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from poolwarden.check import knowledge as K

Severity = Literal["error", "warning"]

#: Why a connect timeout: PW106's advice, in every message about one.
CONNECT_TIMEOUT_ADVICE = ("libpq waits forever by default, and applies `connect_timeout` per host/IP, so set it "
                          "(e.g. `connect_timeout=5`) and cap the total")
_TIMEOUT_FIX = '(add `"OPTIONS": {"connect_timeout": 5}`)'


@dataclass(frozen=True, slots=True)
class FromEnv:
    """A value read from the environment variable ``var``: ``value`` is its literal default."""

    value: object
    var: str


@dataclass(frozen=True, slots=True)
class NotLiteral:
    """A value the code computes (``text``: as it is written): nothing is concluded from it."""

    text: str


@dataclass(frozen=True, slots=True)
class FromUrl:
    """Keys a database URL's query string may set (``builder``: the helper that parses it, e.g.
    ``dj_database_url.config()``)."""

    builder: str


@dataclass(frozen=True, slots=True)
class Facts:
    """What is true of the whole project or process, beyond the entry.

    ``asgi``: why the project serves ASGI (e.g. "`ASGI_APPLICATION` is set"), None when it is not known to.
    ``connect_timeout_env``: libpq's ``PGCONNECT_TIMEOUT`` is set (for the process, or by project code).
    """

    asgi: str | None = None
    connect_timeout_env: bool = False


@dataclass(frozen=True, slots=True)
class Problem:
    """One judgement: the rule code, the entry key it is about (``("OPTIONS", "pool")``), the message."""

    code: str
    key: tuple[str, ...]
    message: str
    severity: Severity


def judge(alias: str, entry: Mapping[str, object], facts: Facts) -> list[Problem]:
    """The problems of the ``DATABASES[alias]`` entry ``entry`` under ``facts``, in code order.

    An entry of another database (a literal ``ENGINE`` that is not PostgreSQL's) gets nothing. The
    connect timeout (PW106) is asked of a known PostgreSQL entry only: a literal PostgreSQL ``ENGINE``
    (PostGIS too), an entry a URL helper built (a :class:`FromUrl` ``OPTIONS``), or one whose ``OPTIONS``
    only libpq takes. ``CONN_MAX_AGE`` (PW109) and the native pool (PW110) are judged on every other
    entry too, when the code does not show its engine (a split settings module writing into an entry
    another one made): those settings mean the same on any backend that has them.
    """
    if _other_database(entry):
        return []
    found = [_connect_timeout(alias, entry, facts) if _postgres(entry) else None,
             _conn_max_age(alias, entry, facts), _pool(alias, entry)]
    return [p for p in found if p is not None]


# -- PW106: no connect timeout ---------------------------------------------------------------------------
def _connect_timeout(alias: str, entry: Mapping[str, object], facts: Facts) -> Problem | None:
    if facts.connect_timeout_env:
        return None
    options = entry.get(K.DJANGO_OPTIONS, {})
    if isinstance(options, FromUrl):
        return Problem("PW106", (K.DJANGO_ENGINE,), f"Django database `{alias}` from `{options.builder}` sets no "
                       f"connect timeout, unless its URL carries `?connect_timeout=` {_TIMEOUT_FIX}: "
                       f"{CONNECT_TIMEOUT_ADVICE}", "warning")
    if not isinstance(options, Mapping) or K.CONNECT_TIMEOUT_WORD in options:
        return None  # computed options: trusted
    if _literal_engine(entry):
        return Problem("PW106", (K.DJANGO_ENGINE,), f"Django database `{alias}` (PostgreSQL) sets no "
                       f"`OPTIONS[\"connect_timeout\"]` {_TIMEOUT_FIX}: {CONNECT_TIMEOUT_ADVICE}", "error")
    return Problem("PW106", (K.DJANGO_OPTIONS,), f"Django database `{alias}` gets `OPTIONS` that set no "
                   f"`connect_timeout` {_TIMEOUT_FIX}: {CONNECT_TIMEOUT_ADVICE}", "error")


# -- PW109: persistent connections --------------------------------------------------------------------
def _conn_max_age(alias: str, entry: Mapping[str, object], facts: Facts) -> Problem | None:
    raw = entry.get(K.CONN_MAX_AGE, K.DJANGO_DEFAULTS[K.CONN_MAX_AGE])
    if isinstance(raw, (NotLiteral, FromUrl)):
        return None
    age = _number(_value(raw))
    if age == 0 or age is False:
        return None
    if age is not None and not isinstance(age, (int, float)):
        return None  # not a value Django takes: no judgement
    said = f"`CONN_MAX_AGE = {_show(age)}`{_env_note(raw)}"
    if facts.asgi is not None:
        return Problem("PW109", (K.CONN_MAX_AGE,), f"Django database `{alias}` keeps persistent connections "
                       f"({said}) while the project serves ASGI ({facts.asgi}): each request runs its ORM work on "
                       f"a new thread, whose connection Django never reuses nor closes, so connections pile up "
                       f"until PostgreSQL refuses new ones (Django ticket 33497); set `CONN_MAX_AGE = 0`, or use "
                       f"the native pool (`OPTIONS[\"pool\"]`)", "error")
    if age is not None:
        return None
    health = entry.get(K.CONN_HEALTH_CHECKS, K.DJANGO_DEFAULTS[K.CONN_HEALTH_CHECKS])
    if isinstance(health, (NotLiteral, FromUrl)) or bool(_value(health)):
        return None  # Django tests the setting's truthiness
    checks = f"`CONN_HEALTH_CHECKS = {_show(_value(health))}`{_env_note(health)}" \
        if K.CONN_HEALTH_CHECKS in entry else "no `CONN_HEALTH_CHECKS`"
    return Problem("PW109", (K.CONN_MAX_AGE,), f"Django database `{alias}` keeps each connection forever ({said}) "
                   f"with {checks}: after a database restart or failover, every thread's dead connection fails a "
                   f"request before Django drops it; set `CONN_HEALTH_CHECKS = True`, or a finite `CONN_MAX_AGE`",
                   "warning")


# -- PW110: the native pool left to psycopg_pool's defaults ---------------------------------------------
def _pool(alias: str, entry: Mapping[str, object]) -> Problem | None:
    options = entry.get(K.DJANGO_OPTIONS, {})
    if not isinstance(options, Mapping):
        return None
    raw = options.get(K.DJANGO_POOL_OPTION)
    if raw is None or isinstance(raw, (NotLiteral, FromUrl)):
        return None
    pool = _value(raw)
    if pool is True:
        missing = list(K.DJANGO_POOL_BOUNDS)
    elif isinstance(pool, Mapping) and pool:
        missing = [k for k in K.DJANGO_POOL_BOUNDS if k not in pool]
    elif isinstance(pool, Mapping):  # {}: a pool with every default
        missing = list(K.DJANGO_POOL_BOUNDS)
    else:
        return None  # False, or not a value Django takes
    if not missing:
        return None
    defaults = ", ".join(f"`{k}` = {K.DJANGO_POOL_DEFAULTS[k]}" for k in missing)
    shown = ("True" if pool is True else "a dict") + _env_note(raw)
    return Problem("PW110", (K.DJANGO_OPTIONS, K.DJANGO_POOL_OPTION),
                   f"Django database `{alias}` turns on the native pool (`OPTIONS[\"pool\"]` = {shown}) "
                   f"without {' and '.join(f'`{k}`' for k in missing)}: psycopg_pool's defaults apply ({defaults}), "
                   f"so a request that finds every connection busy waits up to 30 s before `PoolTimeout`, and the "
                   f"pool's size follows no thread or worker count; set them "
                   f"(`\"pool\": {{\"min_size\": 2, \"max_size\": 10, \"timeout\": 5}}`)", "warning")


# -- values -------------------------------------------------------------------------------------------
def _postgres(entry: Mapping[str, object]) -> bool:
    engine = entry.get(K.DJANGO_ENGINE)
    options = entry.get(K.DJANGO_OPTIONS)
    if isinstance(engine, FromEnv):
        engine = engine.value
    if isinstance(engine, str):
        return _postgres_engine(engine)
    if isinstance(options, FromUrl):
        return engine is None  # a URL helper's entry: PostgreSQL unless an engine is named otherwise
    return isinstance(options, Mapping) and bool(set(options) & K.LIBPQ_OPTION_KEYS)


def _other_database(entry: Mapping[str, object]) -> bool:
    engine = _value(entry.get(K.DJANGO_ENGINE))
    return isinstance(engine, str) and not _postgres_engine(engine)


def _literal_engine(entry: Mapping[str, object]) -> bool:
    engine = _value(entry.get(K.DJANGO_ENGINE))
    return isinstance(engine, str) and _postgres_engine(engine)


def _postgres_engine(engine: str) -> bool:
    return engine in K.DJANGO_POSTGRES_ENGINES or any(w in engine.lower() for w in K.DJANGO_POSTGRES_ENGINE_WORDS)


def _value(raw: object) -> object:
    return raw.value if isinstance(raw, FromEnv) else raw


def _number(value: object) -> object:
    """A numeric string (an environment default such as ``"60"``) as the number it stands for."""
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return value
    return value


def _show(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _env_note(raw: object) -> str:
    return f", the default of the environment variable `{raw.var}`, which changes it" \
        if isinstance(raw, FromEnv) else ""
