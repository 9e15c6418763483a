"""``python -m poolwarden`` and the ``poolwarden`` script: a warm ``check`` answered from its memo
(:mod:`poolwarden.check.warm`, before click or the analyzer is imported), else the CLI."""

from __future__ import annotations

import sys


def main() -> None:
    """Run the ``poolwarden`` command line."""
    if sys.argv[1:2] == ["check"]:
        from poolwarden.check.warm import answer

        try:
            status = answer(sys.argv[1:])
        except KeyboardInterrupt:
            sys.stderr.write("poolwarden: interrupted\n")
            sys.exit(130)
        if status is not None:
            sys.exit(status)
    from poolwarden.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
