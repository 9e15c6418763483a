"""``poolwarden.dsn``: whatever a password contains, and however it is written into a DSN (URL userinfo,
percent-encoded or not, URL query, key/value quoted or escaped, ``sslpassword``), the masked DSN and
the scrubbed driver message never contain it, and the masked DSN still says where it points.

Generated passwords are checked against psycopg's own parser first, so each DSN is one libpq reads
the way the test means it (or, for the raw URL forms, one a careless user would type)."""

from __future__ import annotations

import re
from urllib.parse import quote

import psycopg
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict

from poolwarden.dsn import MASK, connection_error, mask, scrub
from poolwarden.testing.cluster import free_port

from .contract import thrown

THROWN = thrown("DSN masking")  # generated inputs actually thrown, per test

#: generated inputs per test, reported in the adversarial closing note
EXAMPLES = 300

PASSWORDS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
                    max_size=24)
NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True)
HOSTS = st.sampled_from(["db.internal", "127.0.0.1", "pg-primary.example.com", "10.1.2.3"])
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])


def _visible(text: str, password: str) -> bool:
    return password in text


def _assume_distinct(password: str, *visible: str) -> None:
    """A password that is a piece of the host, the user or the mask itself cannot be told apart."""
    skeleton = " ".join((*visible, MASK, "postgresql://", "password=", "sslpassword=", "dbname=", "user=", "host=",
                         "port=5432", "sslmode=disable", "?&:@/'\\"))
    assume(password not in skeleton and password.strip() == password and password)


@SETTINGS
@given(password=PASSWORDS, user=NAMES, host=HOSTS, db=NAMES, encoded=st.booleans())
def test_url_userinfo(password: str, user: str, host: str, db: str, encoded: bool) -> None:
    THROWN['url userinfo'] += 1
    _assume_distinct(password, user, host, db)
    written = quote(password, safe="") if encoded else password
    dsn = f"postgresql://{user}:{written}@{host}:5432/{db}"
    if encoded:
        assert conninfo_to_dict(dsn)["password"] == password
    masked = mask(dsn)
    assert password not in masked and written not in masked, masked
    if not encoded and set(password) & set("?#"):  # the last '@' may be in a query value: all masked
        assert masked == f"postgresql://{MASK}"
    else:
        assert masked == f"postgresql://{user}:{MASK}@{host}:5432/{db}"


@SETTINGS
@given(password=PASSWORDS, user=NAMES, host=HOSTS, db=NAMES, key=st.sampled_from(["password", "sslpassword"]),
       encoded=st.booleans())
def test_url_query(password: str, user: str, host: str, db: str, key: str, encoded: bool) -> None:
    THROWN['url query'] += 1
    _assume_distinct(password, user, host, db)
    written = quote(password, safe="") if encoded else password
    dsn = f"postgresql://{user}@{host}:5432/{db}?sslmode=disable&{key}={written}"
    if encoded:
        assert conninfo_to_dict(dsn)[key] == password
    masked = mask(dsn)
    assert password not in masked and written not in masked, masked
    if encoded or not set(password) & set("@"):
        assert f"{host}:5432/{db}" in masked, masked


def _kv_quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _kv_escaped(value: str) -> str:
    return re.sub(r"([\\'\s])", r"\\\1", value)


@SETTINGS
@given(password=PASSWORDS, user=NAMES, host=HOSTS, db=NAMES, key=st.sampled_from(["password", "sslpassword"]),
       quoted=st.booleans(), spaces=st.sampled_from(["=", " = ", "= "]))
def test_key_value(password: str, user: str, host: str, db: str, key: str, quoted: bool, spaces: str) -> None:
    THROWN['key value'] += 1
    _assume_distinct(password, user, host, db)
    written = _kv_quoted(password) if quoted else _kv_escaped(password)
    dsn = f"host={host} port=5432 user={user} {key}{spaces}{written} dbname={db}"
    assert conninfo_to_dict(dsn)[key] == password  # libpq reads what we meant
    masked = mask(dsn)
    assert password not in masked and written not in masked, masked
    assert masked == f"host={host} port=5432 user={user} {key}{spaces}{MASK} dbname={db}"


@SETTINGS
@given(password=PASSWORDS, user=NAMES, host=HOSTS, db=NAMES)
def test_key_value_written_carelessly(password: str, user: str, host: str, db: str) -> None:
    """Unquoted, unescaped: libpq fails to parse it; what follows the key is masked to the end."""
    THROWN['key value written carelessly'] += 1
    _assume_distinct(password, user, host, db)
    dsn = f"host={host} user={user} password={password} dbname={db}"
    masked = mask(dsn)
    assert password not in masked, masked
    assert masked.startswith(f"host={host} user={user} "), masked  # an unterminated quote masks the whole pair


