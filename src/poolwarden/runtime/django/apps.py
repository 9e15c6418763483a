"""The Django app of ``poolwarden.runtime.django``: ``INSTALLED_APPS += ["poolwarden.runtime.django"]``.

Its :meth:`PoolwardenConfig.ready` registers the system checks of
:mod:`poolwarden.runtime.django.checks`. It adds no models, no migrations and no URLs.
"""

from __future__ import annotations

from django.apps import AppConfig  # type: ignore[import-untyped, unused-ignore]


class PoolwardenConfig(AppConfig):  # type: ignore[misc, unused-ignore]
    """poolwarden's app config (label ``poolwarden``)."""

    name = "poolwarden.runtime.django"
    label = "poolwarden"
    verbose_name = "poolwarden"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from poolwarden.runtime.django.checks import register

        register()
