"""drill refuses a DSN that leads off this machine — by every libpq route — before connecting.

Run where no packet can leave: a network namespace (``unshare -n -m``, as root) whose loopback
also carries the "remote" addresses 203.0.113.5 and 2001:db8::5, with a listener on every
address. So a connect attempt to a remote address is not lost, it is *seen*: a refused case must
leave the listener untouched, an allowed case must reach it on loopback only. The same namespace
checks that :func:`poolwarden.drill.route.resolve` goes where libpq itself goes (a bare
``PQconnectdb``, listener-observed), route by route.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.adversarial.contract import assert_clean_failure, netns_unavailable, run_in_netns

ROOT = Path(__file__).resolve().parent.parent
PROBE = ROOT / "tests" / "adversarial" / "netns_probe.py"
P = 54329  # netns_probe.PORT: the listener's port inside the namespace
REMOTE = ("203.0.113.5", "2001:db8::5")
URI = f"postgresql://app:hunter2@{{}}:{P}/app"


def _files(base: Path) -> dict[str, str]:
    """Service files (one per place libpq looks) and an empty socket directory."""
    (base / "home").mkdir()
    (base / "sys").mkdir()
    (base / "nosys").mkdir()
    (base / "sock").mkdir()
    remote = f"[remote]\nhost=203.0.113.5\nport={P}\ndbname=app\n"
    (base / "services.conf").write_text(
        f"# a comment\n[local]\nhost=127.0.0.1\nport={P}\n\n{remote}"
        f"[viaaddr]\nhost=localhost\nhostaddr=203.0.113.5\nport={P}\n"
        f"[ldap]\nldap://ldap.example.com/dc=example,dc=com?uniqueMember?one?(cn=mydatabase)\n")
    (base / "home" / ".pg_service.conf").write_text(remote.replace("[remote]", "[homeremote]"))
    (base / "sys" / "pg_service.conf").write_text(remote.replace("[remote]", "[sysremote]"))
    return {"file": str(base / "services.conf"), "home": str(base / "home"), "sys": str(base / "sys"),
            "nosys": str(base / "nosys"), "sock": str(base / "sock")}


Refused = list[tuple[str, str, dict[str, str], str]]
Allowed = list[tuple[str, str, dict[str, str]]]
NOT_LIBPQ = ("ldap", "missing", "not-resolve", "not-numeric", "any")  # libpq would fail or go to LDAP / 0.0.0.0


def _cases(f: dict[str, str]) -> tuple[Refused, Allowed]:
    svc = {"PGSERVICEFILE": f["file"]}
    refused = [  # (id, dsn, env, what the one-line refusal names)
        ("uri-host-ip", URI.format("203.0.113.5"), {}, "203.0.113.5 (host from the DSN) is not this machine"),
        ("uri-host-name", URI.format("db.remote.test"), {}, "db.remote.test at 203.0.113.5 (host from the DSN)"),
        ("uri-host-ipv6", URI.format("[2001:db8::5]"), {}, "2001:db8::5 (host from the DSN)"),
        ("kv-hostaddr", f"host=localhost hostaddr=203.0.113.5 port={P} password=hunter2", {},
         "203.0.113.5 (hostaddr from the DSN)"),
        ("uri-query-hostaddr", URI.format("localhost") + "?hostaddr=203.0.113.5", {}, "hostaddr from the DSN"),
        ("uri-query-host", f"postgresql://app:hunter2@/app?host=db.remote.test&port={P}", {}, "db.remote.test at"),
        ("env-PGHOST", "postgresql://app:hunter2@/app", {"PGHOST": "203.0.113.5", "PGPORT": str(P)},
         "203.0.113.5 (host from PGHOST)"),
        ("env-PGHOST-list", "postgresql://app:hunter2@/app", {"PGHOST": "localhost,db.remote.test",
                                                               "PGPORT": str(P)}, "db.remote.test at 203.0.113.5"),
        ("env-PGHOSTADDR", "dbname=app password=hunter2", {"PGHOSTADDR": "203.0.113.5", "PGPORT": str(P)},
         "203.0.113.5 (hostaddr from PGHOSTADDR)"),
        ("env-PGHOSTADDR-beats-local-host", f"host=localhost port={P} password=hunter2",
         {"PGHOSTADDR": "203.0.113.5"}, "hostaddr from PGHOSTADDR"),
        ("PGSERVICE-PGSERVICEFILE", "dbname=app password=hunter2", {"PGSERVICE": "remote", **svc},
         "host from service 'remote'"),
        ("service-kv", "service=remote password=hunter2", svc, "host from service 'remote'"),
        ("service-uri-query", "postgresql://app:hunter2@/app?service=remote", svc, "service 'remote'"),
        ("service-home-file", "service=homeremote password=hunter2", {"HOME": f["home"]}, "service 'homeremote'"),
        ("service-PGSYSCONFDIR", "service=sysremote password=hunter2", {"PGSYSCONFDIR": f["sys"]},
         "service 'sysremote'"),
        ("service-hostaddr", "service=viaaddr password=hunter2", svc, "hostaddr from service 'viaaddr'"),
        ("service-ldap", "service=ldap password=hunter2", svc, "an LDAP lookup"),
        ("service-missing", "service=nosuch password=hunter2", svc, "definition of service 'nosuch' not found"),
        ("multi-host-kv", f"host=localhost,203.0.113.5 port={P} password=hunter2", {}, "203.0.113.5"),
        ("multi-host-uri", f"postgresql://app:hunter2@localhost:{P},db.remote.test:{P}/app", {}, "db.remote.test"),
        ("every-address-of-a-name", URI.format("mixed.test"), {}, "mixed.test at 2001:db8::5"),
        ("name-that-does-not-resolve", URI.format("nowhere.invalid"), {}, "host 'nowhere.invalid' does not resolve"),
        ("hostaddr-any", f"hostaddr=0 port={P} password=hunter2", {}, "0.0.0.0 (hostaddr from the DSN)"),
        ("hostaddr-v4-mapped", f"hostaddr=::ffff:203.0.113.5 port={P} password=hunter2", {}, "::ffff:203.0.113.5"),
        ("hostaddr-not-numeric", f"hostaddr=db.remote.test port={P} password=hunter2", {}, "not a numeric IP"),
    ]
    allowed = [  # (id, dsn, env): reaches loopback (or a socket) only
        ("localhost", URI.format("localhost"), {}),
        ("127.0.0.1", URI.format("127.0.0.1"), {}),
        ("::1", URI.format("[::1]"), {}),
        ("name-on-loopback", URI.format("db.local.test"), {}),
        ("hostaddr-decides-over-remote-name", f"host=db.remote.test hostaddr=127.0.0.1 port={P} password=hunter2", {}),
        ("hostaddr-127.1", f"hostaddr=127.1 port={P} password=hunter2", {}),
        ("dsn-host-beats-PGHOST", URI.format("localhost"), {"PGHOST": "203.0.113.5"}),
        ("dsn-host-beats-service", f"host=127.0.0.1 port={P} service=remote password=hunter2", svc),
        ("service-local", "service=local password=hunter2", svc),
        ("socket-dir", f"host={f['sock']} port={P} password=hunter2", {}),
        ("PGHOST-socket-dir", "postgresql://app:hunter2@/app", {"PGHOST": f["sock"], "PGPORT": str(P)}),
        ("default-socket", "postgresql://app:hunter2@/app", {"PGPORT": str(P)}),
        # set but empty is set: libpq takes no environment value then, and uses its default socket
        ("empty-host-beats-PGHOST-default-socket", f"host='' port={P} password=hunter2", {"PGHOST": "203.0.113.5"}),
        ("empty-hostaddr-beats-PGHOSTADDR-default-socket", "postgresql://app:hunter2@/app?hostaddr=",
         {"PGHOSTADDR": "203.0.113.5", "PGPORT": str(P)}),
    ]
    return refused, allowed


@pytest.fixture(scope="module")
def netns(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every case run once, in one namespace: id -> probe result (see tests/adversarial/netns_probe.py)."""
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    f = _files(tmp_path_factory.mktemp("routes"))
    refused, allowed = _cases(f)
    base_env = {"HOME": f["nosys"], "PGSYSCONFDIR": f["nosys"], "PGCONNECT_TIMEOUT": "3",
                "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT / "src"))}
    drill = ["drill", "--call", "os:getpid", "--baseline", "0.5", "--duration", "0.5", "--recovery", "0.5"]
    cases = []
    for cid, dsn, env, *_ in [*refused, *allowed]:
        e = {**base_env, **env}
        cases.append({"id": f"cli:{cid}", "env": e, "cli": [*drill, "--dsn", dsn]})
        if not any(word in cid for word in NOT_LIBPQ):
            cases += [{"id": f"libpq:{cid}", "env": e, "libpq": dsn},
                      {"id": f"resolve:{cid}", "env": e, "resolve": dsn}]
    proc = run_in_netns(PROBE, json.dumps(cases), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {r["id"]: r for r in json.loads(proc.stdout)}


_REFUSED, _ALLOWED = _cases({k: f"/placeholder/{k}" for k in ("file", "home", "sys", "nosys", "sock")})


@pytest.mark.parametrize(("cid", "message"), [(c[0], c[3]) for c in _REFUSED], ids=[c[0] for c in _REFUSED])
def test_refused_before_connecting(netns: dict[str, Any], cid: str, message: str) -> None:
    r = netns[f"cli:{cid}"]
    line = assert_clean_failure(_proc(r), contains=message)
    assert "refused before connecting" in line or "pass --allow-remote" in line
    assert r["connections"] == [], f"a connection was attempted: {r['connections']}"
    assert "drill: baseline" not in r["stderr"]  # nothing started


@pytest.mark.parametrize("cid", [c[0] for c in _ALLOWED])
def test_local_routes_reach_loopback_only(netns: dict[str, Any], cid: str) -> None:
    r = netns[f"cli:{cid}"]
    line = assert_clean_failure(_proc(r))  # the listener is no PostgreSQL: a connection error, masked
    assert "not this machine" not in line and "refused before" not in line, line
    assert not set(r["connections"]) & set(REMOTE), r["connections"]
    socket_only = "socket" in cid
    assert bool(r["connections"]) != socket_only, r  # TCP routes reached the listener on loopback; sockets did not


@pytest.mark.parametrize("cid", [c[0] for c in [*_REFUSED, *_ALLOWED] if not any(w in c[0] for w in NOT_LIBPQ)])
def test_resolve_goes_where_libpq_goes(netns: dict[str, Any], cid: str) -> None:
    """libpq, unchecked, goes to each host slot in turn (the listener answers "cannot connect now",
    which moves libpq to its next host); the route poolwarden resolved has the same slots, to the
    same first address, in the same order."""
    libpq, ours = netns[f"libpq:{cid}"], netns[f"resolve:{cid}"]
    assert ours["exit"] == 0, ours["stderr"]
    assert [_plain(a) for a in json.loads(ours["stdout"])] == libpq["connections"], libpq["stderr"]


def _plain(address: str) -> str:
    """An IPv4-mapped IPv6 address as the IPv4 address it reaches (how the listener records it)."""
    ip = ipaddress.ip_address(address)
    return str(ip.ipv4_mapped) if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else address


def _proc(r: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess([], r["exit"], r["stdout"], r["stderr"])


@pytest.mark.parametrize("dsn", [
    "postgresql://app:hunter2@localhost:5433/app", "host=localhost,/tmp,,127.0.0.1 port=5,6,7,8 password=hunter2",
    "host=db.example.com hostaddr=127.0.0.1", "postgresql:///app", "hostaddr=::1 port=1",
])
def test_the_pinned_route_cannot_be_rerouted_by_the_environment(dsn: str) -> None:
    """What the drill connects with names every endpoint: a hostile environment later changes nothing."""
    from poolwarden.drill.route import check_local, resolve

    pinned = check_local(dsn, False, environ={})
    hostile = {"PGHOST": "203.0.113.5", "PGHOSTADDR": "203.0.113.5", "PGPORT": "1"}
    before = [(e.address, e.port) for e in resolve(dsn, {}).endpoints]
    after = [(e.address, e.port) for e in resolve(pinned, hostile).endpoints]
    assert after == before and all(e.local for e in resolve(pinned, hostile).endpoints)
