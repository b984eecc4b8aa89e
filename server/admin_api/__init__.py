"""The staff JSON API, ``/api/admin/v1``: token-authenticated views over the
domain services, for a property company's ERP or scripts.

``init_app(app)`` registers it; ``VIEW_MODULES`` lists the modules whose views
register on :data:`server.admin_api.blueprint.bp`.  Requests are validated and
documented by the owner API's contract layer (:mod:`miniprogram_api.contract`),
with staff authentication (:mod:`server.admin_api.contract`).
"""
from __future__ import annotations

import importlib

from flask import Flask

from server.admin_api.blueprint import bp

VIEW_MODULES = [
    "server.admin_api.views.property",
    "server.admin_api.views.bills",
    "server.admin_api.views.billing",
    "server.admin_api.views.payments",
    "server.admin_api.views.operations",
    "server.admin_api.views.counter",
    "server.admin_api.views.orders",
    "server.admin_api.views.bindings",
    "server.admin_api.views.fees",
    "server.admin_api.views.imports",
    "server.admin_api.views.reminders",
    "server.admin_api.views.system",
    "server.admin_api.views.docs",
]


def init_app(app: Flask) -> None:
    if bp.name in app.blueprints:   # already registered (create_app, then a test): nothing to do
        return
    for name in VIEW_MODULES:
        importlib.import_module(name)
    app.register_blueprint(bp)
