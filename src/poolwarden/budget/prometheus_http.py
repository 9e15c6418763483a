"""A small, bounded client for Prometheus's HTTP API (``GET /api/v1/query``), on the standard library.

Promises:

- **bounded**: every query ends within ``timeout`` seconds in total (connect, headers, body), however
  slowly the server answers; an answer larger than :data:`MAX_BYTES` is refused;
- **no secret printed**: credentials in the URL (``http://user:pass@host``) are sent as HTTP Basic
  authentication and never appear in a message: every message names the server by
  :func:`shown_url`, which replaces the userinfo with ``***``;
- **redirects** are followed (at most 5) only within the same origin (scheme, host and port): a
  redirect elsewhere is refused, so credentials never travel to another host or in clear text;
- **one-line errors**: an unreachable server, an HTTP error, an answer that is not Prometheus's
  JSON (an HTML login page, a proxy's error) or a query Prometheus rejects raise
  :class:`~poolwarden.errors.UsageError` with one line naming the server and what went wrong.
"""

from __future__ import annotations

import base64
import json
import queue
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from poolwarden.errors import UsageError
from poolwarden.text import one_line

__all__ = ["MAX_BYTES", "PrometheusAPI", "Sample", "parse_base_url", "shown_url"]

#: the largest answer read (bytes): a budget's queries return a few series per workload
MAX_BYTES = 16 * 1024 * 1024
_MAX_REDIRECTS = 5
_SHOWN_LIMIT = 120


@dataclass(frozen=True)
class Sample:
    """One series of an instant vector: its labels and its value."""

    labels: dict[str, str]
    value: float


def _userinfo(url: str) -> str | None:
    """What a message must not show: everything between ``scheme://`` and the *last* ``@`` (a
    password may hold ``/``, ``?``, ``#`` or ``@`` unencoded), or None when there is no ``@``."""
    rest = url.partition("://")[2] if "://" in url else url
    return rest.rpartition("@")[0] if "@" in rest else None


