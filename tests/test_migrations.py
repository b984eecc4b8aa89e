"""Migrations build exactly the current models, from empty and from every
earlier version, on SQLite and PostgreSQL."""
from __future__ import annotations


import pytest

from server import db as dbmod
from server import migrations



def _names():
    return [m.name for m in migrations.runner(dbmod.make_database("sqlite:///:memory:")).migrations()]


def test_upgrade_from_empty_matches_the_models(empty_database):
    applied = migrations.upgrade(empty_database)
    assert applied == _names()
    assert not migrations.drift(empty_database), migrations.drift(empty_database)
    assert migrations.pending(empty_database) == []


def test_upgrade_twice_applies_nothing_the_second_time(empty_database):
    migrations.upgrade(empty_database)
    assert migrations.upgrade(empty_database) == []


@pytest.mark.parametrize("previous", _names()[:-1] or [None])
def test_upgrade_from_each_previous_version_keeps_data(empty_database, previous):
    if previous is None:
        pytest.skip("only one migration exists: upgrade-from-empty covers it")
    migrations.upgrade(empty_database, target=previous)
    empty_database.execute_sql(
        "INSERT INTO community (name, code, address, created_at) VALUES ('和园', 'HY', '', "
        "'2026-01-01 00:00:00.000000+00:00')")
    migrations.upgrade(empty_database)
    assert not migrations.drift(empty_database)
    cursor = empty_database.execute_sql("SELECT name FROM community")
    assert [row[0] for row in cursor.fetchall()] == ["和园"]


def test_every_migration_file_is_numbered_in_sequence():
    names = _names()
    assert names, "no migrations found"
    assert [int(n.split("_", 1)[0]) for n in names] == list(range(1, len(names) + 1))
