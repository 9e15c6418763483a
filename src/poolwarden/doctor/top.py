"""``poolwarden top``: the doctor's verdict and evidence, refreshed live in the terminal (rich)."""

from __future__ import annotations

import time
from collections.abc import Callable

from poolwarden.doctor.diagnosis import Diagnosis


def _table(d: Diagnosis) -> object:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    style = {"healthy": "bold green", "warning": "bold yellow", "critical": "bold red"}[d.level]
    head = Text(d.headline[0], style=style)
    rest = [Text(line) for line in d.headline[1:]]
    table = Table(expand=True)
    for col in ("application_name", "user", "database", "client", "state", "conns"):
        table.add_column(col, justify="right" if col == "conns" else "left")
    for g in d.groups[:25]:
        table.add_row(g["application_name"] or "-", g["user"], g["database"], g["client"], g["state"] or "-",
                      str(g["connections"]))
    idle = Table(title="idle in transaction", expand=True)
    for col in ("pid", "application_name", "age s", "query"):
        idle.add_column(col)
    for item in d.idle_in_transaction[:10]:
        idle.add_row(str(item["pid"]), item["application_name"] or "-", f"{item['age_seconds']:.0f}",
                     item["query"][:80])
    return Group(head, *rest, table, idle)


def run(observe: Callable[[], Diagnosis], interval: float, iterations: int | None) -> None:
    """Refresh every ``interval`` seconds until Ctrl-C (or ``iterations`` refreshes)."""
    from rich.live import Live

    count = 0
    with Live(_table(observe()), auto_refresh=False) as live:  # type: ignore[arg-type]
        while iterations is None or count < iterations - 1:
            time.sleep(interval)  # the refresh period the user asked for
            live.update(_table(observe()), refresh=True)  # type: ignore[arg-type]
            count += 1
