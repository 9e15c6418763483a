"""``python -m poolwarden``: the same CLI as the ``poolwarden`` script."""

from poolwarden.cli import main

if __name__ == "__main__":
    main()
