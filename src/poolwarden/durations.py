"""Durations as people write them: ``"10m"``, ``"1h30m"``, ``"1h 30m"``, ``"250ms"``, ``"1.5h"``, or a
plain number of seconds. One parser for every option and config key that takes a duration."""

from __future__ import annotations

import math
import re

from poolwarden.errors import UsageError

UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|sec|s|min|m|h|d)(?![a-z])", re.I)
_PLAIN = re.compile(r"\d+(?:\.\d+)?")


def parse_duration(value: object, where: str) -> float:
    """Seconds in ``value``: a number, or a string of one or more ``<number><unit>`` parts
    (units ms, s, m/min, h, d; ``"1h30m"`` is 5400). Raises :class:`UsageError` naming ``where``
    for anything else: empty, negative, unitless parts in a compound, unknown units, not finite."""
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if _PLAIN.fullmatch(text):
            seconds = float(text)
        elif text:
            pos, total = 0, 0.0
            while pos < len(text):
                m = _PART.match(text, pos)
                if m is None:
                    break
                total += float(m.group(1)) * UNITS[m.group(2).lower()]
                pos = m.end()
                while pos < len(text) and text[pos].isspace():
                    pos += 1
            if pos == len(text):
                seconds = total
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise UsageError(f"{where}: {shown} is not a duration (e.g. \"10m\", \"30s\", \"1h30m\")")
    return seconds
