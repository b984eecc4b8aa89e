"""What every ``wuyepay`` command needs: the configuration and a bound database.

Kept apart from ``server.cli`` (which imports every command module) so a
command module can import these without a circular import.
"""
from __future__ import annotations

import functools

from server import db as dbmod
from server.config import Config


def load_config() -> Config:
    return Config.from_env().finalize()


def with_database(fn):
    """Bind the database from the environment and hold a connection for the command."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        config = load_config()
        dbmod.bind(config.DATABASE_URL)
        with dbmod.connection():
            return fn(*args, config=config, **kwargs)

    return wrapper
