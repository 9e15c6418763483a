"""What a drill drives: HTTP endpoints (``--url``) or Python callables (``--call module:function``).

A target is called with a timeout and returns ``(status, body)``: the HTTP status and body, or
``(None, repr(return value))`` for a callable. Transport failures and exceptions propagate.
Async callables run on :func:`poolwarden.runtime.bridge.run_async`'s persistent loop.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib
import inspect
import json
import sys
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from poolwarden.errors import UsageError

__all__ = ["CallTarget", "HttpTarget", "Target", "digest"]


class HttpTarget:
    """One HTTP request, sent on a fresh connection each time (stdlib ``http.client``)."""

    def __init__(self, url: str, method: str = "GET", headers: Mapping[str, str] | None = None,
                 body: bytes | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"--url {url!r}: expected an http:// or https:// URL")
        self.url = url
        self.method = method.upper()
        self.headers = dict(headers or {})
        self.body = body
        self._parts = parts
        self.label = f"{self.method} {url}"

    def __call__(self, timeout: float) -> tuple[int | None, bytes]:
        p = self._parts
        cls = http.client.HTTPSConnection if p.scheme == "https" else http.client.HTTPConnection
        conn = cls(p.hostname or "", p.port, timeout=timeout)
        try:
            path = (p.path or "/") + (f"?{p.query}" if p.query else "")
            conn.request(self.method, path, body=self.body, headers=self.headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()


class CallTarget:
    """A Python callable, by reference (``package.module:function``) or object."""

    def __init__(self, ref: str | Callable[..., Any], *, path: str | None = None) -> None:
        if callable(ref):
            self.fn = ref
            self.label = f"{getattr(ref, '__module__', '?')}:{getattr(ref, '__qualname__', repr(ref))}"
            return
        module_name, sep, attr = ref.partition(":")
        if not sep or not module_name or not attr:
            raise UsageError(f"--call {ref!r}: expected module:function")
        if path and path not in sys.path:
            sys.path.insert(0, path)
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise UsageError(f"--call {ref!r}: cannot import {module_name}: {exc}") from None
        fn: Any = module
        for part in attr.split("."):
            fn = getattr(fn, part, None)
        if not callable(fn):
            raise UsageError(f"--call {ref!r}: {attr} is not a callable in {module_name}")
        self.fn = fn
        self.label = ref

    def __call__(self, timeout: float) -> tuple[int | None, bytes]:
        if inspect.iscoroutinefunction(self.fn):
            from poolwarden.runtime.bridge import run_async

            result = run_async(self.fn())
        else:
            result = self.fn()
        return None, repr(result).encode()


Target = HttpTarget | CallTarget


def digest(body: bytes) -> str:
    """A short digest of an answer; JSON bodies are compared with their keys sorted."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    return hashlib.sha256(canonical).hexdigest()[:16]
