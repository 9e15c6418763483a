"""SQL text in code: where a call sends it, and its tokens.

:func:`sql_text` says which SQL text a call sends or wraps, when the code spells it: the first argument
(or ``query=`` / ``statement=`` / ``sql=``) of an execute-like method (:data:`K.SQL_METHODS`) on a
database handle or any receiver of a database-aware module, and of the functions that wrap SQL for a
driver (``sqlalchemy.text``, psycopg's ``sql.SQL``, Django's ``RawSQL``). Literal strings, module-level
constants, a local the function last assigned a string to (``sql = "..."; cur.execute(sql)``), ``+``
concatenations, ``str.format`` / ``%`` templates (their text, placeholders kept) and f-strings are read
(an f-string's replacement fields become ``{}``).

:func:`statements` splits SQL text into statements of :class:`Token`: words, strings, quoted identifiers,
numbers, parameters and punctuation, with comments (``--``, nested ``/* */``), whitespace and the bodies of
strings and dollar-quoted strings left out of the words. It never raises: unterminated strings and
comments run to the end of the text. Not a parser: rules match short keyword sequences on its tokens.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from poolwarden.check import knowledge as K
from poolwarden.check.args import string_value

if TYPE_CHECKING:
    from poolwarden.check.context import FileContext
    from poolwarden.check.scope import CallInfo

TokenKind = Literal["word", "string", "ident", "number", "param", "punct"]


@dataclass(frozen=True, slots=True)
class Token:
    """One token: ``word`` values are upper-cased keywords or names; ``string`` values are the string's body."""

    kind: TokenKind
    value: str

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.value in words


def sql_text(node: ast.Call, info: CallInfo, ctx: FileContext) -> str | None:
    """The SQL text ``node`` sends or wraps, as far as the code spells it (see the module doc), or None."""
    func = node.func
    if info.target in K.SQL_TEXT_FUNCTIONS:
        return _text(_first(node), ctx)
    if not isinstance(func, ast.Attribute) or func.attr not in K.SQL_METHODS or info.io is not None:
        return None
    if not (info.db or ctx.db_aware):
        return None
    arg = _first(node)
    if isinstance(arg, ast.Call) and ctx.call(arg).target in K.SQL_TEXT_FUNCTIONS:
        return None  # the wrapped text is read at the wrapping call
    return _text(arg, ctx)


def _text(arg: ast.expr | None, ctx: FileContext) -> str | None:
    if isinstance(arg, ast.Name) and arg.id in ctx.function.strings:
        return ctx.function.strings[arg.id]  # `sql = "..."; cursor.execute(sql)`
    if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) and arg.func.attr in K.SQL_FORMAT_METHODS:
        return _text(arg.func.value, ctx)  # "SET x = {}".format(v), sql.SQL("SET x = {}").format(...)
    if isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Mod):
        return _text(arg.left, ctx)  # "SET x = %s" % v
    return string_value(arg, ctx)


def _first(node: ast.Call) -> ast.expr | None:
    if node.args and not isinstance(node.args[0], ast.Starred):
        return node.args[0]
    return next((k.value for k in node.keywords if k.arg in K.SQL_KEYWORDS), None)


def statements(text: str) -> list[list[Token]]:
    """The statements of ``text`` (split on ``;`` outside strings and comments), each a non-empty token list."""
    out: list[list[Token]] = []
    current: list[Token] = []
    for token in tokens(text):
        if token.kind == "punct" and token.value == ";":
            if current:
                out.append(current)
            current = []
        else:
            current.append(token)
    if current:
        out.append(current)
    return out


def tokens(text: str) -> list[Token]:
    """The tokens of ``text`` (see the module doc)."""
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif text.startswith("/*", i):
            i = _block_comment_end(text, i)
        elif c == "'" or (c in "EeBbXxNnUu" and text.startswith("'", i + 1)
                          and (i == 0 or not _word_char(text[i - 1]))):
            start = i + 1 if c == "'" else i + 2
            body, i = _quoted(text, start, "'", backslash=c in "Ee")
            out.append(Token("string", body))
        elif c == '"':
            body, i = _quoted(text, i + 1, '"', backslash=False)
            out.append(Token("ident", body))
        elif c == "$" and i + 1 < n and text[i + 1].isdigit():
            j = i + 1
            while j < n and text[j].isdigit():
                j += 1
            out.append(Token("param", text[i:j]))
            i = j
        elif c == "$":
            j = i + 1
            while j < n and _word_char(text[j]) and text[j] != "$":
                j += 1
            if j < n and text[j] == "$":  # $$ or $tag$: a dollar-quoted string
                tag = text[i:j + 1]
                end = text.find(tag, j + 1)
                body_end = n if end < 0 else end
                out.append(Token("string", text[j + 1:body_end]))
                i = n if end < 0 else end + len(tag)
            else:
                out.append(Token("punct", c))
                i += 1
        elif c.isalpha() or c == "_":
            j = i + 1
            while j < n and (_word_char(text[j]) or text[j] == "$"):
                j += 1
            out.append(Token("word", text[i:j].upper()))
            i = j
        elif c.isdigit():
            j = i + 1
            while j < n and (text[j].isdigit() or text[j] == "."):
                j += 1
            out.append(Token("number", text[i:j]))
            i = j
        elif c == "%" and text.startswith(("%s", "%b", "%t"), i):
            out.append(Token("param", text[i:i + 2]))
            i += 2
        elif c == "%" and text.startswith("%(", i) and ")" in text[i:]:
            j = text.index(")", i) + 2
            out.append(Token("param", text[i:j]))
            i = j
        elif c == ":" and i + 1 < n and (text[i + 1].isalpha() or text[i + 1] == "_") \
                and not text.startswith("::", i - 1):
            j = i + 1
            while j < n and _word_char(text[j]):
                j += 1
            out.append(Token("param", text[i:j]))
            i = j
        else:
            out.append(Token("punct", c))
            i += 1
    return out


def _word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def _quoted(text: str, i: int, quote: str, backslash: bool) -> tuple[str, int]:
    """The body of a quoted string or identifier starting at ``i`` (after the quote), and the index past it."""
    parts: list[str] = []
    n = len(text)
    while i < n:
        c = text[i]
        if backslash and c == "\\" and i + 1 < n:
            parts.append(text[i + 1])
            i += 2
        elif c == quote:
            if text.startswith(quote * 2, i):
                parts.append(quote)
                i += 2
            else:
                return "".join(parts), i + 1
        else:
            parts.append(c)
            i += 1
    return "".join(parts), n


def _block_comment_end(text: str, i: int) -> int:
    """The index past the (nested) block comment starting at ``i``."""
    depth, n = 0, len(text)
    while i < n:
        if text.startswith("/*", i):
            depth += 1
            i += 2
        elif text.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return n
