"""``install(app, engines=...)``: Celery prefork workers that keep their pools honest.

* In each prefork child (``worker_process_init``) the engines inherited from the parent are
  disposed without closing the parent's connections (``dispose(close=False)``), so a child never
  shares a socket with its parent; async engines are then used through
  :func:`poolwarden.runtime.bridge.run_async`, one persistent loop per child.
* With ``django=True``, Django's connections and native pools inherited from the parent are
  forgotten in each child the same way (:func:`poolwarden.runtime.django.fork.reset_after_fork`),
  and Django's ``close_old_connections`` runs before and after each task, as around a request.
* At child shutdown (``worker_process_shutdown``) engines are disposed and the loop is closed.
* Tasks get automatic retries with exponential backoff when they fail with a transient database
  error (:func:`poolwarden.runtime.errors.is_transient`), instead of failing — or worse,
  succeeding without having done their work. Except an AMBIGUOUS one
  (:class:`~poolwarden.runtime.errors.ErrorKind`): the connection broke under a COMMIT or an
  autocommit write, which may have committed; a blind retry could charge twice. The task fails with
  that error (a warning is logged); retry it yourself once you know the write did not happen — or
  make the write idempotent (a key, a unique constraint) and call ``self.retry`` in the task.

Call it right after creating the app, before tasks are registered: retries come from the task
base class (``app.Task``), which Celery applies when it creates the tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from poolwarden.runtime import bridge
from poolwarden.runtime.errors import ErrorKind, classify, is_transient

log = logging.getLogger("poolwarden.runtime.celery")

__all__ = ["install"]


def install(app: Any, engines: Iterable[Any] = (), *, max_retries: int = 5, backoff: float = 1.0,
            backoff_max: float = 60.0, django: bool = False) -> None:
    """Wire ``engines`` (SQLAlchemy Engine or AsyncEngine objects), and with ``django`` Django's
    database connections, into ``app``'s worker lifecycle."""
    from celery import signals  # type: ignore[import-untyped]

    engines = list(engines)
    if django:
        from poolwarden.runtime.django import fork

        signals.task_prerun.connect(fork.close_old_connections, weak=False)
        signals.task_postrun.connect(fork.close_old_connections, weak=False)

    def child_init(**_: Any) -> None:
        if django:
            fork.reset_after_fork()
        for engine in engines:
            sync_engine = getattr(engine, "sync_engine", engine)
            sync_engine.dispose(close=False)  # forget the parent's connections; never close them here
            if hasattr(engine, "sync_engine"):
                bridge.add_shutdown_hook(engine.dispose)

    def child_shutdown(**_: Any) -> None:
        for engine in engines:
            if not hasattr(engine, "sync_engine"):
                engine.dispose()
        bridge.shutdown()

    signals.worker_process_init.connect(child_init, weak=False)
    signals.worker_process_shutdown.connect(child_shutdown, weak=False)

    base = app.Task

    class TransientRetryTask(base):  # type: ignore[misc, valid-type]
        """Retries a task that failed with a transient database error, with backoff — never one whose
        write may have happened (AMBIGUOUS)."""

        abstract = True

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().__call__(*args, **kwargs)
            except Exception as exc:
                if not is_transient(exc) or self.request.called_directly:
                    raise
                if classify(exc) is ErrorKind.AMBIGUOUS:
                    log.warning("task %s not retried: its write may have committed (%s)", self.name, exc)
                    raise
                retries = self.request.retries
                if retries >= max_retries:
                    raise
                countdown = min(backoff_max, backoff * 2**retries)
                raise self.retry(exc=exc, countdown=countdown, max_retries=max_retries) from exc

    app.Task = TransientRetryTask
