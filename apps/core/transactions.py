"""Guard for the rule "no network call while a database transaction is open".

A provider or webhook request made inside `atomic()` keeps a row (or, on SQLite in IMMEDIATE mode, the
whole database) locked for as long as the remote side takes to answer. Code that calls out first asks
`ensure_no_transaction`; in development and tests a violation raises, in production it is logged so a
missed case degrades instead of failing a customer's request.
"""

import logging

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)


class NetworkCallInTransaction(RuntimeError):
    """A network call was attempted while a database transaction was open."""


def open_transaction_aliases() -> list[str]:
    """Database aliases with an atomic block open, ignoring the blocks a test case wraps around a test."""
    return [
        alias
        for alias in connections
        if connections.settings[alias] is not None
        and any(not block._from_testcase for block in getattr(connections[alias], "atomic_blocks", []))
    ]


def ensure_no_transaction(*, operation: str) -> None:
    aliases = open_transaction_aliases()
    if not aliases:
        return
    message = f"{operation} attempted inside a database transaction ({', '.join(aliases)})"
    if settings.PATCHBAY_RAISE_ON_NETWORK_IN_TRANSACTION:
        raise NetworkCallInTransaction(message)
    logger.error(message)
