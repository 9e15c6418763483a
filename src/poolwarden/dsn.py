"""DSNs without secrets: every DSN poolwarden prints or puts in an error goes through :func:`mask`,
and every driver message about a DSN through :func:`scrub` (both via :func:`connection_error`).

The promise: a password never reaches output, whatever it contains. What looks like a password is
masked as ``***``:

- in a URL, the userinfo after the first ``:`` up to the *last* ``@`` (a password may hold ``@``,
  ``/`` or a ``%`` that is not valid percent-encoding), and ``password=`` / ``sslpassword=`` in
  the query string (up to the next well-formed ``key=value`` parameter); when the text before
  the last ``@`` holds a ``?`` or ``#``, that ``@`` may be part of a query value, so all after
  the scheme is masked;
- in a key/value DSN, the values of ``password`` and ``sslpassword``, quoted (``'it''s'`` with
  backslash escapes) or not;
- anything that does not parse is masked from the point where parsing failed to the end.

The host, port, database and user stay readable, so an error still says where it went.
No driver is imported here: ``check`` and the runtime use this module too.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from poolwarden.text import one_line

__all__ = ["connection_error", "is_url", "mask", "one_line", "scrub", "secrets"]

MASK = "***"
SECRET_KEYS = frozenset({"password", "sslpassword"})

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*")
_KV_SECRET_IN_TEXT = re.compile(
    r"(?P<key>\b(?:ssl)?password\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|'.*|(?:[^\s\\]|\\.)+|\\)", re.I | re.S)
_QUERY_PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_HOST = re.compile(r"^(?:\[[^\]/?#@\s]*\]|[^:\[\]/?#@\s,]*)(?::\d*)?$")
_KV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QUOTED = re.compile(r"\"([^\"]*)\"|'([^']*)'")


# -- URLs -------------------------------------------------------------------------------------------
def _split_url(text: str) -> tuple[str, str | None, str]:
    """(``scheme://``, userinfo or None, the rest: hosts, path, query)."""
    m = _SCHEME.match(text.lstrip())
    assert m is not None
    start = len(text) - len(text.lstrip()) + m.end()
    head, rest = text[:start], text[start:]
    at = rest.rfind("@")
    if at < 0:
        return head, None, rest
    return head, rest[:at], rest[at + 1:]


def _mask_query(query: str) -> str:
    """``a=1&password=x&b=2`` -> ``a=1&password=***&b=2``; a raw ``&`` inside a secret and any
    malformed parameter are masked too."""
    out: list[str] = []
    secret = False
    for piece in query.split("&"):
        well_formed = bool(_QUERY_PARAM.match(piece))
        if well_formed:
            key, _, _value = piece.partition("=")
            secret = key.lower() in SECRET_KEYS
            out.append(f"{key}={MASK}" if secret else piece)
        elif piece == "" and not secret:
            out.append(piece)
        elif not secret:  # not key=value: libpq would echo it in its error
            out.append(MASK)
        # else: a piece of the secret before it (it held a raw '&'): already masked
    return "&".join(out)


def _mask_url(text: str) -> str:
    head, userinfo, rest = _split_url(text)
    shown = head
    if userinfo is not None and any(c in userinfo for c in "?#"):
        # the last '@' may sit in the query (…?password=x@y): what follows it may be a secret's tail
        return shown + MASK
    if userinfo is not None:
        user, colon, _password = userinfo.partition(":")
        safe_user = not any(c in user for c in "/?#")
        shown += (f"{user}:{MASK}@" if colon else f"{userinfo}@") if safe_user else f"{MASK}@"
    end = len(rest)
    for sep in "/?#":
        i = rest.find(sep)
        if 0 <= i < end:
            end = i
    authority, tail = rest[:end], rest[end:]
    if not all(_HOST.match(h) for h in authority.split(",")):
        return shown + MASK  # not a host list (a password without '@'?): show nothing more
    path, q, query = tail.partition("?")
    if any(c.isspace() for c in path):
        return shown + authority + MASK
    return shown + authority + path + (q + _mask_query(query) if q else "")


def _url_secrets(text: str) -> list[str]:
    _head, userinfo, rest = _split_url(text)
    found: list[str] = []
    if userinfo is not None and ":" in userinfo:
        found.append(userinfo.partition(":")[2])
    for query in {rest.partition("?")[2], text.partition("?")[2]}:
        pieces = query.split("&")
        for i, piece in enumerate(pieces):
            key, eq, value = piece.partition("=")
            if eq and key.lower() in SECRET_KEYS:
                found.append(value)
                for extra in pieces[i + 1:]:  # a raw '&' inside the secret
                    if _QUERY_PARAM.match(extra):
                        break
                    found.append(extra)
    return found


def _url_components(text: str) -> set[str]:
    """Parts safe to show: user, hosts, ports, database, non-secret query values."""
    _head, userinfo, rest = _split_url(text)
    parts: set[str] = set()
    if userinfo is not None and ":" in userinfo:
        parts.add(unquote(userinfo.partition(":")[0]))
    elif userinfo is not None:
        parts.add(unquote(userinfo))
    authority, _, tail = rest.partition("/")
    for host in authority.split(","):
        m = re.match(r"^(\[[^\]]*\]|[^:]*)(?::(\d*))?$", host)
        if m:
            parts.update({unquote(m.group(1)).strip("[]"), m.group(2) or ""})
    path, _, query = tail.partition("?")
    parts.add(unquote(path))
    for piece in query.split("&"):
        key, _, value = piece.partition("=")
        if key.lower() not in SECRET_KEYS:
            parts.add(unquote(value))
    return {p for p in parts if p}


# -- key/value DSNs ---------------------------------------------------------------------------------
def _kv_tokens(text: str) -> tuple[list[tuple[int, int, int, str, str]], int]:
    """Tokens ``(start, value_start, end, key, value)`` as libpq reads them, and where parsing
    stopped (``len(text)`` when it all parsed). Values are unescaped."""
    tokens: list[tuple[int, int, int, str, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return tokens, n
        start = i
        m = _KV_KEY.match(text, i)
        if m is None:
            return tokens, start
        i = m.end()
        while i < n and text[i].isspace():
            i += 1
        if i >= n or text[i] != "=":
            return tokens, start
        i += 1
        while i < n and text[i].isspace():
            i += 1
        value_start = i
        quoted = i < n and text[i] == "'"
        value, i = _kv_value(text, i + 1 if quoted else i, quoted)
        if quoted:
            if i >= n:
                return tokens, start  # unterminated quote
            i += 1
        tokens.append((start, value_start, i, m.group(), value))


def _kv_value(text: str, i: int, quoted: bool) -> tuple[str, int]:
    """A key/value DSN's value from ``i``, backslash escapes undone, and where it ended: at the closing
    quote (``quoted``; ``len(text)`` when there is none) or at whitespace."""
    chars: list[str] = []
    n = len(text)
    while i < n and (text[i] != "'" if quoted else not text[i].isspace()):
        if text[i] == "\\":
            i += 1
            if i >= n:
                break
        chars.append(text[i])
        i += 1
    return "".join(chars), i


def _mask_kv(text: str) -> str:
    tokens, stop = _kv_tokens(text)
    out: list[str] = []
    pos = 0
    for start, value_start, end, key, _value in tokens:
        out.append(text[pos:start])
        out.append(text[start:value_start] + MASK if key.lower() in SECRET_KEYS else text[start:end])
        pos = end
    if stop < len(text):
        out.append(text[pos:stop] + MASK)
    else:
        out.append(text[pos:])
    return "".join(out)


def _looks_kv(text: str) -> bool:
    return bool(re.match(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*=", text))


# -- the API ----------------------------------------------------------------------------------------
def is_url(text: str) -> bool:
    """Whether ``text`` is a URL-style DSN (``postgresql://…``, ``postgresql+psycopg://…``)."""
    return bool(_SCHEME.match(text.lstrip()))


def mask(text: str) -> str:
    """``text`` with every password replaced by ``***``.

    ``text`` is a whole DSN (URL or key/value; a password may contain anything) or free text such
    as a log line or an error message, where URLs and ``password=`` / ``sslpassword=`` pairs are
    masked wherever they appear."""
    if is_url(text):
        return _mask_url(text)
    if _looks_kv(text):
        return _mask_kv(text)
    return _mask_free(text)


def mask_text(text: str) -> str:
    """Free text that may quote a DSN (a note quoting code): URLs and ``password=`` pairs masked
    wherever they appear; unlike :func:`mask`, never read as one key/value DSN (``a = 1`` stays)."""
    return _mask_free(text)


def _mask_free(text: str) -> str:
    """Free text (a message, a log line): URLs and ``password=`` pairs wherever they appear."""
    text = _URL_IN_TEXT.sub(lambda m: _mask_url(m.group()), text)
    return _KV_SECRET_IN_TEXT.sub(lambda m: f"{m.group('key')}{MASK}", text)


def secrets(dsn: str) -> list[str]:
    """The passwords written in ``dsn``, raw and decoded (percent-decoding, backslash escapes)."""
    found: list[str] = []
    if is_url(dsn):
        for raw in _url_secrets(dsn):
            found += [raw, unquote(raw)]
    else:
        tokens, stop = _kv_tokens(dsn)
        for _start, value_start, end, key, value in tokens:
            if key.lower() in SECRET_KEYS:
                found += [value, dsn[value_start:end]]
        if stop < len(dsn):
            found.append(dsn[stop:])  # unparsed: all of it may be secret
    return [s for s in dict.fromkeys(found) if s]


def _components(dsn: str) -> set[str]:
    if is_url(dsn):
        return _url_components(dsn)
    tokens, _stop = _kv_tokens(dsn)
    return {value for _s, _v, _e, key, value in tokens if key.lower() not in SECRET_KEYS and value}


_SHORT = 4  # a secret this short cannot be cut out of a message without mangling it
_WITHHELD = "(message withheld: it may contain the password)"


def _candidates(dsn: str) -> list[str]:
    """The passwords of ``dsn`` and the pieces libpq may cut them into (at ``@``, ``/``, ``?``, ``#``,
    ``&`` or whitespace: ``hun@ter2`` reaches the driver as password ``hun`` and host ``ter2@…``)."""
    found = secrets(dsn)
    pieces = [p for s in found for p in re.split(r"[@/?#&\s]+", s) if p and p != s]
    return sorted(dict.fromkeys(found + pieces), key=len, reverse=True)


def scrub(message: str, dsn: str) -> str:
    """A ``message`` about ``dsn`` (a driver's, or one of ours) with nothing of its passwords left.

    Masks URLs and ``password=`` pairs wherever they appear, every occurrence of a password written
    in ``dsn`` or of a piece libpq may have cut from it, and every quoted fragment of ``dsn`` the
    driver echoes (``"…"`` or ``'…'``) unless it is exactly a host, port, user or database name.
    The masked DSN itself (:func:`mask`) is left as it is. Where a password (or piece) too short to
    cut out cleanly stands as a word, that stretch of the message is withheld."""
    shown = mask(dsn)
    for protected in dict.fromkeys((shown, one_line(shown))):
        if protected and protected in message:
            return protected.join(scrub(part, dsn) for part in message.split(protected))
    return _scrub_part(message, dsn)


def _scrub_part(part: str, dsn: str) -> str:
    text = _mask_free(part)
    for secret in _candidates(dsn):
        lead = re.match(r"[\s:]*", part)
        withheld = (lead.group() if lead else "") + _WITHHELD
        if len(secret) < _SHORT:
            if re.search(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", text):
                return withheld
            continue
        if secret in text:
            text = text.replace(secret, MASK)
            if secret in text:  # the mask's own stars rebuilt it
                return withheld
    safe = _components(dsn)

    def quoted(m: re.Match[str]) -> str:
        inner = m.group(1) if m.group(1) is not None else m.group(2)
        q = m.group()[0]
        if inner and inner != "=" and inner in dsn and inner not in safe:
            return f"{q}{MASK}{q}"
        return m.group()

    return _QUOTED.sub(quoted, text)


def connection_error(option: str, dsn: str, exc: BaseException) -> str:
    """``--dsn postgresql://app:***@db/x: <first line of the driver's message, scrubbed>``, on one line."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return one_line(f"{option} {mask(dsn)}: {scrub(first, dsn)}")
