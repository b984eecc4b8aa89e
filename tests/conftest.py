"""Shared fixtures.

``database`` runs a test on both SQLite and a real PostgreSQL server started
for the session (set WUYEPAY_TEST_BACKENDS=sqlite to narrow it locally; CI
always runs both).  Each test gets an empty, fully migrated schema.
"""
from __future__ import annotations

import itertools
import os
import shutil
import sqlite3

import pytest

from server import db as dbmod
from server import migrations
from server.models import ALL_MODELS
from tests.pg_server import PostgresServer

BACKENDS = [b for b in os.environ.get("WUYEPAY_TEST_BACKENDS", "sqlite,postgres").split(",") if b]
if os.environ.get("CI") and set(BACKENDS) != {"sqlite", "postgres"}:
    raise RuntimeError("CI must run every backend")


@pytest.fixture(scope="session")
def pg_server():
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_template_url(pg_server):
    """A database migrated once; each test truncates its tables."""
    url = pg_server.create_database("wuyepay_test")
    db = dbmod.make_database(url)
    migrations.upgrade(db)
    db.close()
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    db = dbmod.make_database(f"sqlite:///{path}")
    migrations.upgrade(db)
    db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path


def _fresh_sqlite(sqlite_template, tmp_path) -> str:
    path = tmp_path / "test.db"
    src = sqlite3.connect(sqlite_template)
    dst = sqlite3.connect(path)
    src.backup(dst)
    src.close()
    dst.close()
    return f"sqlite:///{path}"


def _truncate_postgres(db) -> None:
    tables = ", ".join(f'"{m._meta.table_name}"' for m in ALL_MODELS)
    db.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def _bind(url: str):
    db = dbmod.bind(url)
    db.connect(reuse_if_open=True)
    return db


@pytest.fixture(params=BACKENDS)
def database(request, tmp_path):
    """A bound, empty, migrated database: SQLite and PostgreSQL in turn."""
    if request.param == "sqlite":
        url = _fresh_sqlite(request.getfixturevalue("sqlite_template"), tmp_path)
        db = _bind(url)
    else:
        url = request.getfixturevalue("pg_template_url")
        db = _bind(url)
        _truncate_postgres(db)
    db.test_url = url
    yield db
    if not db.is_closed():
        db.close()


@pytest.fixture
def sqlite_database(sqlite_template, tmp_path):
    db = _bind(_fresh_sqlite(sqlite_template, tmp_path))
    db.test_url = str(db.database)
    yield db
    db.close()


@pytest.fixture
def pg_database(pg_template_url):
    db = _bind(pg_template_url)
    _truncate_postgres(db)
    db.test_url = pg_template_url
    yield db
    db.close()


@pytest.fixture
def make_app(tmp_path):
    from server import create_app
    from server.config import TestingConfig

    def factory(url: str, **overrides):
        cfg = TestingConfig(INSTANCE_PATH=str(tmp_path / "instance"), DATABASE_URL=url)
        for key, value in overrides.items():
            setattr(cfg, key, value)
        return create_app(cfg)

    return factory


@pytest.fixture
def app(database, make_app):
    app = make_app(database.test_url)
    # create_app rebinds the proxy to a new Database object; keep tests on it.
    dbmod.database.connect(reuse_if_open=True)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def pytest_report_header(config):
    return f"wuyepay backends: {', '.join(BACKENDS)}; redis-server: {shutil.which('redis-server')}"


_empty_counter = itertools.count()


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request, tmp_path):
    """A database with no tables at all, on both backends (for migration tests)."""
    if request.param == "sqlite":
        db = dbmod.make_database(f"sqlite:///{tmp_path / 'empty.db'}")
    else:
        server = request.getfixturevalue("pg_server")
        db = dbmod.make_database(server.create_database(f"empty_{next(_empty_counter)}"))
    db.connect()
    yield db
    db.close()
