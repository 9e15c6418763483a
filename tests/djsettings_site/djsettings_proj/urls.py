"""No URLs: the project exists for ``manage.py check``."""

urlpatterns: list[object] = []
