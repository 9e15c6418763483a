"""``poolwarden budget --prometheus URL`` against servers that are not a healthy Prometheus, and URLs that
are not one: each gets exit 2 and one ``poolwarden: error:`` line naming the server (credentials
masked), never a traceback, never "OK" on data it could not see, never a password.

The servers are a real HTTP server in this process (a thread), answering per path: an HTML login
page, 500 and 503 (HTML and Prometheus's JSON error), a query error, a result that is not a
vector, malformed samples, NaN, an answer that never comes, an answer that drips a byte at a time,
redirects to the same origin (followed) and to another one (refused: the credentials never travel
there), and a valid answer (``/ok``) that checks the Basic authentication it receives.
"""

from __future__ import annotations

import base64
import http.server
import json
import socket
import string
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poolwarden.budget import prometheus_http
from poolwarden.budget.prometheus_http import PrometheusAPI, parse_base_url, shown_url
from poolwarden.errors import UsageError

from .contract import assert_clean_failure, assert_no_secret, budget_toml, invoke, run, scaled, thrown

GENERATED = thrown("budget_prometheus")
SETTINGS = settings(deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
CONFIG = budget_toml(100, {"web": (5, 10)})
USER, PASSWORD = "alice", "hunter2"
RELEASE = threading.Event()  # set at teardown: the slow handlers stop waiting


def _vector(samples: list[tuple[dict[str, str], str]]) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector",
                                          "result": [{"metric": m, "value": [time.time(), v]} for m, v in samples]}}


class Handler(http.server.BaseHTTPRequestHandler):
    """Answers by the first path segment; records what reached it (host, authorization)."""

    seen: list[tuple[str, str, str]] = []  # (Host header, path, Authorization header)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, code: int, body: bytes, ctype: str = "application/json", **headers: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        Handler.seen.append((self.headers.get("Host", ""), self.path, self.headers.get("Authorization", "")))
        route = self.path.split("/")[1]
        query = urllib.parse.urlsplit(self.path).query
        port = self.server.server_address[1]
        if route == "ok":
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") not in (None, expected):
                self._send(401, b"bad credentials", "text/plain")
                return
            is_server = "pg_stat_activity_count" in query
            sample = ({"instance": "db:9187"}, "40") if is_server else ({"job": "web"}, "6")
            self._send(200, json.dumps(_vector([sample])).encode())
        elif route == "html":
            self._send(200, b"<!doctype html><html><body>Sign in</body></html>", "text/html")
        elif route == "500":
            self._send(500, b"<html>Internal Server Error</html>", "text/html")
        elif route == "503json":
            self._send(503, json.dumps({"status": "error", "errorType": "unavailable",
                                        "error": "too many queries in flight"}).encode())
        elif route == "badquery":
            self._send(400, json.dumps({"status": "error", "errorType": "bad_data",
                                        "error": "parse error: unexpected character"}).encode())
        elif route == "matrix":
            self._send(200, json.dumps({"status": "success", "data": {"resultType": "matrix", "result": []}}).encode())
        elif route == "malformed":
            self._send(200, json.dumps({"status": "success",
                                        "data": {"resultType": "vector", "result": [{"metric": 1}]}}).encode())
        elif route == "list":
            self._send(200, b"[1, 2, 3]")
        elif route == "nan":
            self._send(200, json.dumps(_vector([({"job": "web"}, "NaN")])).encode())
        elif route == "empty":
            self._send(200, json.dumps(_vector([])).encode())
        elif route == "slow":
            RELEASE.wait(30)  # never answers while the test runs
        elif route == "drip":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            deadline = time.monotonic() + 30  # longer than any client waits; teardown sets RELEASE sooner
            while time.monotonic() < deadline and not RELEASE.wait(0.05):  # a byte every 50 ms: each read succeeds
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    return
        elif route == "same":  # a redirect within the origin: followed
            self._send(302, b"", "text/plain", Location=f"/ok/api/v1/query?{query}")
        elif route == "away":  # a redirect to another origin (localhost is not 127.0.0.1): refused
            self._send(302, b"", "text/plain", Location=f"http://localhost:{port}/ok/api/v1/query?{query}")
        elif route == "loop":
            self._send(302, b"", "text/plain", Location=self.path)
        else:
            self._send(404, b"not found", "text/plain")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """``http://127.0.0.1:PORT``: the fake server, for this module."""
    RELEASE.clear()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        RELEASE.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("promcfg") / "poolwarden.toml"
    path.write_text(CONFIG)
    return str(path)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed when the block ends: nothing listens there


def with_credentials(url: str) -> str:
    return url.replace("http://", f"http://{USER}:{PASSWORD}@", 1)


