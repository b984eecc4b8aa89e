"""The WeChat Pay callback endpoint: thin; the work is in ``payments.notify``."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from payments import notify
from payments.gateway import client_for
from server import counters

bp = Blueprint("wechatpay", __name__)


@bp.post("/payments/wechatpay/notify")
def wechatpay_notify():
    config = current_app.extensions["wuyepay_config"]
    client = client_for(config)
    # A callable registered here (event id → background job) makes the endpoint
    # answer once the callback is stored (R15); without one it applies it first.
    dispatch = current_app.extensions.get("wechatpay_notify_dispatch")
    answer = notify.receive(request.headers, request.get_data(cache=False), client.verifier,
                            notify.Merchant(config.WECHATPAY_MCHID, config.WECHAT_APPID),
                            dispatch=dispatch, on_signature_failure=counters.record_signature_failure)
    if answer.body is None:
        return "", answer.status
    return jsonify(answer.body), answer.status


def init_app(app) -> None:
    config = app.extensions["wuyepay_config"]
    if config.DEMO_MODE and not config.WECHATPAY_API_BASE:
        from payments.gateway import configure_demo

        configure_demo(app, config)
    app.register_blueprint(bp)
