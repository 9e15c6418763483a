"""A drill's inputs checked before anything starts: placeholders, setup SQL, output paths, settings, the app.

Every function here raises :class:`~poolwarden.errors.UsageError` with one line naming the option,
and none of them starts a server, opens a connection or leaves a file behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
from collections.abc import Mapping
from pathlib import Path

from poolwarden.errors import UsageError

__all__ = ["PLACEHOLDERS", "check_app", "check_output", "check_settings", "fill", "read_sql"]

#: The placeholders a drill fills in; any other ``{…}`` is left as written.
PLACEHOLDERS = ("dsn", "db_host", "db_port", "db_name", "db_user", "db_password", "port")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
_SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


def fill(text: str, values: Mapping[str, str]) -> str:
    """``text`` with ``{dsn}``, ``{port}`` … replaced; other braces (``'{1,2,3}'``, ``{{x}}``) untouched."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def read_sql(path: Path) -> str:
    """The setup SQL file as text: UTF-8, no NUL byte."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"--setup-sql {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"--setup-sql {path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})") \
            from None
    if "\0" in text:
        raise UsageError(f"--setup-sql {path}: contains a NUL byte at offset {text.index(chr(0))}; "
                         f"PostgreSQL takes text")
    return text


def check_output(path: str | os.PathLike[str] | None, option: str) -> None:
    """``path`` can be written: its directory exists, it is not a directory. Tried for real (an
    append-open, removed again when the file did not exist), so read-only places fail here."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{option} {target}: is a directory")
    parent = target.parent
    if not parent.is_dir():
        raise UsageError(f"{option} {target}: directory {parent} does not exist")
    existed = target.exists()
    try:
        with open(target, "ab"):
            pass
    except OSError as exc:
        raise UsageError(f"{option} {target}: cannot write ({exc.strerror or exc})") from None
    if not existed:
        with contextlib.suppress(OSError):
            target.unlink()


def check_settings(settings: Mapping[str, str]) -> None:
    """``--pg-setting NAME=VALUE``: a setting name (``work_mem``, ``ext.name``), a value on one line."""
    for name, value in settings.items():
        if not _SETTING_NAME.fullmatch(name):
            raise UsageError(f"--pg-setting {name}={value}: {name!r} is not a setting name")
        if any(ord(c) < 32 for c in value):
            raise UsageError(f"--pg-setting {name}: the value has a control character (a newline?)")


def check_app(command: str, cwd: str | None) -> list[str]:
    """``--app CMD`` split as a shell would, its program found (on PATH, or a path from ``cwd``)."""
    if cwd is not None and not Path(cwd).is_dir():
        raise UsageError(f"--app-cwd {cwd}: not a directory")
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise UsageError(f"--app {command!r}: {exc}") from None
    if not argv:
        raise UsageError("--app: empty command")
    program = argv[0]
    if os.sep in program:
        path = Path(cwd or ".", program)
        if not path.is_file() or not os.access(path, os.X_OK):
            raise UsageError(f"--app {command!r}: {program}: no such executable file")
    elif shutil.which(program) is None:
        raise UsageError(f"--app {command!r}: {program}: command not found")
    return argv
