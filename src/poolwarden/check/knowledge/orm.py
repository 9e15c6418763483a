"""Django's ORM and Django REST framework: which of their calls run SQL, and which only build it.

Promises: a model is a class defined in a ``models`` module (``app.models.Doc``,
``django.contrib.auth.models.User``) — Django's convention, which lets a single file tell a model
from any other class without reading the project; a manager is ``Model.objects`` (also
``_default_manager`` / ``_base_manager``, and any ``Model.<attr>`` followed by a QuerySet method);
a QuerySet runs nothing until it is evaluated. Data only.
"""

from __future__ import annotations

from typing import Final

# -- managers and QuerySets ---------------------------------------------------------------------
# The manager attributes every model has (``User.objects.get``).
ORM_MANAGER_ATTRS: Final = frozenset({"objects", "_default_manager", "_base_manager"})
# The module a model class lives in: ``<app>.models`` or a package ``<app>.models.<name>``.
MODEL_MODULE: Final = "models"
# QuerySet methods that build a query and run nothing until it is evaluated.
QUERYSET_LAZY_METHODS: Final = frozenset(
    {"filter", "exclude", "order_by", "select_related", "prefetch_related", "annotate", "alias", "values",
     "values_list", "only", "defer", "all", "distinct", "using", "select_for_update", "extra", "none",
     "reverse", "union", "intersection", "difference", "dates", "datetimes", "complex_filter"}
)
# QuerySet / manager methods that run a statement now (their async twins are ``a`` + name).
_RUNS: Final = frozenset(
    {"get", "first", "last", "latest", "earliest", "exists", "count", "aggregate", "update", "delete", "create",
     "get_or_create", "update_or_create", "bulk_create", "bulk_update", "in_bulk", "iterator", "contains",
     "explain", "raw"}
)
QUERYSET_RUN_METHODS: Final = _RUNS | {f"a{m}" for m in _RUNS}
# ... and those of them that return a model instance.
_ONE: Final = frozenset({"get", "first", "last", "latest", "earliest", "create"})
INSTANCE_METHODS: Final = _ONE | {f"a{m}" for m in _ONE}
# Related managers (``doc.tags``, ``doc.comment_set``) add these to a QuerySet's methods.
_RELATED: Final = frozenset({"add", "set", "remove", "clear"})
RELATED_MANAGER_METHODS: Final = _RELATED | {f"a{m}" for m in _RELATED}
# On an instance's attribute these names are more often a dict's or a list's (a JSONField, an
# ArrayField) than a related manager's: ``doc.metadata.get("k")`` runs nothing.
CONTAINER_METHODS: Final = frozenset(
    {"get", "update", "values", "items", "keys", "pop", "copy", "clear", "setdefault", "remove", "count", "index",
     "append", "extend", "insert", "sort", "add"}
)
# Model instance methods that run a statement.
_SAVES: Final = frozenset({"save", "delete", "refresh_from_db"})
MODEL_RUN_METHODS: Final = _SAVES | {f"a{m}" for m in _SAVES}
# Builtins that evaluate a QuerySet handed to them (``list(qs)``, ``len(qs)``, ``bool(qs)``).
QUERYSET_EVALUATORS: Final = frozenset(
    {"list", "tuple", "set", "frozenset", "len", "bool", "sorted", "sum", "any", "all", "max", "min", "dict"}
)
# A row lock taken by the query: held, with the transaction, until it ends.
ROW_LOCK_METHODS: Final = frozenset({"select_for_update"})
# Transactions and how their code schedules work to run after the commit (PW104's advice).
ON_COMMIT: Final[dict[str, str]] = {"django.db.transaction.atomic": "transaction.on_commit(...)"}
ON_COMMIT_OF_VIEWS: Final = "transaction.on_commit(...)"  # under ATOMIC_REQUESTS

# -- signals ----------------------------------------------------------------------------------------
# ``@receiver(signal)`` / ``signal.connect(func)`` register a receiver; ``signal.send(...)`` calls
# every receiver synchronously, in the sender's thread and transaction (``send_robust`` too, keeping
# their exceptions).
SIGNAL_RECEIVER_DECORATORS: Final = frozenset({"django.dispatch.receiver", "django.dispatch.dispatcher.receiver"})
SIGNAL_CONNECT: Final = "connect"
SIGNAL_SENDS: Final = ("send", "send_robust")
SIGNAL_LIBRARY_ROOTS: Final = frozenset({"django"})  # library signals (``post_save``) keep their own names

# -- Django REST framework ------------------------------------------------------------------------
# A DRF view: a class with a base from ``rest_framework`` or a base named like one.
DRF_ROOT: Final = "rest_framework"
DRF_VIEW_SUFFIXES: Final = ("ViewSet", "APIView")
# Methods a DRF generic view inherits that run statements (``super().destroy(...)``, ``self.get_object()``).
DRF_RUN_METHODS: Final = frozenset(
    {"create", "update", "partial_update", "destroy", "list", "retrieve", "get_object", "perform_create",
     "perform_update", "perform_destroy", "paginate_queryset"}
)
# ... and those that only build a QuerySet.
DRF_LAZY_METHODS: Final = frozenset({"get_queryset", "filter_queryset"})
# ``serializer.save()`` on a (model) serializer writes the instance.
SERIALIZER_NAME: Final = "serializer"
SERIALIZER_RUN_METHODS: Final = frozenset({"save"})
