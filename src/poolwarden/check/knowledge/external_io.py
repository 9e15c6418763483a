"""External I/O: the clients, methods and functions that leave the process (HTTP, AWS, SMTP, LLMs...).

Promises: which methods of each I/O client kind do I/O (:class:`ClientIo`), the module-level library
calls and functions that do, the queue methods that enqueue a task, and the annotations that name an
I/O client. Data only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from poolwarden.check.knowledge.kinds import API, BOTO, HTTP, LLM, SMTP, Io, Kind

# -- external I/O -------------------------------------------------------------------------------
HTTP_METHODS: Final = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "request", "send", "stream", "ws_connect"}
)
# (``send`` / ``send_messages``: Django's ``EmailMessage.send()`` and a mail connection's batch send)
SMTP_METHODS: Final = frozenset({"sendmail", "send_message", "login", "starttls", "connect", "ehlo", "send",
                                 "send_messages"})


@dataclass(frozen=True)
class ClientIo:
    """The methods of an I/O client kind that do I/O: ``methods`` (None: every method but ``except_``)."""

    io: Io
    methods: frozenset[str] | None = None
    except_: frozenset[str] = frozenset()

    def applies(self, method: str) -> bool:
        return method not in self.except_ if self.methods is None else method in self.methods


CLIENT_IO: Final[dict[Kind, ClientIo]] = {
    HTTP: ClientIo(Io.HTTP, HTTP_METHODS),
    SMTP: ClientIo(Io.SMTP, SMTP_METHODS),
    # boto3 sessions build clients in-process (`session.client("s3")`); the client's calls go out
    BOTO: ClientIo(Io.AWS, except_=frozenset({"get_paginator", "get_waiter", "meta", "exceptions", "client",
                                              "resource"})),
    LLM: ClientIo(Io.LLM, frozenset({"create", "parse", "stream", "generate"})),
    API: ClientIo(Io.API, except_=frozenset({"close", "aclose", "token", "base_url", "headers", "logger"})),
}
# Libraries whose module-level resource classes call the network: `stripe.Customer.create(...)`.
IO_MODULE_METHODS: Final[dict[str, frozenset[str]]] = {
    "stripe": frozenset({"create", "retrieve", "modify", "list", "delete", "cancel", "capture", "confirm",
                         "search", "pay", "void_invoice", "finalize_invoice", "create_usage_record"}),
}
# An HTTP client built on one of these transports talks to an app in-process (tests), not the network.
IN_PROCESS_TRANSPORTS: Final = ("ASGITransport", "WSGITransport")

IO_FUNCTIONS: Final[dict[str, Io]] = {
    **{f"requests.{m}": Io.HTTP for m in ("get", "post", "put", "patch", "delete", "head", "options", "request")},
    **{f"httpx.{m}": Io.HTTP
       for m in ("get", "post", "put", "patch", "delete", "head", "options", "request", "stream")},
    "aiohttp.request": Io.HTTP,
    "urllib.request.urlopen": Io.HTTP,
    "urllib.request.urlretrieve": Io.HTTP,
    "urllib3.request": Io.HTTP,
    "time.sleep": Io.SLEEP,
    "asyncio.sleep": Io.SLEEP,
    "gevent.sleep": Io.SLEEP,
    "subprocess.run": Io.SUBPROCESS,
    "subprocess.call": Io.SUBPROCESS,
    "subprocess.check_call": Io.SUBPROCESS,
    "subprocess.check_output": Io.SUBPROCESS,
    "subprocess.Popen": Io.SUBPROCESS,
    "asyncio.create_subprocess_exec": Io.SUBPROCESS,
    "asyncio.create_subprocess_shell": Io.SUBPROCESS,
    "os.system": Io.SUBPROCESS,
    "socket.create_connection": Io.SOCKET,
    "smtplib.SMTP": Io.SMTP,
    "smtplib.SMTP_SSL": Io.SMTP,
    "aiosmtplib.send": Io.SMTP,
    "django.core.mail.send_mail": Io.SMTP,
    "django.core.mail.send_mass_mail": Io.SMTP,
    "django.core.mail.mail_admins": Io.SMTP,
    "django.core.mail.mail_managers": Io.SMTP,
}
QUEUE_METHODS: Final = frozenset({"delay", "apply_async", "send_task"})

# Annotations of I/O clients: qualified type name -> kind.
IO_ANNOTATIONS: Final[dict[str, Kind]] = {
    "httpx.AsyncClient": HTTP,
    "httpx.Client": HTTP,
    "requests.Session": HTTP,
    "aiohttp.ClientSession": HTTP,
    "openai.OpenAI": LLM,
    "openai.AsyncOpenAI": LLM,
    "slack_sdk.WebClient": API,
    "slack_sdk.web.async_client.AsyncWebClient": API,
}
