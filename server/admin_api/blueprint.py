"""The ``/api/admin/v1`` blueprint that every staff API view registers on."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api_admin_v1", __name__, url_prefix="/api/admin/v1")


@bp.after_request
def _api_headers(response):
    # Bills, payments and owners' names must not be cached by any proxy.
    response.headers.setdefault("Cache-Control", "no-store")
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="wuyepay-staff", error="invalid_token"'
    return response