def shown_url(url: str) -> str:
    """``url`` as messages show it: anything before the last ``@`` after the scheme replaced by
    ``***``, query and fragment dropped, one line, at most 120 characters. Never raises."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    if _userinfo(text) is not None:
        rest = "***@" + rest.rpartition("@")[2]
    for cut in "?#":
        rest = rest.partition(cut)[0]
    shown = one_line(f"{scheme}{sep}{rest}")
    return shown if len(shown) <= _SHOWN_LIMIT else shown[: _SHOWN_LIMIT - 1] + "…"


def parse_base_url(url: str) -> tuple[str, str | None]:
    """(the base URL without credentials, the ``Authorization`` header value or None). Raises
    :class:`UsageError` for anything but an ``http``/``https`` URL with a host (and at most a path
    prefix: a query or fragment is refused, as the API paths are appended to it)."""
    where = f"--prometheus {shown_url(url)}"
    userinfo = _userinfo(url.strip())
    if userinfo is not None and any(c in userinfo for c in "/?#"):
        raise UsageError(f"{where}: the credentials in the URL hold '/', '?' or '#': percent-encode them "
                         "(%2F, %3F, %23)")
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port  # raises ValueError when not a number in 0..65535
        host = parts.hostname
    except ValueError as exc:
        raise UsageError(f"{where}: not a valid URL ({_reason(exc, url)})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UsageError(f"{where}: give the Prometheus server's http:// or https:// URL "
                         "(e.g. http://prometheus:9090)")
    if not host:
        raise UsageError(f"{where}: the URL names no host (e.g. http://prometheus:9090)")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise UsageError(f"{where}: give the server's base URL without a query or fragment "
                         "(poolwarden appends /api/v1/query)")
    if any(not c.isprintable() or c.isspace() for c in url.strip()):
        raise UsageError(f"{where}: the URL holds spaces or control characters")
    auth = None
    if parts.username is not None or parts.password is not None:
        user = urllib.parse.unquote(parts.username or "")
        password = urllib.parse.unquote(parts.password or "")
        auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    hostport = f"[{host}]" if ":" in host else host
    if port is not None:
        hostport += f":{port}"
    path = urllib.parse.quote(parts.path.rstrip("/"), safe="/%-._~!$&'()*+,;=:@")  # non-ASCII: percent-encoded
    base = urllib.parse.urlunsplit((parts.scheme.lower(), hostport, path, "", ""))
    return base, auth


def _reason(exc: BaseException, url: str) -> str:
    """An exception's message, one line, with nothing of ``url``'s userinfo in it."""
    text = str(exc)
    userinfo = _userinfo(url.strip()) or ""
    secrets = {userinfo, *userinfo.split(":"), urllib.parse.unquote(userinfo),
               *urllib.parse.unquote(userinfo).split(":")} if userinfo else set()
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = one_line(text)
    return text if len(text) <= 200 else text[:199] + "…"


class _SameOrigin(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the same scheme, host and port; at most ``_MAX_REDIRECTS``."""

    max_redirections = _MAX_REDIRECTS

    def __init__(self, origin: tuple[str, str], shown: str) -> None:
        self.origin = origin
        self.shown = shown

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        target = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, newurl))
        if (target.scheme.lower(), target.netloc.rpartition("@")[2].lower()) != self.origin:
            raise UsageError(f"--prometheus {self.shown}: the server redirects ({code}) to another origin, "
                             f"{shown_url(urllib.parse.urlunsplit(target._replace(query='', fragment='')))}; "
                             "refusing to follow it (give that URL if it is the Prometheus server)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class PrometheusAPI:
    """Instant queries against one Prometheus server: ``PrometheusAPI(url).query("up")``."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.base, self._auth = parse_base_url(url)
        self.shown = shown_url(url)
        self._raw = url
        self.timeout = timeout
        split = urllib.parse.urlsplit(self.base)
        self._opener = urllib.request.build_opener(_SameOrigin((split.scheme, split.netloc.lower()), self.shown))

    def query(self, promql: str) -> list[Sample]:
        """The instant vector ``promql`` evaluates to now. Raises :class:`UsageError` (one line) when
        the server cannot be reached or read, answers an error, or the result is not a vector."""
        body = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        data = self._decode(body)
        if data.get("status") != "success":
            error = one_line(str(data.get("error") or data.get("errorType") or "no error message"))[:200]
            raise UsageError(f"--prometheus {self.shown}: the query was refused: {error}")
        result = data.get("data")
        if not isinstance(result, dict) or result.get("resultType") != "vector" or not isinstance(
                result.get("result"), list):
            raise UsageError(f"--prometheus {self.shown}: the answer is not an instant vector "
                             "(is this Prometheus's HTTP API?)")
        samples = []
        for item in result["result"]:
            try:
                labels = {str(k): str(v) for k, v in item["metric"].items()}
                value = float(item["value"][1])
            except (KeyError, TypeError, ValueError, IndexError, AttributeError):
                raise UsageError(f"--prometheus {self.shown}: the answer holds a malformed sample "
                                 "(is this Prometheus's HTTP API?)") from None
            samples.append(Sample(labels, value))
        return samples

    def _decode(self, body: bytes) -> dict[str, Any]:
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            start = one_line(body[:40].decode("utf-8", "replace"))
            raise UsageError(f"--prometheus {self.shown}: the answer is not JSON (it starts {start!r}): "
                             "is this the Prometheus server's URL?") from None
        if not isinstance(data, dict):
            raise UsageError(f"--prometheus {self.shown}: the answer is not Prometheus's JSON "
                             "(is this the Prometheus server's URL?)")
        return data

    def _get(self, path: str) -> bytes:
        """The body of ``GET base+path``, within ``timeout`` seconds in all (a worker thread does the
        I/O; it is abandoned, a daemon, when the deadline passes)."""
        answer: queue.Queue[tuple[bytes | None, BaseException | None]] = queue.Queue(maxsize=1)
        deadline = time.monotonic() + self.timeout

        def work() -> None:
            try:
                answer.put((self._fetch(path, deadline), None))
            except BaseException as exc:  # poolwarden: ignore[PW101] -- handed to the caller's thread
                answer.put((None, exc))

        threading.Thread(target=work, name="poolwarden-prometheus", daemon=True).start()
        try:
            body, error = answer.get(timeout=self.timeout + 0.5)
        except queue.Empty:
            raise self._timed_out() from None
        if error is not None:
            raise self._explain(error)
        assert body is not None
        return body

    def _timed_out(self) -> UsageError:
        return UsageError(f"--prometheus {self.shown}: no answer within {self.timeout:g} s")

    def _fetch(self, path: str, deadline: float) -> bytes:
        request = urllib.request.Request(self.base + path, headers={"Accept": "application/json",
                                                                     "User-Agent": "poolwarden-budget"})
        if self._auth:
            request.add_header("Authorization", self._auth)
        with self._opener.open(request, timeout=max(0.1, deadline - time.monotonic())) as response:
            chunks: list[bytes] = []
            size = 0
            while True:
                if time.monotonic() > deadline:
                    raise TimeoutError
                chunk = response.read1(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_BYTES:
                    raise UsageError(f"--prometheus {self.shown}: the answer is larger than "
                                     f"{MAX_BYTES // (1024 * 1024)} MiB")
                chunks.append(chunk)
            return b"".join(chunks)

    def _explain(self, exc: BaseException) -> BaseException:
        """The one-line :class:`UsageError` for what ``_fetch`` raised."""
        if isinstance(exc, UsageError):
            return exc
        where = f"--prometheus {self.shown}"
        if isinstance(exc, urllib.error.HTTPError):
            detail = ""
            try:
                body = exc.read(65536)
                data = json.loads(body)
                if isinstance(data, dict) and data.get("error"):
                    detail = ": " + one_line(str(data["error"]))[:200]
            except Exception:  # poolwarden: ignore[PW101] -- the body is only a hint; the status says enough
                detail = ""
            finally:
                exc.close()
            return UsageError(f"{where}: HTTP {exc.code} {one_line(str(exc.reason))[:80]}{detail}")
        if isinstance(exc, TimeoutError) or (isinstance(exc, urllib.error.URLError)
                                             and isinstance(exc.reason, TimeoutError)):
            return self._timed_out()
        if isinstance(exc, urllib.error.URLError):
            reason = exc.reason if isinstance(exc.reason, BaseException) else Exception(str(exc.reason))
            return UsageError(f"{where}: cannot reach the server ({_reason(reason, self._raw)})")
        if isinstance(exc, (OSError, ValueError)) or type(exc).__module__ == "http.client":
            return UsageError(f"{where}: cannot read the answer ({type(exc).__name__}: {_reason(exc, self._raw)})")
        return exc
