"""The session state a SQL text leaves on its server connection (what a transaction pooler breaks).

:func:`session_state` reads the statements of a SQL text (:func:`poolwarden.check.sql.statements`) and
returns, for each statement that leaves state past its transaction, what it is and what breaks:

- ``SET name ...`` / ``SET SESSION name ...`` / ``SET ROLE`` (not ``SET LOCAL``, ``SET TRANSACTION``,
  ``SET CONSTRAINTS``), and ``set_config(name, value, false)`` anywhere in a statement;
- the session advisory locks (``pg_advisory_lock``, ``pg_try_advisory_lock`` and their ``_shared``
  forms; the ``_xact_`` ones end with the transaction);
- ``LISTEN``; ``PREPARE name`` (not ``PREPARE TRANSACTION``; a prepared statement outlives a rollback, so
  also one deallocated in the same transaction stays when an error comes first; ``DEALLOCATE`` removes
  state and is not reported: the ``PREPARE`` it pairs with is);
- ``CREATE TEMP|TEMPORARY TABLE|VIEW|SEQUENCE`` without ``ON COMMIT DROP``, ``SELECT ... INTO TEMP``;
- ``DECLARE name ... CURSOR WITH HOLD``.

Text inside strings, dollar-quoted bodies (a ``DO`` block, a function's body) and comments is never read.
"""

from __future__ import annotations

from dataclasses import dataclass

from poolwarden.check import knowledge as K
from poolwarden.check.sql import Token, statements


@dataclass(frozen=True, slots=True)
class SessionState:
    """One piece of session state: how the statement is cited (``SET statement_timeout``) and what breaks."""

    what: str
    breaks: str
    prepared: bool = False  # a prepared statement: fine behind PgBouncer with protocol-level support


def session_state(text: str) -> list[SessionState]:
    """The session state each statement of ``text`` leaves (see the module doc), in order."""
    out: list[SessionState] = []
    for stmt in statements(text):
        first = next((i for i, t in enumerate(stmt) if not (t.kind == "punct" and t.value == "(")), None)
        if first is None:
            continue
        lead = stmt[first]
        found = _leading(lead.value, stmt[first + 1:]) if lead.kind == "word" else None
        if found is not None:
            out.append(found)
        out.extend(_functions(stmt))
    return out


def _leading(verb: str, rest: list[Token]) -> SessionState | None:
    """What a statement starting with ``verb`` leaves, by its keywords."""
    values = [t.value if t.kind == "word" else "" for t in rest]
    if verb == "SET":
        head = values[0] if values else ""
        if head in K.SET_TRANSACTION_SCOPED:
            return None
        name = values[1] if head == "SESSION" and len(values) > 1 else head
        if head == "SESSION" and name in K.SET_TRANSACTION_SCOPED:
            return None
        if head == "SESSION" and name in K.SET_SESSION_WORDS:  # SET SESSION CHARACTERISTICS / AUTHORIZATION
            return SessionState(f"`SET SESSION {name}`", K.BREAKS_SET)
        return SessionState(f"`SET {_name(rest[1:] if head == 'SESSION' else rest)}`", K.BREAKS_SET)
    if verb == "LISTEN":
        return SessionState(f"`LISTEN {_name(rest)}`", K.BREAKS_LISTEN)
    if verb == "PREPARE" and values and values[0] != "TRANSACTION":
        return SessionState(f"`PREPARE {_name(rest)}`", K.BREAKS_PREPARE)
    if verb == "CREATE":
        kinds = [v for v in values[:6] if v not in K.CREATE_PREFIX_WORDS]  # OR REPLACE, GLOBAL / LOCAL
        if len(kinds) > 1 and kinds[0] in K.TEMP_WORDS and kinds[1] in K.TEMP_OBJECTS \
                and not _has(values, ("ON", "COMMIT", "DROP")):
            return SessionState(f"a temporary {kinds[1].lower()} (`CREATE TEMP {kinds[1]}`)", K.BREAKS_TEMP)
        return None
    if verb in ("SELECT", "WITH") and (_has(values, ("INTO", "TEMP")) or _has(values, ("INTO", "TEMPORARY"))):
        return SessionState("a temporary table (`SELECT ... INTO TEMP`)", K.BREAKS_TEMP)
    if verb == "DECLARE" and "CURSOR" in values:
        cursor_at = values.index("CURSOR")
        if _has(values[cursor_at:], ("WITH", "HOLD")):
            return SessionState(f"a `WITH HOLD` cursor (`DECLARE {_name(rest)}`)", K.BREAKS_HOLD)
    return None


def _functions(stmt: list[Token]) -> list[SessionState]:
    """Session advisory locks and ``set_config(..., false)`` called anywhere in the statement."""
    out: list[SessionState] = []
    for i, token in enumerate(stmt):
        if token.kind != "word" or i + 1 >= len(stmt) or stmt[i + 1].value != "(" or stmt[i + 1].kind != "punct":
            continue
        name = token.value.lower()
        if name in K.SESSION_LOCK_FUNCTIONS:
            out.append(SessionState(f"a session advisory lock (`{name}()`)", K.BREAKS_LOCK))
        elif name == K.SET_CONFIG_FUNCTION:
            args = _arguments(stmt, i + 1)
            if len(args) == 3 and len(args[2]) == 1 and _is_false(args[2][0]):
                setting = args[0][0].value if len(args[0]) == 1 and args[0][0].kind == "string" else "…"
                out.append(SessionState(f"`set_config('{setting}', …, false)`", K.BREAKS_SET))
    return out


def _arguments(stmt: list[Token], open_at: int) -> list[list[Token]]:
    """The arguments of the call whose ``(`` is at ``open_at``, split at top-level commas."""
    args: list[list[Token]] = [[]]
    depth = 0
    for token in stmt[open_at:]:
        if token.kind == "punct" and token.value == "(":
            depth += 1
            if depth == 1:
                continue
        elif token.kind == "punct" and token.value == ")":
            depth -= 1
            if depth == 0:
                break
        elif token.kind == "punct" and token.value == "," and depth == 1:
            args.append([])
            continue
        args[-1].append(token)
    return args


def _is_false(token: Token) -> bool:
    if token.kind == "word":
        return token.value == "FALSE"
    return token.kind == "string" and token.value.strip().lower() in K.FALSE_LITERALS


def _has(values: list[str], seq: tuple[str, ...]) -> bool:
    n = len(seq)
    return any(tuple(values[i:i + n]) == seq for i in range(len(values) - n + 1))


def _name(rest: list[Token]) -> str:
    """The name ``rest`` starts with, as cited in messages: dotted parts, an f-string's fields as ``{…}``;
    ``…`` when it is not spelled out."""
    parts: list[str] = []
    i, want_name = 0, True  # a name part may follow the start, a "." or a field
    while i < len(rest):
        token = rest[i]
        if token.kind in ("word", "ident") and want_name:
            parts.append(token.value.lower() if token.kind == "word" else token.value)
            want_name = False
        elif token.kind == "punct" and token.value == "{" and i + 1 < len(rest) and rest[i + 1].value == "}":
            parts.append("{…}")
            i, want_name = i + 1, True
        elif token.kind == "punct" and token.value == "." and parts and not want_name:
            parts.append(".")
            want_name = True
        else:
            break
        i += 1
    return "".join(parts).rstrip(".") or "…"
