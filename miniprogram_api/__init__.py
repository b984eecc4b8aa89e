"""The owner mini-program API, ``/api/v1``: views and schemas over domain services.

``init_app(app)`` registers it; ``VIEW_MODULES`` lists the modules whose views
register on :data:`miniprogram_api.blueprint.bp`.
"""
from __future__ import annotations

import importlib

from flask import Flask

from miniprogram_api import ratelimit
from miniprogram_api.blueprint import bp

VIEW_MODULES = [
    "miniprogram_api.views.auth",
    "miniprogram_api.views.houses",
    "miniprogram_api.views.bills",
    "miniprogram_api.views.engagement",
    "miniprogram_api.views.orders",
    "miniprogram_api.views.receipts",
    "miniprogram_api.views.docs",
]


def init_app(app: Flask) -> None:
    if bp.name in app.blueprints:   # already registered (create_app, then a test): nothing to do
        return
    for name in VIEW_MODULES:
        importlib.import_module(name)
    ratelimit.init_app(app)
    # Lifetime of the signed print links of receipts (server.owners.receipt_links).
    app.config.setdefault("RECEIPT_LINK_TTL_SECONDS", 600)
    app.register_blueprint(bp)

