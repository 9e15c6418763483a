"""Where a DSN leads: libpq's routing resolved once, checked, and pinned — without sending a packet.

libpq takes each connection parameter from, in this order: the connection string (key/value or
URI, its ``?query`` included), the service it names (``service=``, else ``PGSERVICE``) in a
service file (``PGSERVICEFILE``, else ``~/.pg_service.conf``; then
``PGSYSCONFDIR/pg_service.conf``, else ``/etc/postgresql-common/pg_service.conf``), the
environment (``PGHOST``, ``PGHOSTADDR``, ``PGPORT``), and its compiled-in default (the Unix socket
directory, port 5432). ``host`` and ``hostaddr`` are comma-separated lists, one slot per entry;
for each slot libpq connects to ``hostaddr`` when it is given (a numeric address; ``host`` then
only names the server for authentication and TLS), else to the Unix socket when ``host`` is a
path (``/…``, or ``@…`` for the abstract namespace), else to every address ``getaddrinfo`` gives
for the name, in turn; an empty slot is the default socket.

:func:`resolve` does the same and returns a :class:`Route`: every :class:`Endpoint` a connection
could reach. :meth:`Route.pinned` writes them out (``host``, ``hostaddr`` and ``port`` per
slot, one slot per resolved address, the service's values merged in), so that a connection made
with it reaches those endpoints and nothing else, whatever the environment or the DNS say
later. :func:`check_local` refuses a route with any endpoint that is not loopback or a Unix
socket, and a route it cannot resolve (a name that does not resolve, an LDAP service lookup).
"""

from __future__ import annotations

import ipaddress
import os
import pwd
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from poolwarden.dsn import mask
from poolwarden.errors import UsageError

__all__ = ["SYSCONFDIR", "Endpoint", "Route", "check_local", "resolve"]

#: libpq's compiled-in SYSCONFDIR in psycopg-binary's and Debian's builds (override: PGSYSCONFDIR).
SYSCONFDIR = "/etc/postgresql-common"
_DEFAULT_PORT = "5432"
_ROUTING = (("host", "PGHOST"), ("hostaddr", "PGHOSTADDR"), ("port", "PGPORT"))


