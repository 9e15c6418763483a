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


def print_added_table(title: str, names: Sequence[str], samples: Sequence[Sequence[float]], *, scale: float = 1.0,
                      digits: int = 1) -> None:
    """A markdown table of each variant's median (times ``scale``: µs per checkout) and what it adds
    over the first row's, under ``title``."""
    print(f"\n{title}")
    print("| variant | CPU µs / checkout | added µs |")
    print("|---|---:|---:|")
    base = statistics.median(samples[0]) * scale
    for i, (name, t) in enumerate(zip(names, samples, strict=True)):
        per = statistics.median(t) * scale
        print(f"| {name} | {per:.{digits}f} | {'—' if i == 0 else f'{per - base:+.{digits}f}'} |")
