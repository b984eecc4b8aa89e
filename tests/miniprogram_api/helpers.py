"""Counting the SQL statements a piece of code sends (peewee logs each one it
executes on the ``peewee`` logger, at DEBUG)."""
from __future__ import annotations

import contextlib
import logging


class _Collector(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record):
        sql = record.msg[0] if isinstance(record.msg, tuple) else str(record.msg)
        self.statements.append(sql)


@contextlib.contextmanager
def count_queries():
    """``with count_queries() as q: …`` then ``len(q)`` / ``q`` (the SQL strings)."""
    logger = logging.getLogger("peewee")
    handler, level = _Collector(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.statements
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
