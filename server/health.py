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
        if app.config.get("REDIS_URL"):
            import redis

            try:
                redis.Redis.from_url(app.config["REDIS_URL"], socket_timeout=2).ping()
            except redis.RedisError as exc:
                return jsonify(status="unavailable", reason=f"redis: {type(exc).__name__}"), 503
        return jsonify(status="ok")
