"""poolwarden.runtime: the seeds' fixes as a library an application imports.

Each module is importable on its own and imports its driver (if any) only when used.
"""
