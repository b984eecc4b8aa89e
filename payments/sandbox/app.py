"""Flask app factory of the WeChat sandbox (DESIGN.md "The sandbox").

``/v3/…`` speaks WeChat Pay API v3: every request's ``Authorization`` is checked
like WeChat (401 ``SIGN_ERROR``) and every answer is signed with the five
``Wechatpay-*`` headers, except the bill file (§7).  ``/sns``, ``/cgi-bin``,
``/wxa`` are the mini-program server APIs; ``/sandbox`` is the sandbox's own
pay page and admin API.  The same app serves both WeChat hosts
(``WECHATPAY_API_BASE`` and ``WECHAT_API_BASE``), standalone or mounted under a
prefix (:func:`payments.sandbox.server.mount_sandbox`).
"""
from __future__ import annotations

import secrets

from flask import Flask, g, request

from payments.sandbox import admin, api_pay, bills, miniprogram, pages, persist
from payments.sandbox.ledger import SandboxApiError
from payments.sandbox.signing import check_authorization, error_response, sign_response
from payments.sandbox.state import SandboxState

_UNSIGNED = ("/v3/billdownload/",)


def _is_pay_api(path: str) -> bool:
    return path.startswith("/v3/")


def create_sandbox_app(state: SandboxState | None = None) -> Flask:
    """A WeChat Pay v3 + mini-program simulator bound to ``state``."""
    state = state or SandboxState()
    app = Flask(__name__)
    app.config["SANDBOX_STATE"] = state
    app.extensions["wechat_sandbox"] = state

    for blueprint in (api_pay.bp, bills.bp, miniprogram.bp, admin.bp, pages.bp):
        app.register_blueprint(blueprint)

    @app.before_request
    def simulate_wechat():
        state.log_request(request.method, request.path, request.get_data(cache=True))
        if not _is_pay_api(request.path):
            return None
        g.sign = not request.path.startswith(_UNSIGNED)
        if state.faults.latency:
            state.wait(state.faults.latency)
        if state.take("fail_5xx"):
            return error_response(SandboxApiError(500, "SYSTEM_ERROR", "系统错误"))
        check_authorization(state, request)
        return None

    @app.after_request
    def sign(response):
        if state.persist_path and request.method == "POST":
            persist.save(state, state.persist_path)
        if _is_pay_api(request.path):
            response.headers["Request-ID"] = secrets.token_hex(16).upper()
            if getattr(g, "sign", True) or response.status_code >= 400:
                sign_response(state, request, response)
        return response

    @app.errorhandler(SandboxApiError)
    def wechat_error(error: SandboxApiError):
        return error_response(error)

    @app.errorhandler(404)
    def not_found(error):
        if _is_pay_api(request.path):
            return error_response(SandboxApiError(404, "NOT_FOUND", "请求的资源不存在"))
        return error

    return app
