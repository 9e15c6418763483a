"""From a snapshot to a verdict a tired on-call engineer reads in five seconds, then the evidence."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from poolwarden.doctor.snapshot import Snapshot

WARN_AT = 0.70
CRITICAL_AT = 0.90
_LEVELS = ("healthy", "warning", "critical")
#: the verdict when nothing seen is wrong but other roles' sessions are hidden from the role
INCOMPLETE = "incomplete"
HIDDEN = "(hidden)"

# (the last alternative: a string cut short by left(query, 2000))
_STRING = re.compile(r"(?<![\w$])[Ee]'(?:[^'\\]|\\.|'')*'|(?:(?<![\w$])(?:[BbXxNn]|[Uu]&))?'(?:[^']|'')*'|'.*\Z", re.S)
_DOLLAR = re.compile(r"\$\$.*?(?:\$\$|\Z)|\$([A-Za-z_][A-Za-z0-9_]*)\$.*?(?:\$\1\$|\Z)", re.S)
_PARAM = re.compile(r"\$\d+")
_NUMBER = re.compile(r"(?<![\w$])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")
_IN_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)+\s*\)")
_SPACE = re.compile(r"\s+")

# Settings that contain an incident pattern when set, reported when left at 0 (disabled).
# tcp_keepalives_idle is not one of them: 0 there means "the operating system's default", not off.
_CONTAINMENT = {
    "idle_in_transaction_session_timeout":
        "ends sessions left idle in a transaction (transactions held open across slow calls)",
    "idle_session_timeout": "ends sessions idle for too long (connections an application leaked)",
    "statement_timeout": "bounds every statement (requests hung on a stuck query)",
}


def fingerprint(query: str) -> str:
    """The query with literals and parameters removed: ``SELECT * FROM t WHERE id = ?``.

    String literals (also ``E''`` and dollar-quoted, and one cut short by the 2000-character
    limit), numbers and ``$1``-style parameters all become ``?``; never ``$?``."""
    text = _DOLLAR.sub("?", query)
    text = _STRING.sub("?", text)
    text = _PARAM.sub("?", text)
    text = _NUMBER.sub("?", text)
    text = _IN_LIST.sub("(?)", text)
    return _SPACE.sub(" ", text).strip()[:200]


def _age(snapshot: Snapshot, when: Any) -> float:
    return 0.0 if when is None else max(0.0, (snapshot.now - when).total_seconds())


def _human(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


@dataclass
class Diagnosis:
    """The verdict (``level`` and ``headline``) and the evidence behind it.

    ``level`` is ``healthy``, ``warning`` or ``critical`` from what the role can see, or
    ``incomplete`` when nothing seen is wrong but ``hidden_connections`` sessions of other roles
    are hidden from it (their state and query): never ``healthy`` on partial data. ``in_use``
    counts every client backend, hidden ones and the doctor's own connection included."""

    level: str
    headline: list[str]
    in_use: int
    usable: int
    utilisation: float
    groups: list[dict[str, Any]] = field(default_factory=list)
    idle_in_transaction: list[dict[str, Any]] = field(default_factory=list)
    leak_suspects: list[dict[str, Any]] = field(default_factory=list)
    pgbouncer_waiting: list[dict[str, Any]] = field(default_factory=list)
    missing_settings: list[dict[str, str]] = field(default_factory=list)
    complete: bool = True
    hidden_connections: int = 0
    role: str = ""
    grant: str | None = None

    @property
    def healthy(self) -> bool:
        return self.level == "healthy"

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()} | {"healthy": self.healthy}


def _ident(name: str) -> str:
    """``name`` as an SQL identifier (quoted when it needs to be)."""
    return name if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) else '"' + name.replace('"', '""') + '"'


def _app(row: dict[str, Any]) -> str:
    return str(row["application_name"] or "(no application_name)")


