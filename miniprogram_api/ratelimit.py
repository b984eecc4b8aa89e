"""Rate limits (Flask-Limiter): Redis when ``REDIS_URL`` is set, so every
worker shares the counts; memory otherwise (one process, the embedded mode).

Two limits are declared here, as decorators for ``operation(limit=…)``:

* ``login``: per client address, against code guessing and login storms;
* ``order_creation``: per owner (the owner is authenticated first), ready for
  ``POST /api/v1/orders``.

A breach is a 429 in our error format, with ``Retry-After``.  The figures are
settings: ``RATELIMIT_LOGIN`` and ``RATELIMIT_ORDER_CREATION`` in app config.

Limits guard writes and sign-ins only: reads (GET, HEAD, OPTIONS) skip the
limiter entirely, so the owners' most frequent requests do not pay for its
bookkeeping.  A limit declared on a read would be ignored (a test checks that
every limited route is a write).
"""
from __future__ import annotations

from flask import Flask, current_app, g, jsonify, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address

DEFAULTS = {
    "RATELIMIT_LOGIN": "20 per minute; 200 per hour",
    "RATELIMIT_ORDER_CREATION": "10 per minute; 100 per hour",
    "RATELIMIT_BINDING": "10 per minute; 50 per hour",
}

limiter = Limiter(key_func=get_remote_address, headers_enabled=True, key_prefix="wuyepay")


def _owner_key() -> str:
    session = g.get("owner_session")
    return f"owner:{session.owner_id}" if session is not None else f"ip:{get_remote_address()}"


def _setting(name: str):
    return lambda: current_app.config.get(name) or DEFAULTS[name]


READS = frozenset({"GET", "HEAD", "OPTIONS"})


@limiter.request_filter
def _reads_are_not_limited() -> bool:
    return request.method in READS


login = limiter.limit(_setting("RATELIMIT_LOGIN"), key_func=get_remote_address)
order_creation = limiter.limit(_setting("RATELIMIT_ORDER_CREATION"), key_func=_owner_key)
binding = limiter.limit(_setting("RATELIMIT_BINDING"), key_func=_owner_key)


def init_app(app: Flask) -> None:
    for name, value in DEFAULTS.items():
        app.config.setdefault(name, value)
    # The limiter object is shared by every app of the process: state each setting.
    app.config.setdefault("RATELIMIT_ENABLED", True)
    # Redis down must not take logins down with it: fail open, and log.
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    # Always name the storage: Flask-Limiter warns (an error under our pytest
    # settings) when it has to pick memory by itself.
    app.config["RATELIMIT_STORAGE_URI"] = app.config.get("REDIS_URL") or "memory://"
    limiter.init_app(app)

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(exc: RateLimitExceeded):
        body = {"error": {"code": "RATE_LIMITED", "message": "操作太频繁，请稍后再试",
                          "details": {"limit": str(exc.limit.limit)}}}
        return jsonify(body), 429
