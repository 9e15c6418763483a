"""manage.py of the tiny Django project the system-check tests run (tests/test_django_checks.py)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djsettings_proj.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
