"""The adversarial suites report how many generated inputs they threw, per command."""

from __future__ import annotations

import pytest

from .contract import THROWN


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for suite, counts in sorted(THROWN.items()):
        if sum(counts.values()):
            detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            terminalreporter.write_line(f"adversarial {suite}: {sum(counts.values())} generated inputs ({detail})")
