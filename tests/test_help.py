"""Every command explains itself: each option has help text, each command's help states its exit codes."""

from __future__ import annotations

import click
import pytest

from poolwarden.cli import main

from .conftest import cli

COMMANDS = sorted(main.commands)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_help(name: str) -> None:
    command = main.commands[name]
    missing = [p.name for p in command.params if isinstance(p, click.Option) and not p.help]
    assert not missing, f"poolwarden {name}: options without help: {missing}"


@pytest.mark.parametrize("name", COMMANDS)
def test_help_states_exit_codes(name: str) -> None:
    proc = cli(name, "--help")
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    assert "Exit codes:" in text, proc.stdout
    assert "2 " in text.split("Exit codes:", 1)[1], proc.stdout


def test_no_command_summary_is_cut() -> None:
    proc = cli("--help")
    commands = proc.stdout.split("Commands:", 1)[1]
    assert "..." not in commands, proc.stdout