@SETTINGS
@given(password=PASSWORDS.filter(lambda p: not any(c.isspace() for c in p)), user=NAMES, host=HOSTS, db=NAMES)
def test_in_free_text(password: str, user: str, host: str, db: str) -> None:
    THROWN['in free text'] += 1
    _assume_distinct(password, user, host, db, "worker 3: cannot reach (retrying);")
    line = f"worker 3: cannot reach postgresql://{user}:{password}@{host}/{db} (retrying); password={password}"
    masked = mask(line)
    assert password not in masked, masked
    assert "(retrying)" in masked
    if not set(password) & set("?#"):
        assert host in masked, masked


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(password=PASSWORDS, form=st.sampled_from(["url-raw", "url-encoded", "query", "kv-quoted", "kv-raw"]))
def test_the_driver_message_never_echoes_the_password(password: str, form: str) -> None:
    """A real connect to a port nothing listens on (or a DSN libpq rejects): the one-line error keeps
    no password, whatever libpq quoted from the DSN."""
    THROWN['the driver message never echoes the password'] += 1
    assume(len(password) >= 4)  # shorter ones turn up in the driver's own words ("-", "on", …)
    _assume_distinct(password, "127.0.0.1", "app", "db", "--dsn connection failed: connection to server at",
                     "port failed: Connection refused; failed to resolve host")
    port = free_port()
    assume(password not in str(port))
    dsn = {
        "url-raw": f"postgresql://app:{password}@127.0.0.1:{port}/db",
        "url-encoded": f"postgresql://app:{quote(password, safe='')}@127.0.0.1:{port}/db",
        "query": f"postgresql://app@127.0.0.1:{port}/db?password={password}",
        "kv-quoted": f"host=127.0.0.1 port={port} dbname=db user=app password={_kv_quoted(password)}",
        "kv-raw": f"host=127.0.0.1 port={port} dbname=db user=app password={password}",
    }[form]
    with pytest.raises(Exception) as info:  # psycopg.Error, or UnicodeError from the resolver
        psycopg.connect(dsn, connect_timeout=2).close()
    line = connection_error("--dsn", dsn, info.value)
    assert password not in line and quote(password, safe="") not in line, line
    assert "\n" not in line


@pytest.mark.parametrize(("dsn", "secret"), [
    ("postgresql://app:Pa%ssw0rd@127.0.0.1:1/db", "Pa%ssw0rd"),
    ("postgresql://app:hun@ter2@127.0.0.1:1/db", "ter2"),
    ("postgresql://127.0.0.1:1/db?password=s3&cr3t", "cr3t"),
    ("host=127.0.0.1 port=1 password=hun ter2", "ter2"),
    ("host=127.0.0.1 port=1 password='hun ter2", "ter2"),
    ("host=127.0.0.1 port=1 password='hun\\' ter2'", "ter2"),
    ("host=127.0.0.1 port=1 sslpassword=sslpw-XYZ sslmode=require", "sslpw-XYZ"),
    ("host=127.0.0.1 port=1 password=s3cr3t foo=bar", "s3cr3t"),
])
def test_the_issue_cases(dsn: str, secret: str) -> None:
    with pytest.raises(psycopg.Error) as info:
        psycopg.connect(dsn, connect_timeout=2).close()
    line = connection_error("--dsn", dsn, info.value)
    assert secret not in line, line
    assert "127.0.0.1" in line


def test_a_short_password_in_the_message_withholds_the_message() -> None:
    assert "withheld" in scrub("failed for host 'ab' and more", "postgresql://u:ab@h/db")
    assert scrub('connection to server at "127.0.0.1", port 1 failed', "postgresql://u:pw-long@127.0.0.1:1/d") \
        == 'connection to server at "127.0.0.1", port 1 failed'


@pytest.mark.parametrize("dsn", [
    "postgresql://app:hun@ter2@127.0.0.1:{port}/db",
    "postgresql://app:Pa%ssw0rd@127.0.0.1:{port}/db",
    "host=127.0.0.1 port={port} password=hun ter2",
    "host=127.0.0.1 port={port} sslpassword=sslpw-XYZ",
    "postgresql://127.0.0.1:{port}/db?password=s3&cr3t",
])
def test_the_cli_boundary_scrubs_every_commands_errors(dsn: str) -> None:
    """Whatever raised it (drill's own checks included: the password's tail after an '@' became
    part of the host it refuses), the one error line keeps no piece of the password."""
    from .contract import assert_clean_failure, run

    proc = run("drill", "--url", f"http://127.0.0.1:{free_port()}/", "--dsn", dsn.format(port=free_port()),
               "--baseline", "0.5", "--duration", "0.5", "--recovery", "0.5")
    assert_clean_failure(proc, secrets=("hunter2", "Pa%ssw0rd", "s3cr3t", "ter2", "sslpw-XYZ", "cr3t"))
