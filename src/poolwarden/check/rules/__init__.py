"""The PW1xx rules: one file, one class each. Adding a rule means adding a file and a line here."""

from __future__ import annotations

from poolwarden.check.rule import Rule
from poolwarden.check.rules.pw101_swallowed_db_error import SwallowedDbError
from poolwarden.check.rules.pw102_event_loop_per_call import EventLoopPerCall
from poolwarden.check.rules.pw103_unbounded_pool import UnboundedPool
from poolwarden.check.rules.pw104_io_in_transaction import IoInTransaction
from poolwarden.check.rules.pw105_unreleased_connection import UnreleasedConnection
from poolwarden.check.rules.pw106_connect_without_timeout import ConnectWithoutTimeout
from poolwarden.check.rules.pw107_engine_per_call import EnginePerCall
from poolwarden.check.rules.pw108_skipped_db_work import SkippedDbWork
from poolwarden.check.rules.pw109_persistent_connections import PersistentConnections
from poolwarden.check.rules.pw110_default_django_pool import DefaultDjangoPool
from poolwarden.check.rules.pw111_session_state_behind_pooler import SessionStateBehindPooler

RULES: tuple[type[Rule], ...] = (
    SwallowedDbError,
    EventLoopPerCall,
    UnboundedPool,
    IoInTransaction,
    UnreleasedConnection,
    ConnectWithoutTimeout,
    EnginePerCall,
    SkippedDbWork,
    PersistentConnections,
    DefaultDjangoPool,
    SessionStateBehindPooler,
)

__all__ = [
    "RULES",
    "ConnectWithoutTimeout",
    "DefaultDjangoPool",
    "EnginePerCall",
    "EventLoopPerCall",
    "IoInTransaction",
    "PersistentConnections",
    "SessionStateBehindPooler",
    "SkippedDbWork",
    "SwallowedDbError",
    "UnboundedPool",
    "UnreleasedConnection",
]