def test_a_valid_answer_with_credentials_reaches_the_report(server: str, config: str, tmp_path: Path) -> None:
    """The control case: the fake /ok is read, the password goes as Basic auth and is never shown."""
    proc = run("budget", "--config", config, "--prometheus", with_credentials(f"{server}/ok"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_no_secret(proc.stdout + proc.stderr)
    assert f"observed at http://***@{server.removeprefix('http://')}/ok over 7d" in proc.stdout
    assert "web                       15       5          6          6   job='web': " in proc.stdout
    assert "server: observed peak 40 connections of 97 usable (41%)" in proc.stdout


@pytest.mark.parametrize(("path", "contains"), [
    ("/html", "the answer is not JSON (it starts '<!doctype html><html><body>Sign in</body'): is this"),
    ("/500", "HTTP 500 Internal Server Error"),
    ("/503json", "HTTP 503 Service Unavailable: too many queries in flight"),
    ("/badquery", "HTTP 400 Bad Request: parse error: unexpected character"),
    ("/matrix", "the answer is not an instant vector"),
    ("/malformed", "the answer holds a malformed sample"),
    ("/list", "the answer is not Prometheus's JSON"),
    ("/nan", "none of the series in the last 7d"),
    ("/empty", "none of the series in the last 7d"),
    ("/nowhere", "HTTP 404 Not Found"),
    ("/away", "redirects (302) to another origin, http://localhost:"),
    ("/loop", "HTTP 302"),
])
def test_a_server_that_is_not_a_healthy_prometheus(server: str, config: str, tmp_path: Path, path: str,
                                                   contains: str) -> None:
    Handler.seen.clear()
    proc = run("budget", "--config", config, "--prometheus", with_credentials(server + path), cwd=tmp_path)
    line = assert_clean_failure(proc, contains=[f"--prometheus http://***@{server.removeprefix('http://')}{path}: ",
                                                contains])
    assert proc.stdout == ""
    GENERATED["servers"] += 1
    if path == "/away":  # nothing, credentials least of all, reached the other origin
        assert [host for host, _, _ in Handler.seen if host.startswith("localhost")] == [], line


def test_a_redirect_within_the_origin_is_followed(server: str, config: str) -> None:
    proc = invoke("budget", "--config", config, "--prometheus", with_credentials(f"{server}/same"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "job='web'" in proc.stdout
    assert_no_secret(proc.stdout + proc.stderr)


@pytest.mark.parametrize("path", ["/slow", "/drip"])
def test_a_slow_server_is_bounded_by_the_timeout(server: str, config: str, path: str) -> None:
    started = time.monotonic()
    proc = invoke("budget", "--config", config, "--prometheus", server + path, "--prometheus-timeout", "1")
    assert_clean_failure(proc, contains=f"--prometheus {server}{path}: no answer within 1 s")
    assert time.monotonic() - started < 20  # a generous bound on a shared machine; the point is "it ends"


def test_unreachable_servers(config: str) -> None:
    for url in (f"http://127.0.0.1:{closed_port()}", f"http://{USER}:{PASSWORD}@[::1]:{closed_port()}/prom"):
        proc = invoke("budget", "--config", config, "--prometheus", url)
        assert_clean_failure(proc, contains="cannot reach the server (")


@pytest.mark.parametrize(("url", "contains"), [
    ("prometheus:9090", "give the Prometheus server's http:// or https:// URL"),
    ("ftp://alice:hunter2@host/", "--prometheus ftp://***@host/: give"),
    ("http://", "the URL names no host"),
    ("http://alice:hunter2@", "--prometheus http://***@: the URL names no host"),
    ("http://127.0.0.1:99999", "not a valid URL (Port out of range 0-65535)"),
    ("http://127.0.0.1:port", "not a valid URL"),
    ("http://[::1", "not a valid URL"),
    ("http://alice:hunter2@127.0.0.1:9090/?token=s3cr3t", "without a query or fragment"),
    ("http://alice:hun/ter2@127.0.0.1/", "percent-encode them"),
    ("http://127.0.0.1/pro metheus", "spaces or control characters"),
    ("http://127.0.0.1/\x1b[31m", "spaces or control characters"),
])
def test_urls_that_are_not_a_prometheus_base_url(config: str, url: str, contains: str) -> None:
    proc = invoke("budget", "--config", config, "--prometheus", url)
    assert_clean_failure(proc, contains=contains, secrets=("hunter2", "hun/ter2", "ter2", "s3cr3t"))


@pytest.mark.parametrize("args", [
    ("--prometheus-label", "app-name"), ("--prometheus-label", "__name__"), ("--prometheus-label", ""),
    ("--prometheus-window", "soon"), ("--prometheus-window", "1s", "--prometheus-step", "1m"),
    ("--prometheus-step", "500ms"), ("--prometheus-window", "365d", "--prometheus-step", "1s"),
])
def test_bad_options_are_refused_before_any_query(server: str, config: str, args: tuple[str, ...]) -> None:
    Handler.seen.clear()
    proc = invoke("budget", "--config", config, "--prometheus", f"{server}/ok", *args)
    assert_clean_failure(proc, contains=args[0])
    assert Handler.seen == []


def test_prometheus_options_need_prometheus(config: str) -> None:
    proc = invoke("budget", "--config", config, "--prometheus-window", "1d")
    assert_clean_failure(proc, contains="go with --prometheus URL")


def test_an_answer_too_large_is_refused(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prometheus_http, "MAX_BYTES", 64)
    with pytest.raises(UsageError, match="the answer is larger than"):
        PrometheusAPI(f"{server}/ok").query("up")


# -- generated input ----------------------------------------------------------------------------------------

ROUTES = ["/html", "/500", "/503json", "/badquery", "/matrix", "/malformed", "/list", "/nan", "/empty", "/nowhere",
          "/away", "/loop"]
PASSWORD_CHARS = string.ascii_letters + string.digits + "!$&'()*+,;=:%@/?#[] -._~\\\"é\t"


@st.composite
def urls(draw: st.DrawFn, server: str) -> tuple[str, str]:
    """(a URL, the password it holds): a scheme, credentials, a host that is the fake server, a closed
    port or broken, a path (a route of the fake server or arbitrary text) and a tail."""
    password = "pw-" + draw(st.text(PASSWORD_CHARS, min_size=4, max_size=12))
    scheme = draw(st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "", "http:/"]))
    userinfo = draw(st.sampled_from(["", f"{USER}:{{pw}}@", "{pw}@", ":{pw}@", "u:{pw}@@"])).format(pw=password)
    host = draw(st.sampled_from([server.removeprefix("http://"), f"127.0.0.1:{closed_port()}",
                                 f"[::1]:{closed_port()}", "", "[", "127.0.0.1:x", "127.0.0.1:70000"]))
    path = draw(st.one_of(st.sampled_from(ROUTES), st.text(max_size=20).map(lambda t: "/" + t)))
    tail = draw(st.sampled_from(["", "/", "?q=1", "#top", "/api/v1"]))
    return scheme + userinfo + host + path + tail, password


def test_generated_urls_fail_cleanly_and_never_show_the_password(server: str, config: str) -> None:
    @settings(SETTINGS, max_examples=scaled(150))
    @given(case=urls(server))
    def check(case: tuple[str, str]) -> None:
        url, password = case
        GENERATED["urls"] += 1
        proc = invoke("budget", "--config", config, "--prometheus", url, "--prometheus-timeout", "2")
        assert_clean_failure(proc, secrets=(password, PASSWORD))

    check()


@settings(SETTINGS, max_examples=scaled(400))
@given(user=st.text(max_size=10),
       password=st.text(st.one_of(st.sampled_from("/?#@:%[]\n "), st.characters()), min_size=1, max_size=16)
       .map(lambda t: "pw-" + t),
       rest=st.text(max_size=30), scheme=st.sampled_from(["http://", "https://", "", "x://"]))
def test_shown_url_never_holds_the_credentials(user: str, password: str, rest: str, scheme: str) -> None:
    """Whatever the credentials hold (``@``, ``/``, ``#``, newlines), the shown URL and every
    message :func:`parse_base_url` raises leave them out."""
    GENERATED["shown_url"] += 1
    url = f"{scheme}{user}:{password}@{rest.replace('@', '')}"
    assert password not in shown_url(url)
    assert "\n" not in shown_url(url)
    try:
        base, _auth = parse_base_url(url)
    except UsageError as exc:
        assert password not in str(exc)
    else:
        assert password not in base


def test_a_workload_read_from_manifests_matches_its_object_name(server: str, tmp_path: Path) -> None:
    """With --manifests, a service is named ``Deployment/web``; the series' ``job="web"`` is its peak
    (before, nothing from a manifest could match a label, so every observed group was left over)."""
    (tmp_path / "web.yaml").write_text(
        "kind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n"
        "      - name: web\n        command: [gunicorn, 'app:app', '-w', '1']\n")
    (tmp_path / "poolwarden.toml").write_text(
        '[budget]\nmax_connections = 100\n[[budget.workload]]\nmanifest = "Deployment/web"\n'
        '[[budget.workload.pool]]\nname = "main"\npool_size = 5\nmax_overflow = 10\n')
    proc = run("budget", "--manifests", "web.yaml", "--prometheus", f"{server}/ok", "--format", "json",
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    services = {s["service"]: s for s in json.loads(proc.stdout)["observed"]["services"]}
    assert services["Deployment/web"]["peak_open"] == 6, services
