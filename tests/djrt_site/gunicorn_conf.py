"""gunicorn settings of the fork tests: ``DJRT_FORK_HOOK=1`` installs poolwarden's ``post_fork``."""

from __future__ import annotations

import os

if os.environ.get("DJRT_FORK_HOOK") == "1":
    from poolwarden.runtime.django.fork import post_fork  # noqa: F401 -- gunicorn reads it from here
