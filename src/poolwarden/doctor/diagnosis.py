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

_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
_IN_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)+\s*\)")
_SPACE = re.compile(r"\s+")

# Settings that would have contained a seed incident, when left at 0 (disabled).
_CONTAINMENT = {
    "idle_in_transaction_session_timeout": "ends sessions left idle in a transaction (seed 2: the enricher)",
    "idle_session_timeout": "ends sessions idle for too long (seed 4: leaked connections)",
    "statement_timeout": "bounds every statement (seed 3: hung requests)",
    "tcp_keepalives_idle": "detects dead client connections (seed 3: stuck sockets)",
}


def fingerprint(query: str) -> str:
    """The query with literals removed: ``SELECT * FROM t WHERE id = ?``."""
    text = _STRING.sub("?", query)
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
    """The verdict (``level`` and ``headline``) and the evidence behind it."""

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

    @property
    def healthy(self) -> bool:
        return self.level == "healthy"

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()} | {"healthy": self.healthy}


def diagnose(snapshot: Snapshot, *, idle_age: float = 600.0, min_idle: int = 5) -> Diagnosis:
    """Read the snapshot: utilisation, groups, idle-in-transaction sessions, leak suspects,
    PgBouncer waiters and the containment settings left off."""
    s = snapshot.settings
    usable = int(s.get("max_connections", "0")) - int(s.get("superuser_reserved_connections", "0")) \
        - int(s.get("reserved_connections", "0") or 0)
    rows = snapshot.activity
    in_use = len(rows) + 1  # the doctor's own connection takes a slot too
    utilisation = in_use / usable if usable > 0 else 1.0
    level = 0
    headline: list[str] = []
    if utilisation >= CRITICAL_AT:
        level = 2
    elif utilisation >= WARN_AT:
        level = 1
    by_app = Counter(r["application_name"] or "(no application_name)" for r in rows)
    top = ", ".join(f"{app} {n}" for app, n in by_app.most_common(3))
    headline.append(f"{utilisation:.0%} of usable connections in use ({in_use} of {usable})"
                    + (f"; most from {top}" if rows else ""))

    groups = Counter((r["application_name"], r["usename"], r["datname"], r["client"], r["state"]) for r in rows)
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
    aging = Counter(r["application_name"] or "(no application_name)" for r in idle)
    suspects: list[dict[str, Any]] = []
    for app, count in aging.most_common():
        if count < min_idle:
            continue
        oldest = max(_age(snapshot, r["state_change"]) for r in idle
                     if (r["application_name"] or "(no application_name)") == app)
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

    missing = [{"setting": name, "why": why} for name, why in _CONTAINMENT.items() if s.get(name, "0") in ("0", "")]
    if level == 0:
        headline[0] = "HEALTHY: " + headline[0]
    else:
        headline[0] = f"{_LEVELS[level].upper()}: " + headline[0]
    return Diagnosis(_LEVELS[level], headline, in_use, usable, utilisation, group_list, idle_tx, suspects,
                     waiting, missing)


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
    if d.groups:
        out.append("")
        out.append(f"  {'application_name':<24} {'user':<12} {'database':<14} {'client':<15} {'state':<22} conns")
        for g in d.groups[:15]:
            out.append(f"  {g['application_name'] or '-':<24} {g['user']:<12} {g['database']:<14} {g['client']:<15} "
                       f"{g['state'] or '-':<22} {g['connections']:>5}")
    if d.missing_settings:
        out.append("")
        out.append("settings left off that would contain an incident:")
        for m in d.missing_settings:
            out.append(f"  {m['setting']} = 0: set it — it {m['why']}")
    return "\n".join(out)
