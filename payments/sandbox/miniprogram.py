"""Mini-program server endpoints on the ``WECHAT_API_BASE`` side (wechat-pay-v3.md §9).

WeChat answers these with HTTP 200 and ``errcode`` in the body; error bodies of
``jscode2session`` come as ``text/plain`` so that callers must always JSON-parse
and check ``errcode`` whatever the content type.
"""
from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, request

from payments import crypto
from payments.sandbox.miniprogram_state import MpError

bp = Blueprint("sandbox_miniprogram", __name__)


def _mp():
    return current_app.config["SANDBOX_STATE"].mp


def _ok(data: dict) -> Response:
    return Response(crypto.serialize_body(data), status=200, content_type="application/json; charset=utf-8")


def _error(error: MpError, plain: bool = False) -> Response:
    body = crypto.serialize_body({"errcode": error.errcode, "errmsg": error.errmsg})
    content_type = "text/plain" if plain else "application/json; charset=utf-8"
    return Response(body, status=200, content_type=content_type)


def _json_body() -> dict:
    try:
        data = json.loads(request.get_data(cache=True) or b"{}")
    except ValueError:
        raise MpError(47001, "data format error") from None
    if not isinstance(data, dict):
        raise MpError(47001, "data format error")
    return data


@bp.get("/sns/jscode2session")
def jscode2session():
    args = request.args
    try:
        if args.get("grant_type") != "authorization_code":
            raise MpError(40002, "invalid grant_type")
        return _ok(_mp().code2session(args.get("appid", ""), args.get("secret", ""),
                                      args.get("js_code", "")))
    except MpError as error:
        return _error(error, plain=True)


@bp.get("/cgi-bin/token")
def token():
    args = request.args
    try:
        if args.get("grant_type") != "client_credential":
            raise MpError(40002, "invalid grant_type")
        return _ok(_mp().access_token(args.get("appid", ""), args.get("secret", "")))
    except MpError as error:
        return _error(error)


@bp.post("/cgi-bin/stable_token")
def stable_token():
    try:
        data = _json_body()
        if data.get("grant_type") != "client_credential":
            raise MpError(40002, "invalid grant_type")
        force = data.get("force_refresh", False)
        if not isinstance(force, bool):
            raise MpError(47001, "force_refresh must be a boolean")
        return _ok(_mp().stable_access_token(data.get("appid", ""), data.get("secret", ""), force))
    except MpError as error:
        return _error(error)


@bp.post("/wxa/business/getuserphonenumber")
def getuserphonenumber():
    try:
        data = _json_body()
        return _ok(_mp().phone_number(request.args.get("access_token"), data.get("code", "")))
    except MpError as error:
        return _error(error)


@bp.post("/cgi-bin/message/subscribe/send")
def subscribe_send():
    try:
        return _ok(_mp().send_subscribe_message(request.args.get("access_token"), _json_body()))
    except MpError as error:
        return _error(error)
