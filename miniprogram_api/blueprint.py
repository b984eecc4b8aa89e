"""The ``/api/v1`` blueprint that every owner view registers on."""
from __future__ import annotations

from flask import Blueprint, current_app

from server.errors import Unavailable
from server.wxa import MiniProgramClient

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1", template_folder="templates")

WXA_EXTENSION = "wuyepay_wxa"


def wxa_client() -> MiniProgramClient:
    """The app's mini-program client, made on first use from the app's configuration (so
    settings that other init_app calls fill in, like demo mode's sandbox URL, count)."""
    client = current_app.extensions.get(WXA_EXTENSION)
    if client is None:
        client = current_app.extensions[WXA_EXTENSION] = MiniProgramClient.from_config(current_app.config)
    return client


def pay_client(required: bool = True):
    """The process's WeChat Pay client (:func:`payments.gateway.client_for`).  When the
    merchant is not configured: 503 before anything is written, or None if not ``required``."""
    from payments.gateway import client_for

    try:
        return client_for(current_app.extensions["wuyepay_config"])
    except (ValueError, OSError) as exc:
        if not required:
            return None
        current_app.logger.error("WeChat Pay is not configured: %s", exc)
        raise Unavailable("微信支付暂未开通，请联系物业", code="PAYMENTS_UNAVAILABLE") from None


@bp.after_request
def _api_headers(response):
    # Owners' bills and tokens must not be cached by any proxy or the WeChat webview.
    response.headers.setdefault("Cache-Control", "no-store")
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="wuyepay", error="invalid_token"'
    return response
