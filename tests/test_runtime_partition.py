"""runtime.engine bounds an established connection: a partition that drops packets ends requests in flight.

A real partition: nftables drops every packet between the client and a proxy in front of the
server, inside a network namespace (tests/adversarial/partition_probe.py, run as root under
``unshare -n -m``). Requests through an engine made by :mod:`poolwarden.runtime.engine` with default
settings fail within a bound as lost connections and open the circuit breaker; the same requests
through a plain SQLAlchemy engine are still blocked when that happens, and a read held by a lock
finishes once the network heals (it was waiting, not broken). No timing assertions: the figures are
in BENCHMARKS.md (benchmarks/hung_connection.py).
"""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest

from poolwarden.testing.cluster import PostgresCluster
from tests.adversarial.contract import ROOT, netns_unavailable, run_in_netns

PROBE = ROOT / "tests" / "adversarial" / "partition_probe.py"
DEADLINE = 150  # seconds a bounded request may take in the test; the defaults end it in ~30 s
IN_FLIGHT = 2  # bounded reads in flight per driver (plus one sent after the partition began)
DRIVERS = {"psycopg", "psycopg2", "asyncpg"}


def _kernel_drops_packets() -> str | None:
    """Why the kernel cannot drop packets with nftables here (None: it can); any other failure fails."""
    proc = run_in_netns(PROBE, "", "--check", timeout=60)
    if proc.returncode == 0:
        return None
    if any(word in proc.stderr for word in ("Operation not supported", "No such file or directory",
                                            "Protocol not supported")):
        return f"the kernel has no nftables packet filter: {proc.stderr.strip()[-300:]}"
    pytest.fail(f"setting up the partition failed: {proc.stderr[-2000:]}")


@pytest.fixture(scope="module")
def partitioned(postgres_cluster: PostgresCluster) -> dict[str, Any]:
    """One partition for every driver and engine at once (they run concurrently): the probe's report."""
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    if shutil.which("nft") is None:  # a missing tool is a broken setup, not a reason to skip
        pytest.fail("nft is not installed: apt-get install -y nftables (.ci/run does)")
    reason = _kernel_drops_packets()
    if reason:
        pytest.skip(reason)
    cfg = {"sockets": str(postgres_cluster.sockets), "port": postgres_cluster.port, "dbname": "postgres",
           "partition": 0, "deadline": DEADLINE, "after_heal": 10, "in_flight": IN_FLIGHT}
    proc = run_in_netns(PROBE, json.dumps(cfg), timeout=DEADLINE + 120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report


def _requests(report: dict[str, Any], key: str, engine: str, kind: str | None = None) -> list[dict[str, Any]]:
    found = [r for r in report[key] if r["engine"] == engine and (kind is None or r["kind"] == kind)]
    assert {r["driver"] for r in found} == DRIVERS, found
    return found


def test_requests_in_flight_fail_as_lost_connections(partitioned: dict[str, Any]) -> None:
    """Both a read the server had acknowledged (only keepalives can notice) and a statement sent
    into the partition (tcp_user_timeout) end with an error the breaker counts, before the bound."""
    bounded = _requests(partitioned, "requests", "bounded")
    assert len(bounded) == len(DRIVERS) * (IN_FLIGHT + 1)
    for r in bounded:
        assert r["outcome"] == "error", r
        assert r["waited"] < DEADLINE, r
        # a parallel change may call a statement cut off mid-flight AMBIGUOUS; these are reads
        assert r["classified"] in ("CONNECTION", "AMBIGUOUS"), r


def test_the_breaker_opens(partitioned: dict[str, Any]) -> None:
    assert partitioned["breakers"] == dict.fromkeys(DRIVERS, "open")


def test_without_the_defaults_requests_hang_through_the_partition(partitioned: dict[str, Any]) -> None:
    """A plain SQLAlchemy engine: every request is still blocked when every bounded one has ended
    (the partition lasted past the default bound); healed, the held read finishes normally."""
    for r in _requests(partitioned, "requests", "plain"):
        assert r["outcome"] == "blocked", r
    for r in _requests(partitioned, "after_heal", "plain", "in-flight"):
        assert r["outcome"] == "ok", r
