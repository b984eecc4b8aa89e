"""The database: declared unbound here, bound by the app factory or the CLI.

SQLite is the embedded default; PostgreSQL is production.  Both are reached
through ``playhouse.db_url`` so ``DATABASE_URL`` alone chooses.  Two details
keep money exact on SQLite: DECIMAL columns are stored as TEXT (SQLite's
NUMERIC affinity would turn ``12.3400`` into a float), and every write
transaction starts with ``BEGIN IMMEDIATE`` so concurrent writers queue
instead of failing to upgrade their lock.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json

import peewee
from playhouse.db_url import connect

database = peewee.DatabaseProxy()

UTC = dt.timezone.utc


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class UTCDateTimeField(peewee.Field):
    """An aware UTC timestamp (``timestamptz`` on PostgreSQL).

    Naive datetimes are refused: RQ, freezegun and the server clock all
    disagree about what a naive time means, so we never guess.
    """

    field_type = "TIMESTAMPTZ"

    def db_value(self, value):
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"{self.name}: expected datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError(f"{self.name}: naive datetime {value!r}; use an aware UTC time")
        value = value.astimezone(UTC)
        db = self.model._meta.database
        if isinstance(getattr(db, "obj", db), peewee.SqliteDatabase):
            # Fixed-width text sorts chronologically.
            return value.strftime("%Y-%m-%d %H:%M:%S.%f+00:00")
        return value

    def python_value(self, value):
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JSONField(peewee.TextField):
    """JSON kept as text, identical on SQLite and PostgreSQL."""

    def db_value(self, value):
        if value is None:
            return None
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)

    def python_value(self, value):
        if value is None:
            return None
        return json.loads(value)


def make_database(url: str) -> peewee.Database:
    if url.startswith("sqlite"):
        db = connect(
            url,
            field_types={"DECIMAL": "TEXT"},
            lock_type="IMMEDIATE",
            pragmas={
                "journal_mode": "wal",
                "foreign_keys": 1,
                "busy_timeout": 30_000,
                "synchronous": "normal",
            },
        )
    else:
        db = connect(url)
    return db


def bind(url: str) -> peewee.Database:
    """Bind the global proxy to the database at ``url`` and return it."""
    db = make_database(url)
    database.initialize(db)
    return db


def is_postgres() -> bool:
    return isinstance(database.obj, peewee.PostgresqlDatabase)


def is_sqlite() -> bool:
    return isinstance(database.obj, peewee.SqliteDatabase)


def transaction():
    """A write transaction.  On SQLite BEGIN IMMEDIATE serialises writers."""
    return database.atomic()


def for_update(query):
    """Lock the selected rows until the transaction ends.

    PostgreSQL takes row locks; SQLite has none, but every write transaction
    there already holds the database's write lock (BEGIN IMMEDIATE).
    """
    if is_postgres():
        return query.for_update()
    return query


@contextlib.contextmanager
def connection():
    """Open a connection for a CLI command or a job, closing it afterwards."""
    with database.connection_context():
        yield database