@dataclass(frozen=True)
class Endpoint:
    """One place a connection may reach: an IP address, a socket directory, or the default socket."""

    host: str  # the host slot as written ("" when none)
    address: str  # IP address, socket path ("/…", "@…"), or "" for libpq's default socket directory
    port: str
    source: str  # which parameter decided, and where it came from ("hostaddr from PGHOSTADDR")
    slot: int = 0  # the host slot (position in the host / hostaddr lists) it belongs to

    @property
    def is_socket(self) -> bool:
        return self.address == "" or self.address.startswith(("/", "@"))

    @property
    def local(self) -> bool:
        """A Unix socket or a loopback address (IPv4-mapped loopback included)."""
        if self.is_socket:
            return True
        ip = ipaddress.ip_address(self.address.partition("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.is_loopback

    def describe(self) -> str:
        """``db.example.com at 203.0.113.5 (host from PGHOST)``."""
        where = self.address or "the default Unix socket"
        if self.host and self.host != self.address and not self.source.startswith("hostaddr"):
            where = f"{self.host} at {self.address}"
        return f"{where} ({self.source})"


@dataclass(frozen=True)
class Route:
    """The effective parameters of a DSN and every endpoint it may reach, in libpq's order."""

    params: dict[str, str]  # the DSN's parameters with the service's merged in
    endpoints: tuple[Endpoint, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def remote(self) -> list[Endpoint]:
        return [e for e in self.endpoints if not e.local]

    def pinned(self) -> str:
        """A connection string that reaches :attr:`endpoints` and nothing else."""
        from psycopg.conninfo import make_conninfo

        params = dict(self.params)
        params["host"] = ",".join(e.host for e in self.endpoints)
        params["hostaddr"] = ",".join("" if e.is_socket else e.address for e in self.endpoints)
        params["port"] = ",".join(e.port for e in self.endpoints)
        return make_conninfo("", **params)


def _source(sources: Mapping[str, str], key: str) -> str:
    return f"{key} from {sources.get(key, 'the DSN')}"


def _home(environ: Mapping[str, str]) -> str | None:
    home = environ.get("HOME")
    if home:
        return home
    try:
        return pwd.getpwuid(os.geteuid()).pw_dir
    except KeyError:
        return None


def _keywords() -> set[str]:
    from psycopg import pq

    return {o.keyword.decode() for o in pq.Conninfo.get_defaults()}


def _read_service(path: Path, name: str) -> tuple[dict[str, str], bool]:
    """The values of group ``name`` in one service file (libpq's parseServiceFile), and whether found."""
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError as exc:
        raise UsageError(f"service file {path}: {exc.strerror or exc}") from None
    values: dict[str, str] = {}
    found = False
    keywords = _keywords()
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            if found:
                break
            found = line[1:1 + len(name)] == name and line[1 + len(name):2 + len(name)] == "]"
            continue
        if not found:
            continue
        if line.startswith("ldap"):
            raise UsageError(f"service {name!r} in {path}, line {n}: an LDAP lookup decides where it leads, which "
                             f"poolwarden cannot check before connecting; pass --allow-remote to drill it on purpose")
        key, eq, value = line.partition("=")
        if not eq or key not in keywords:
            raise UsageError(f"syntax error in service file {path}, line {n}")
        if key == "service":
            raise UsageError(f"nested service specifications not supported in service file {path}, line {n}")
        values.setdefault(key, value)
    return values, found


def _service(name: str, environ: Mapping[str, str]) -> tuple[dict[str, str], Path]:
    """libpq's parseServiceInfo: the user's file first, then the system's."""
    if "PGSERVICEFILE" in environ:
        first: Path | None = Path(environ["PGSERVICEFILE"])
        if not first.is_file():  # type: ignore[union-attr]
            raise UsageError(f"service file {first} not found (PGSERVICEFILE)")
    else:
        home = _home(environ)
        first = Path(home, ".pg_service.conf") if home else None
        if first is not None and not first.exists():
            first = None
    if first is not None:
        values, found = _read_service(first, name)
        if found:
            return values, first
    system = Path(environ.get("PGSYSCONFDIR") or SYSCONFDIR, "pg_service.conf")
    if system.exists():
        values, found = _read_service(system, name)
        if found:
            return values, system
    raise UsageError(f"definition of service {name!r} not found")


def _split(value: str) -> list[str]:
    return value.split(",")


def _numeric(address: str) -> str:
    """``hostaddr`` the way libpq reads it: getaddrinfo with AI_NUMERICHOST (so ``127.1`` is 127.0.0.1)."""
    try:
        infos = socket.getaddrinfo(address, None, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except (OSError, UnicodeError, ValueError):
        raise UsageError(f"hostaddr {address!r} is not a numeric IP address") from None
    return str(infos[0][4][0])


def _addresses(host: str) -> list[str]:
    """Every address getaddrinfo gives for ``host`` (what libpq tries, in turn), without duplicates."""
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise UsageError(f"host {host!r} does not resolve ({reason})") from None
    out: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in out:
            out.append(addr)
    return out


def resolve(dsn: str, environ: Mapping[str, str] | None = None) -> Route:
    """The route libpq would take for ``dsn`` under ``environ`` (default: this process's).

    Raises :class:`UsageError` (without the DSN) for what libpq itself would refuse — a string it
    cannot parse, a service it cannot find, host and hostaddr lists that do not match — and for
    what cannot be checked before connecting: a name that does not resolve, an LDAP service."""
    from psycopg.conninfo import conninfo_to_dict

    env = os.environ if environ is None else environ
    try:
        params = {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    except Exception:  # poolwarden: ignore[PW101] -- libpq's parse error may quote the password
        raise UsageError("not a valid connection string") from None
    sources: dict[str, str] = {}
    service = params.get("service", env.get("PGSERVICE"))
    if service is not None:
        values, path = _service(service, env)
        label = f"service {service!r} in {path}" + ("" if "service" in params else " (PGSERVICE)")
        for key, value in values.items():
            if key not in params:
                params[key] = value
                sources[key] = label
        params["service"] = service
    for key, var in _ROUTING:
        if key not in params and var in env:
            params[key] = env[var]
            sources[key] = var

    host_s, addr_s, port_s = params.get("host", ""), params.get("hostaddr", ""), params.get("port", "")
    hosts = _split(host_s) if host_s else []
    addrs = _split(addr_s) if addr_s else []
    count = len(addrs) or len(hosts) or 1
    if hosts and len(hosts) != count:
        raise UsageError(f"could not match {len(hosts)} host names to {count} hostaddr values")
    ports = _split(port_s) if port_s else [""]
    if len(ports) == 1:
        ports *= count
    elif len(ports) != count:
        raise UsageError(f"could not match {len(ports)} port numbers to {count} hosts")

    endpoints: list[Endpoint] = []
    for i in range(count):
        host = hosts[i] if hosts else ""
        addr = addrs[i] if addrs else ""
        port = ports[i] or _DEFAULT_PORT
        if addr:
            endpoints.append(Endpoint(host, _numeric(addr), port, _source(sources, "hostaddr"), i))
        elif not host:
            endpoints.append(Endpoint("", "", port, "no host given: libpq's default socket", i))
        elif host.startswith(("/", "@")):
            endpoints.append(Endpoint(host, host, port, _source(sources, "host"), i))
        else:
            endpoints.extend(Endpoint(host, a, port, _source(sources, "host"), i) for a in _addresses(host))
    return Route(params, tuple(endpoints))


def check_local(dsn: str, allow_remote: bool, *, option: str = "--dsn",
                environ: Mapping[str, str] | None = None) -> str:
    """The connection string the drill's own connections use: ``dsn`` pinned to its local endpoints.

    Refuses (:class:`UsageError`, the DSN masked) a route with an endpoint that is not loopback or
    a Unix socket, or one that cannot be resolved, unless ``allow_remote`` — then ``dsn`` is used
    as given."""
    if allow_remote:
        return dsn
    try:
        route = resolve(dsn, environ)
    except UsageError as exc:
        raise UsageError(f"{option} {mask(dsn)}: {mask(str(exc))}; refused before connecting") from None
    for endpoint in route.remote:
        raise UsageError(f"{option} {mask(dsn)}: {mask(endpoint.describe())} is not this machine; a drill saturates "
                         f"and kills connections, so pass --allow-remote to drill a remote server on purpose")
    return route.pinned()
