"""Bind the database for the web app and give each request its connection."""
from __future__ import annotations

from flask import Flask

from server import db


def init_app(app: Flask) -> None:
    db.bind(app.config["DATABASE_URL"])

    # Connections open lazily on the first query (peewee's autoconnect), so an
    # endpoint decides itself what a database outage means (the WeChat callback
    # answers 500 FAIL so WeChat retries); each request's connection is closed.
    @app.teardown_request
    def _close_connection(exc):
        if not db.database.is_closed():
            db.database.close()
