"""Versioned schema migrations (peewee's ``playhouse.migrations`` runner).

Each ``NNNN_name.py`` beside this file defines ``up(migrator, db)`` with frozen
copies of the tables it creates, so an old migration never changes meaning
when the models move on.  ``tests/test_migrations.py`` proves that applying
them all yields exactly the current models, on SQLite and PostgreSQL.

To add one after changing models::

    python -m playhouse.migrations sqlite:///instance/wuyepay.db generate NAME \
        -d server/migrations server.models:ALL_MODELS
"""
from __future__ import annotations

from pathlib import Path

from playhouse.migrations import Runner

DIRECTORY = str(Path(__file__).resolve().parent)
HISTORY_TABLE = "schema_migration"


def runner(db) -> Runner:
    return Runner(db, directory=DIRECTORY, table_name=HISTORY_TABLE)


def upgrade(db, target: str | None = None) -> list[str]:
    """Apply pending migrations (up to ``target``); return their names."""
    return runner(db).up(target)


def status(db) -> list[tuple[str, bool]]:
    return [(m.name, bool(m.applied)) for m in runner(db).status()]


def pending(db) -> list[str]:
    return [name for name, applied in status(db) if not applied]


def drift(db):
    """Differences between the migrated schema and the models (empty when none)."""
    from playhouse.schema_diff import diff_models

    from server.models import ALL_MODELS

    return diff_models(db, ALL_MODELS)
