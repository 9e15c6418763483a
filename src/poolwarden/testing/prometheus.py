"""A real Prometheus server (Debian's ``prometheus`` package, 2.42) scraping given targets, for tests.

``Prometheus({"web": ["127.0.0.1:8001"]}, base_dir=tmp).start()`` writes a configuration that scrapes
each job's targets every ``scrape_interval`` (1 s by default), starts
``prometheus --config.file=… --storage.tsdb.path=… --web.listen-address=127.0.0.1:PORT`` and
returns once the server is ready (``/-/ready``) and every target has been scraped once and is up
(``/api/v1/targets``), each wait bounded. :meth:`Prometheus.stop` ends it (SIGTERM, then SIGKILL)
and removes its files. The server dies with the process that started it (``setpriv --pdeathsig``
on Linux: it is a direct child, unlike a cluster's postmaster), so a killed test run leaves no
Prometheus behind; its files live in the directory the caller gives (pytest's ``tmp_path``).

:meth:`Prometheus.wait_for` polls a PromQL query (bounded) until its answer satisfies a
predicate: how a test knows a value it set has been scraped, without sleeping.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from poolwarden.testing.cluster import free_port
from poolwarden.testing.servers import dying_with_parent, end_process, find_binary

__all__ = ["Prometheus", "find_prometheus"]

_CANDIDATES = ("/usr/bin/prometheus", "/usr/local/bin/prometheus")


def find_prometheus() -> str:
    """The prometheus executable (``POOLWARDEN_PROMETHEUS``, PATH, the Debian location)."""
    return find_binary("prometheus", "POOLWARDEN_PROMETHEUS", _CANDIDATES)


def _get_json(url: str, timeout: float) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


class Prometheus:
    """One Prometheus process scraping ``jobs`` (job name -> ``host:port`` targets); ``labels`` adds
    static labels per job (``{"web": {"app": "web"}}``), as a Kubernetes relabelling would."""

    def __init__(self, jobs: Mapping[str, Sequence[str]], *, labels: Mapping[str, Mapping[str, str]] | None = None,
                 scrape_interval: str = "1s", base_dir: str | os.PathLike[str] | None = None) -> None:
        self.jobs = {name: list(targets) for name, targets in jobs.items()}
        self.labels = {name: dict(values) for name, values in (labels or {}).items()}
        self.scrape_interval = scrape_interval
        self._own_dir = base_dir is None
        self.base = Path(base_dir) if base_dir is not None else Path(tempfile.mkdtemp(prefix="pw-prometheus-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def config(self) -> dict[str, Any]:
        """The configuration written to ``prometheus.yml`` (JSON, which YAML reads)."""
        return {
            "global": {"scrape_interval": self.scrape_interval, "scrape_timeout": self.scrape_interval,
                       "evaluation_interval": self.scrape_interval},
            "scrape_configs": [
                {"job_name": name, "static_configs": [{"targets": targets, "labels": self.labels.get(name, {})}]}
                for name, targets in self.jobs.items()
            ],
        }

    def start(self, timeout: float = 30.0) -> Prometheus:
        """Start the server; return when it is ready and every target has been scraped and is up.
        Raises RuntimeError (with the server's log, or the targets' last errors) after ``timeout``."""
        self.base.mkdir(parents=True, exist_ok=True)
        config = self.base / "prometheus.yml"
        config.write_text(json.dumps(self.config(), indent=1))
        log = (self.base / "prometheus.log").open("wb")
        cmd = [find_prometheus(), f"--config.file={config}", f"--storage.tsdb.path={self.base / 'data'}",
               f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"]
        try:
            self.process = subprocess.Popen(dying_with_parent(cmd), stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        try:
            self._wait_ready(deadline)
            self._wait_targets(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _log(self) -> str:
        try:
            return (self.base / "prometheus.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def _wait_ready(self, deadline: float) -> None:
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited ({self.process.returncode}): {self._log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise RuntimeError(f"prometheus not ready at {self.url}: {self._log()}")
            time.sleep(0.1)  # polling the server's start, bounded by the deadline

    def targets(self) -> list[dict[str, Any]]:
        """The active targets (``/api/v1/targets``): each with ``labels``, ``health``, ``lastError``."""
        return list(_get_json(f"{self.url}/api/v1/targets?state=active", 5)["data"]["activeTargets"])

    def _wait_targets(self, deadline: float) -> None:
        wanted = sum(len(t) for t in self.jobs.values())
        while True:
            active = self.targets()
            if len(active) >= wanted and all(t.get("health") == "up" for t in active):
                return
            if time.monotonic() > deadline:
                detail = "; ".join(f"{t.get('scrapeUrl')}: {t.get('health')} {t.get('lastError', '')}".strip()
                                   for t in active)
                raise RuntimeError(f"prometheus targets not all up ({len(active)} of {wanted} known): {detail}")
            time.sleep(0.2)  # the first scrape comes within one scrape interval; bounded by the deadline

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector ``promql`` evaluates to now: ``[{"metric": {...}, "value": [t, "v"]}]``."""
        data = _get_json(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}), 5)
        return list(data["data"]["result"])

    def wait_for(self, promql: str, predicate: Callable[[list[dict[str, Any]]], bool],
                 timeout: float = 20.0) -> list[dict[str, Any]]:
        """Poll ``promql`` until ``predicate(result)`` holds; return that result. Raises
        TimeoutError with the last result after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if predicate(result):
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"{promql!r} never satisfied the condition within {timeout:g} s: {result}")
            time.sleep(0.2)  # waiting for the next scrape, bounded by the deadline

    def stop(self) -> None:
        """End the server (SIGTERM, then SIGKILL after 10 s) and remove its files."""
        end_process(self.process)
        self.process = None
        shutil.rmtree(self.base / "data", ignore_errors=True)
        if self._own_dir:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Prometheus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
