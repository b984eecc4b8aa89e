"""``/openapi.json`` and ``/docs``: the staff API's contract, and the owner API's docs page over it."""
from __future__ import annotations

from flask import current_app, jsonify

from miniprogram_api.views import docs as owner_docs
from server.admin_api import openapi
from server.admin_api.blueprint import bp

CACHE_KEY = "wuyepay_admin_openapi"


def document() -> dict:
    cached = current_app.extensions.get(CACHE_KEY)
    if cached is None:
        cached = current_app.extensions[CACHE_KEY] = openapi.build(current_app)
    return cached


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(document())


@bp.get("/docs")
def docs_page():
    page = owner_docs._PAGE.replace("from <code>POST /api/v1/auth/login</code>",
                                    "issued by <code>wuyepay staff token create</code>")
    return owner_docs.render_docs(document(), page)
