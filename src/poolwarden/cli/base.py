"""The ``poolwarden`` group and the boundary every command shares: one-line errors, exit 2,
passwords scrubbed, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from poolwarden import __version__
from poolwarden.dsn import mask
from poolwarden.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> None:
    """Print ``poolwarden: error: MESSAGE`` on stderr, on one line whatever MESSAGE holds (a name
    read from a file may hold a newline), and exit 2."""
    from poolwarden.text import one_line

    click.echo(f"poolwarden: error: {one_line(message)}", err=True)
    sys.exit(2)


def _scrubbed(message: str, kwargs: dict[str, Any]) -> str:
    """``message`` with nothing left of the passwords of the command's DSNs (whatever raised it)."""
    from poolwarden.dsn import scrub

    for key in ("dsn", "pgbouncer_dsn", "prometheus_url"):
        value = kwargs.get(key)
        if isinstance(value, str) and value:
            message = scrub(message, value)
    return message


def guarded(func: F) -> F:
    """Turn bad input into a one-line error and exit 2, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UsageError as exc:
            fail(_scrubbed(str(exc), kwargs))
        except KeyboardInterrupt:
            click.echo("poolwarden: interrupted", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # poolwarden: ignore[PW101] -- the CLI boundary: report, exit 2
            fail(_scrubbed(f"internal error: {type(exc).__name__}: {exc}", kwargs))

    return wrapper  # type: ignore[return-value]


class _OneLineErrors(click.Group):
    """Click's own usage errors (unknown option, bad value) as one line and exit 2, like ours."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(0)
        except click.UsageError as exc:
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
            message = " ".join(exc.format_message().split())
            fail(mask(f"{message}{hint}"))  # an unquoted DSN's words end up in click's message
        except click.ClickException as exc:
            fail(" ".join(exc.format_message().split()))
        except click.exceptions.Abort:
            click.echo("poolwarden: interrupted", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="poolwarden")
def main() -> None:
    """Keep PostgreSQL connection pools honest."""
