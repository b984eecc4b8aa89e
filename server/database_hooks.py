"""Bind the database for the web app and give each request its connection."""
from __future__ import annotations

from flask import Flask

from server import db


def init_app(app: Flask) -> None:
    db.bind(app.config["DATABASE_URL"])

    @app.before_request
    def _open_connection():
        db.database.connect(reuse_if_open=True)

    @app.teardown_request
    def _close_connection(exc):
        if not db.database.is_closed():
            db.database.close()
