"""Run as root inside ``unshare -n -m``: a network namespace where no packet can leave the machine.

Inside, it brings ``lo`` up, puts the "remote" addresses 203.0.113.5 and 2001:db8::5 on it (so that
a connect attempt to them is *seen* rather than lost), bind-mounts an ``/etc/hosts`` with test
names, and listens on ``[::]:PORT`` (both families): every connection is accepted, recorded by the
local address it reached, and answered as a server that is starting up (no TLS, then
``57P03 cannot connect now``: libpq then moves on to its next host).

Reads cases as JSON on stdin, each ``{"id", "env", "cli": [args of poolwarden]}`` or
``{"id", "env", "libpq": DSN}`` (a bare ``PQconnectdb`` of psycopg's libpq: where libpq itself goes) or
``{"id", "env", "resolve": DSN}`` (the first address of each host slot of
:func:`poolwarden.drill.route.resolve`'s route), and prints one JSON result per case: exit code,
stdout, stderr, the addresses connected to, in order.
"""

from __future__ import annotations

import ctypes
import ipaddress
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from typing import Any

PORT = 54329
HOSTS = """127.0.0.1 localhost
::1 localhost
203.0.113.5 db.remote.test
127.0.0.1 db.local.test
127.0.0.1 mixed.test
2001:db8::5 mixed.test
"""
def _setup() -> socket.socket:
    hosts = tempfile.NamedTemporaryFile("w", prefix="pw-netns-hosts-", delete=False)  # noqa: SIM115
    hosts.write(HOSTS)
    hosts.close()
    for cmd in (["mount", "--bind", hosts.name, "/etc/hosts"], ["ip", "link", "set", "lo", "up"],
                ["ip", "addr", "add", "203.0.113.5/32", "dev", "lo"],
                ["ip", "-6", "addr", "add", "2001:db8::5/128", "dev", "lo"]):
        subprocess.run(cmd, check=True, capture_output=True, timeout=30)
    os.unlink(hosts.name)  # the bind mount keeps the inode
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("::", PORT))
    sock.listen(64)
    return sock


def _address(sockname: str) -> str:
    ip = ipaddress.ip_address(sockname.partition("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


class Listener:
    """Accepts on ``[::]:PORT`` in a thread, records each local address reached, answers "starting up".

    :meth:`take` returns what was recorded since the last call, after a sentinel connection from
    127.0.0.9 has come through: connections are served in order, so nothing earlier is missed."""

    SENTINEL = "127.0.0.9"

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.seen: list[str] = []
        self._sentinel = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            conn, _ = self.sock.accept()
            address = _address(conn.getsockname()[0])
            if address == self.SENTINEL:
                conn.close()
                self._sentinel.set()
                continue
            self.seen.append(address)
            _starting_up(conn)

    def take(self) -> list[str]:
        self._sentinel.clear()
        socket.create_connection((self.SENTINEL, PORT), timeout=10).close()
        assert self._sentinel.wait(10), "the listener did not come round"
        seen, self.seen = self.seen, []
        return seen


def _recv(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _starting_up(conn: socket.socket) -> None:
    """Refuse TLS and GSS encryption, answer the startup packet with 57P03, close."""
    conn.settimeout(5)
    try:
        for _ in range(3):
            length, code = struct.unpack("!ii", _recv(conn, 8))
            _recv(conn, length - 8)
            if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest
                conn.sendall(b"N")
                continue
            fields = b"SFATAL\0VFATAL\0C57P03\0Mthe database system is starting up\0\0"
            conn.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)
            break
    except (OSError, struct.error):
        pass
    conn.close()


def _environ(env: dict[str, str]) -> None:
    for key in [k for k in os.environ if k.startswith("PG") or k == "HOME"]:
        del os.environ[key]
    os.environ.update(env)


def _libpq() -> ctypes.CDLL:
    """The libpq psycopg uses, called through ctypes: the call releases the GIL, so the listener
    thread can answer while PQconnectdb waits."""
    import psycopg  # noqa: F401 -- loads it

    with open("/proc/self/maps") as maps:
        path = next(line.split()[-1] for line in maps if "/libpq" in line and ".so" in line)
    lib = ctypes.CDLL(path)
    lib.PQconnectdb.restype = ctypes.c_void_p
    lib.PQconnectdb.argtypes = [ctypes.c_char_p]
    lib.PQfinish.argtypes = [ctypes.c_void_p]
    return lib


def _in_process(case: dict[str, Any]) -> dict[str, object]:
    """libpq (PQconnectdb) or poolwarden's resolve, here, under the case's environment."""
    saved = dict(os.environ)
    _environ(case.get("env", {}))
    try:
        if "libpq" in case:
            lib = _libpq()
            lib.PQfinish(lib.PQconnectdb(case["libpq"].encode()))
            return {"exit": 0, "stdout": "", "stderr": ""}
        from poolwarden.drill.route import resolve

        r = resolve(case["resolve"]).endpoints  # the first address of each slot: libpq's next-host order
        first = [e.address for i, e in enumerate(r) if not e.is_socket and (i == 0 or r[i - 1].slot != e.slot)]
        return {"exit": 0, "stdout": json.dumps(first), "stderr": ""}
    except Exception as exc:  # reported to the test
        return {"exit": 1, "stdout": "", "stderr": f"{type(exc).__name__}: {exc}"}
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main() -> None:
    listener = Listener(_setup())
    results = []
    for case in json.load(sys.stdin):
        if "cli" in case:
            env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
            env.update(case.get("env", {}))
            proc = subprocess.run([sys.executable, "-m", "poolwarden", *case["cli"]], env=env, capture_output=True,
                                  text=True, timeout=120, check=False)
            result: dict[str, object] = {"exit": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}
        else:
            result = _in_process(case)
        results.append({"id": case["id"], **result, "connections": listener.take()})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
