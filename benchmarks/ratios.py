"""The table every interleaved benchmark prints: each variant's median per operation, and its
ratio to the baseline's median in the same run, for wall-clock and CPU time."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def print_ratio_table(names: Sequence[str], times: Sequence[Sequence[tuple[float, float]]], loops: int,
                      unit: str, cpu_label: str = "CPU") -> None:
    """``times[i]``: (wall s, CPU s) of ``loops`` operations, one pair per round, of ``names[i]``;
    ``times[0]`` is the baseline."""
    base = times[0]
    print(f"| variant | wall µs / {unit} | wall vs baseline | {cpu_label} µs / {unit} | CPU vs baseline |")
    print("|---|---:|---:|---:|---:|")
    for name, t in zip(names, times, strict=True):
        row = [f"| {name} "]
        for k in (0, 1):
            per = statistics.median(x[k] for x in t) / loops * 1e6
            ratio = statistics.median(x[k] for x in t) / statistics.median(b[k] for b in base)
            row.append(f"| {per:.1f} | {'—' if t is base else f'{(ratio - 1) * 100:+.1f}%'} ")
        print("".join(row) + "|")
