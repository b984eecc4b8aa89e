"""The sandbox's own endpoints: the "pay" page and the admin API (not part of WeChat).

``/sandbox/pay/<prepay_id>``       page (GET) and action (POST ``{"outcome": …}``)
``/sandbox/request-payment``      what ``wx.requestPayment`` would do: checks paySign, then pays
``/sandbox/admin/…``              faults, merchant key registration, codes, refunds, clock, logs
"""
from __future__ import annotations

from flask import Blueprint, current_app, render_template_string, request

from payments import crypto
from payments.sandbox.bills import yuan
from payments.sandbox.ledger import PayFailed
from payments.sandbox.signing import json_response

bp = Blueprint("sandbox_admin", __name__, url_prefix="/sandbox")

OUTCOMES = (("success", "支付成功"), ("payerror", "支付失败 (PAYERROR)"),
            ("insufficient_balance", "余额不足"), ("userpaying", "用户支付中"))

PAY_PAGE = """<!doctype html><html lang="zh"><meta charset="utf-8"><title>微信支付 · 沙箱</title>
<body style="font-family:sans-serif;max-width:28em;margin:2em auto">
<h1>微信支付沙箱</h1>
{% if order %}
<p>{{ order.request.description }}</p>
<p style="font-size:2em">¥ {{ amount }}</p>
<p>商户订单号 {{ order.out_trade_no }} · 状态 {{ order.trade_state }}</p>
{% if message %}<p><strong>{{ message }}</strong></p>{% endif %}
<form method="post">{% for value, label in outcomes %}
<button name="outcome" value="{{ value }}" style="display:block;margin:.5em 0">{{ label }}</button>
{% endfor %}</form>
{% else %}<p>prepay_id 不存在</p>{% endif %}
</body></html>"""


def _state():
    return current_app.config["SANDBOX_STATE"]


def _json() -> dict:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def _pay(prepay_id: str, outcome: str, force: bool = False):
    try:
        order = _state().ledger.pay(prepay_id, outcome, force=force)
    except PayFailed as exc:
        return None, str(exc)
    return order, ""


@bp.route("/pay/<prepay_id>", methods=["GET", "POST"])
def pay(prepay_id: str):
    state = _state()
    message = ""
    if request.method == "POST":
        data = _json() or request.form
        order, message = _pay(prepay_id, data.get("outcome", "success"),
                              str(data.get("force", "")).lower() in ("1", "true"))
        if request.is_json:
            if order is None:
                return json_response({"ok": False, "message": message}, 409)
            return json_response({"ok": True, "trade_state": order.trade_state,
                                  "transaction_id": order.transaction_id})
        message = message or "已提交"
    order = state.ledger.by_prepay.get(prepay_id)
    return render_template_string(PAY_PAGE, order=order, message=message, outcomes=OUTCOMES,
                                  amount=yuan(order.total) if order else "")


@bp.post("/request-payment")
def request_payment():
    """``wx.requestPayment`` parameters + ``outcome``: paySign is checked with our merchant key."""
    state, data = _state(), _json()
    package = str(data.get("package", ""))
    message = f"{state.appid}\n{data.get('timeStamp', '')}\n{data.get('nonceStr', '')}\n{package}\n"
    keys = list(state.merchant_keys.values())
    if data.get("signType") != "RSA" or not any(
            crypto.verify(key, message, str(data.get("paySign", ""))) for key in keys):
        return json_response({"errMsg": "requestPayment:fail invalid paySign"}, 400)
    order, failure = _pay(package.removeprefix("prepay_id="), data.get("outcome", "success"))
    if order is None or order.trade_state != "SUCCESS":
        return json_response({"errMsg": f"requestPayment:fail {failure or 'payment failed'}"}, 409)
    return json_response({"errMsg": "requestPayment:ok"})


# ------------------------------------------------------------------- admin
@bp.route("/admin/faults", methods=["GET", "POST"])
def faults():
    state = _state()
    if request.method == "POST":
        try:
            state.set_faults(**_json())
        except (ValueError, TypeError) as exc:
            return json_response({"error": str(exc)}, 400)
    return json_response(state.faults.as_dict())


@bp.post("/admin/faults/reset")
def reset_faults():
    _state().reset_faults()
    return json_response(_state().faults.as_dict())


@bp.post("/admin/merchant-keys")
def register_merchant_key():
    data = _json()
    try:
        _state().register_merchant_key(data["serial_no"], data["public_key_pem"])
    except (KeyError, ValueError) as exc:
        return json_response({"error": f"serial_no and public_key_pem are required: {exc}"}, 400)
    return json_response({"ok": True}, 201)


@bp.get("/admin/config")
def config():
    return json_response(_state().public_config())


@bp.post("/admin/login-codes")
def login_code():
    data = _json()
    return json_response({"code": _state().mp.issue_login_code(data.get("openid"), data.get("unionid"))})


@bp.post("/admin/phone-codes")
def phone_code():
    data = _json()
    return json_response({"code": _state().mp.issue_phone_code(data.get("phone", "13800138000"),
                                                               data.get("country_code", "86"))})


@bp.post("/admin/subscriptions")
def subscriptions():
    data = _json()
    left = _state().mp.grant_subscription(data["openid"], data["template_id"], int(data.get("count", 1)))
    return json_response({"remaining": left})


@bp.post("/admin/refunds/<out_refund_no>/settle")
def settle_refund(out_refund_no: str):
    refund = _state().ledger.settle_refund(out_refund_no, _json().get("status", "SUCCESS"))
    return json_response({"status": refund.status})


@bp.post("/admin/clock")
def clock():
    _state().advance(int(_json().get("advance", 0)))         # whole seconds over HTTP
    return json_response({"now": _state().now()})


@bp.get("/admin/orders")
def orders():
    state = _state()
    with state.lock:
        return json_response([state.ledger.transaction(o) for o in state.ledger.orders.values()])


@bp.get("/admin/deliveries")
def deliveries():
    state = _state()
    with state.lock:
        return json_response(list(state.notifier.deliveries))


@bp.get("/admin/messages")
def messages():
    state = _state()
    with state.lock:
        return json_response(list(state.mp.sent_messages))
