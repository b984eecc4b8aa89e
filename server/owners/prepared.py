"""Queries whose SQL is generated once, for the owner API's hottest reads.

peewee builds a query's SQL afresh on every execution; for ``GET
/houses/{id}/bills`` that was a quarter of the request's CPU (profiled on
PostgreSQL: 3 statements, ~300k small Python calls each time).  :func:`run`
builds the query once per (shape, database class) with marker values in place
of the caller's, remembers the SQL and where each marker landed among the
parameters, and from then on executes that SQL with the real values.  Rows are
read through the same query's cursor wrapper, so every field's ``python_value``
still applies (Decimal, dates and timestamps on SQLite and PostgreSQL alike)
and peewee still logs each statement (query counts in tests stay true).

Only ``int`` and ``str`` values can be substituted: they pass ``db_value``
unchanged, so the cached parameters are exactly what peewee would have sent.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

import peewee as pw

from server import db as dbmod

_cache: dict[tuple, tuple[pw.Query, str, tuple, tuple[tuple[int, str], ...]]] = {}
_lock = threading.Lock()


def _marker(index: int, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"prepared queries substitute int or str values, not {type(value).__name__}")
    if isinstance(value, int):
        return -(7_300_000_000_017 + index * 1_000_003)       # no id, amount or count looks like it
    return f"\x01prepared-marker-{index}\x01"


def _compile(key: tuple, build: Callable[..., pw.Query], names: tuple[str, ...], values: dict):
    markers = {name: _marker(i, values[name]) for i, name in enumerate(names)}
    query = build(**markers)
    sql, params = query.sql()
    slots = []
    for position, param in enumerate(params):
        for name, marker in markers.items():
            if type(param) is type(marker) and param == marker:
                slots.append((position, name))
    found = sorted(name for _, name in slots)
    if found != sorted(names):
        raise RuntimeError(f"prepared query {key!r}: each value must be used once as a parameter "
                           f"(found {found}, expected {sorted(names)})")
    return query, sql, tuple(params), tuple(slots)


def run(key: tuple, build: Callable[..., pw.Query], **values) -> pw.CursorWrapper:
    """Execute ``build(**values)`` and return its cursor wrapper (iterate it for rows).

    ``key`` names the query's shape: everything that changes the SQL other than
    ``values`` (which filters are present, for instance) must be part of it."""
    names = tuple(sorted(values))
    cache_key = (key, names, type(dbmod.database.obj))
    entry = _cache.get(cache_key)
    if entry is None:
        with _lock:
            entry = _cache.get(cache_key)
            if entry is None:
                entry = _cache[cache_key] = _compile(key, build, names, values)
    query, sql, params, slots = entry
    actual = list(params)
    for position, name in slots:
        value = values[name]
        if isinstance(value, bool) or type(value) is not type(actual[position]):
            raise TypeError(f"prepared query {key!r}: {name} must be {type(actual[position]).__name__}")
        actual[position] = value
    cursor = dbmod.database.execute_sql(sql, actual)
    return query._get_cursor_wrapper(cursor)