def diagnose(snapshot: Snapshot, *, idle_age: float = 600.0, min_idle: int = 5) -> Diagnosis:
    """Read the snapshot: utilisation, groups, idle-in-transaction sessions, leak suspects,
    PgBouncer waiters, the containment settings left off, and what the role cannot see."""
    s = snapshot.settings
    usable = int(s.get("max_connections", "0")) - int(s.get("superuser_reserved_connections", "0")) \
        - int(s.get("reserved_connections", "0") or 0)
    rows = snapshot.activity
    hidden = [r for r in rows if r.get("hidden")]
    in_use = len(rows) + 1  # the doctor's own connection takes a slot too
    utilisation = in_use / usable if usable > 0 else 1.0
    level = 0
    headline: list[str] = []
    if utilisation >= CRITICAL_AT:
        level = 2
    elif utilisation >= WARN_AT:
        level = 1
    by_app = Counter(_app(r) for r in rows)
    top = ", ".join(f"{app} {n}" for app, n in by_app.most_common(3))
    headline.append(f"{utilisation:.0%} of usable connections in use ({in_use} of {usable})"
                    + (f"; most from {top}" if rows else ""))

    groups = Counter((r["application_name"], r["usename"], r["datname"], r["client"],
                      HIDDEN if r.get("hidden") else r["state"]) for r in rows)
    group_list = [{"application_name": a, "user": u, "database": d, "client": c, "state": st, "connections": n}
                  for (a, u, d, c, st), n in groups.most_common()]

    idle_tx = sorted(
        ({"pid": r["pid"], "application_name": r["application_name"], "database": r["datname"],
          "age_seconds": round(_age(snapshot, r["state_change"]), 1),
          "transaction_age_seconds": round(_age(snapshot, r["xact_start"]), 1),
          "query": fingerprint(r["query"]), "state": r["state"]}
         for r in rows if r["state"].startswith("idle in transaction")),
        key=lambda d: -d["age_seconds"],
    )
    if idle_tx:
        level = max(level, 1)
        apps = Counter(d["application_name"] or "(no application_name)" for d in idle_tx)
        app, count = apps.most_common(1)[0]
        headline.append(f"{len(idle_tx)} session(s) idle in transaction, {count} from '{app}' "
                        f"(oldest {_human(idle_tx[0]['age_seconds'])}): each holds a connection doing nothing")

    idle = [r for r in rows if r["state"] == "idle" and _age(snapshot, r["state_change"]) >= idle_age]
    aging = Counter(_app(r) for r in idle)
    suspects: list[dict[str, Any]] = []
    for app, count in aging.most_common():
        if count < min_idle:
            continue
        oldest = max(_age(snapshot, r["state_change"]) for r in idle if _app(r) == app)
        suspects.append({"application_name": app, "idle_connections": count, "oldest_idle_seconds": round(oldest, 1)})
    if suspects:
        level = max(level, 1)
        app, count = suspects[0]["application_name"], suspects[0]["idle_connections"]
        oldest = float(suspects[0]["oldest_idle_seconds"])
        headline.append(f"'{app}' keeps {count} connections idle (oldest {_human(oldest)}): leak suspect")

    waiting = [{"database": p.get("database"), "user": p.get("user"), "cl_waiting": p.get("cl_waiting"),
                "maxwait_seconds": p.get("maxwait")}
               for p in snapshot.pgbouncer_pools if (p.get("cl_waiting") or 0) > 0]
    if waiting:
        level = max(level, 1)
        total = sum(int(w["cl_waiting"] or 0) for w in waiting)
        headline.append(f"{total} client(s) waiting in PgBouncer for a server connection")

    grant = None
    if hidden:
        grant = f"GRANT pg_monitor TO {_ident(snapshot.role)}"
        owners = ", ".join(sorted({str(r["usename"]) or "?" for r in hidden}))
        headline.append(f"cannot see the state of {len(hidden)} connection(s) of other roles ({owners}): role "
                        f"'{snapshot.role}' lacks pg_monitor, so sessions idle in transaction and leak suspects "
                        f"among them are unknown; to see them: {grant}")

    missing = [{"setting": name, "why": why} for name, why in _CONTAINMENT.items() if s.get(name) in ("0", "")]
    verdict = INCOMPLETE if level == 0 and hidden else _LEVELS[level]
    headline[0] = f"{verdict.upper()}: " + headline[0]
    return Diagnosis(verdict, headline, in_use, usable, utilisation, group_list, idle_tx, suspects,
                     waiting, missing, complete=not hidden, hidden_connections=len(hidden), role=snapshot.role,
                     grant=grant)


def table_rows(d: Diagnosis, limit: int) -> tuple[list[dict[str, Any]], int, int]:
    """The first ``limit`` groups, and the connections and groups left out; with the doctor's own
    connection the shown and left-out connections add up to ``d.in_use``, the headline's count."""
    shown = d.groups[:limit]
    rest = d.groups[limit:]
    return shown, sum(g["connections"] for g in rest), len(rest)


def render_text(d: Diagnosis) -> str:
    out = list(d.headline)
    if d.idle_in_transaction:
        out.append("")
        out.append("idle in transaction:")
        for item in d.idle_in_transaction[:10]:
            out.append(f"  pid {item['pid']:<7} {item['application_name'] or '-':<20} {_human(item['age_seconds']):>8}"
                       f"  {item['query'][:80]}")
    if d.leak_suspects:
        out.append("")
        out.append("leak suspects (idle connections that keep aging):")
        for item in d.leak_suspects:
            out.append(f"  {item['application_name']:<28} {item['idle_connections']:>4} idle, oldest "
                       f"{_human(item['oldest_idle_seconds'])}")
    out.append("")
    out.append(f"  {'application_name':<24} {'user':<12} {'database':<14} {'client':<15} {'state':<22} conns")
    shown, more, more_groups = table_rows(d, 15)
    for g in shown:
        out.append(f"  {g['application_name'] or '-':<24} {g['user'] or '-':<12} {g['database']:<14} "
                   f"{g['client']:<15} {g['state'] or '-':<22} {g['connections']:>5}")
    if more:
        out.append(f"  {f'… {more_groups} more group(s)':<91} {more:>5}")
    out.append(f"  {'(this diagnosis: poolwarden-doctor)':<91} {1:>5}")
    out.append(f"  {'total, as in the first line':<91} {d.in_use:>5}")
    if d.missing_settings:
        out.append("")
        out.append("settings left off that would contain an incident:")
        for m in d.missing_settings:
            out.append(f"  {m['setting']} = 0: set it — it {m['why']}")
    return "\n".join(out)
