"""What poolwarden knows about database drivers, pools and external I/O APIs.

Everything the rules recognise is declared in this package as data, keyed by fully qualified names
(``sqlalchemy.ext.asyncio.create_async_engine``) or by the *kind* of a value and a method
name (``(POOL, "acquire")``). Rules never match on spelling; they ask the file context,
which resolves names through imports and assignments and then consults these tables.

The facts live in one module per domain; this package is their one namespace: every public name of
every module below is ``K.NAME`` after ``from poolwarden.check import knowledge as K``.

- :mod:`.kinds`: the kinds of values, the effects of calls, the kinds of I/O (the vocabulary)
- :mod:`.imports`: what an import says about a file (DB-aware, library, test code; the pre-scan)
- :mod:`.values`: where values of each kind come from (factories, annotations, name hints)
- :mod:`.methods`: what methods of DB values do (statements, cleanup, transactions, checkouts, release)
- :mod:`.external_io`: the clients and calls that leave the process
- :mod:`.pools`: connects and their timeouts, engines, pools and their sizes
- :mod:`.errors`: the exceptions an outage raises and what handlers do
- :mod:`.loops`: event loops and the calls that make or run them
- :mod:`.orm`: Django's ORM and DRF: which calls run SQL, which only build it
- :mod:`.django`: Django's database settings, their defaults, and what tells a project serves ASGI
- :mod:`.pooler`: what a transaction-mode pooler breaks (SQL, driver options), what tells code runs behind one
"""

from __future__ import annotations

from poolwarden.check.knowledge.django import *  # noqa: F403
from poolwarden.check.knowledge.errors import *  # noqa: F403
from poolwarden.check.knowledge.external_io import *  # noqa: F403
from poolwarden.check.knowledge.imports import *  # noqa: F403
from poolwarden.check.knowledge.kinds import *  # noqa: F403
from poolwarden.check.knowledge.loops import *  # noqa: F403
from poolwarden.check.knowledge.methods import *  # noqa: F403
from poolwarden.check.knowledge.orm import *  # noqa: F403
from poolwarden.check.knowledge.pooler import *  # noqa: F403
from poolwarden.check.knowledge.pools import *  # noqa: F403
from poolwarden.check.knowledge.values import *  # noqa: F403
