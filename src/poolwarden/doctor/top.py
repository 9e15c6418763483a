"""``poolwarden top``: the doctor's verdict and evidence, refreshed live in the terminal (rich).

On a terminal, keys are read in cbreak mode with echo off, so typing never scribbles over the
screen; ``q`` quits (so does Ctrl-C). The terminal's settings are restored on every exit."""

from __future__ import annotations

import contextlib
import os
import select
import sys
import time
from collections.abc import Callable, Iterator

from poolwarden.doctor.diagnosis import Diagnosis, table_rows

QUIT_KEYS = frozenset("qQ")


def _table(d: Diagnosis) -> object:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    style = {"healthy": "bold green", "warning": "bold yellow", "critical": "bold red",
             "incomplete": "bold magenta"}[d.level]
    head = Text(d.headline[0], style=style)
    rest = [Text(line) for line in d.headline[1:]]
    table = Table(expand=True, show_footer=True)
    for col in ("application_name", "user", "database", "client", "state"):
        table.add_column(col, footer="total, as in the first line" if col == "application_name" else "")
    table.add_column("conns", justify="right", footer=str(d.in_use))
    shown, more, more_groups = table_rows(d, 25)
    for g in shown:
        table.add_row(g["application_name"] or "-", g["user"] or "-", g["database"], g["client"], g["state"] or "-",
                      str(g["connections"]))
    if more:
        table.add_row(f"… {more_groups} more group(s)", "", "", "", "", str(more))
    table.add_row("(this diagnosis: poolwarden-doctor)", "", "", "", "", "1")
    idle = Table(title="idle in transaction", expand=True)
    for col in ("pid", "application_name", "age s", "query"):
        idle.add_column(col)
    for item in d.idle_in_transaction[:10]:
        idle.add_row(str(item["pid"]), item["application_name"] or "-", f"{item['age_seconds']:.0f}",
                     item["query"][:80])
    footer = Text("q quits", style="dim")
    return Group(head, *rest, table, idle, footer)


@contextlib.contextmanager
def _keys() -> Iterator[Callable[[float], bool]]:
    """``wait(seconds) -> quit?``: on a terminal, in cbreak mode without echo (restored on exit);
    otherwise a plain wait."""
    fd = sys.stdin.fileno() if sys.stdin is not None else -1
    if fd < 0 or not os.isatty(fd):
        def sleep(seconds: float) -> bool:
            time.sleep(seconds)  # the refresh period the user asked for
            return False

        yield sleep
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)

    def wait(seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return False
            if QUIT_KEYS & set(os.read(fd, 64).decode(errors="replace")):
                return True
        return False

    try:
        tty.setcbreak(fd, termios.TCSANOW)
        attrs = termios.tcgetattr(fd)
        attrs[3] &= ~termios.ECHO  # lflag: typed keys never reach the screen
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        yield wait
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def run(observe: Callable[[], Diagnosis], interval: float, iterations: int | None) -> None:
    """Refresh every ``interval`` seconds until ``q``, Ctrl-C or ``iterations`` refreshes."""
    from rich.live import Live

    count = 0
    with _keys() as wait, Live(_table(observe()), auto_refresh=False) as live:  # type: ignore[arg-type]
        while iterations is None or count < iterations - 1:
            if wait(interval):
                break
            live.update(_table(observe()), refresh=True)  # type: ignore[arg-type]
            count += 1
