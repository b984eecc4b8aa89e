"""Liveness and readiness: ``/healthz`` answers if the process runs, ``/readyz``
if the database answers and the schema is current."""
from __future__ import annotations

from flask import Flask, jsonify

from server import db, migrations


def init_app(app: Flask) -> None:
    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz():
        try:
            waiting = migrations.pending(db.database.obj)
        except Exception as exc:  # the database is down or unreachable
            return jsonify(status="unavailable", reason=type(exc).__name__), 503
        if waiting:
            return jsonify(status="migrations_pending", pending=waiting), 503
        return jsonify(status="ok")
