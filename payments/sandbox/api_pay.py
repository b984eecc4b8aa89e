"""WeChat Pay v3 endpoints: JSAPI prepay, query, close, refunds, certificates (§4–§6, §8)."""
from __future__ import annotations

import json
import re
from datetime import datetime

from flask import Blueprint, Response, current_app, request

from payments import crypto
from payments.certs import parse_certificate
from payments.sandbox.ledger import SandboxApiError, rfc3339
from payments.sandbox.signing import json_response

bp = Blueprint("sandbox_pay", __name__)

OUT_TRADE_NO_RE = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}$")
OUT_REFUND_NO_RE = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")


def _state():
    return current_app.config["SANDBOX_STATE"]


def _param_error(field: str, message: str, location: str = "body") -> SandboxApiError:
    return SandboxApiError(400, "PARAM_ERROR", f"输入源“/{location}/{field}”映射到字段“{field}”{message}",
                           {"field": "/" + field, "location": location})


def _body() -> dict:
    try:
        data = json.loads(request.get_data(cache=True) or b"null")
    except ValueError:
        raise SandboxApiError(400, "PARAM_ERROR", "请求体不是合法的JSON") from None
    if not isinstance(data, dict):
        raise SandboxApiError(400, "PARAM_ERROR", "请求体必须是JSON对象")
    return data


def _string(data: dict, field: str, max_len: int, required: bool = True) -> str:
    value = data.get(field)
    if value is None or value == "":
        if required:
            raise _param_error(field, "必填性规则校验失败，此字段为必填项")
        return ""
    if not isinstance(value, str):
        raise _param_error(field, "类型校验失败，应为字符串")
    if len(value.encode("utf-8")) > max_len:
        raise _param_error(field, f"字符串规则校验失败，字节数 {len(value.encode())}，大于最大值 {max_len}")
    return value


def _amount(data: dict, field: str) -> int:
    value = data.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise _param_error("amount/" + field, "必须为大于0的整数(单位分)")
    return value


def _slow_after_create() -> None:
    # The fault "timeout after create": WeChat recorded it, the answer comes too late.
    state = _state()
    if state.take("timeout_after_create"):
        state.wait(state.faults.timeout_delay)


@bp.post("/v3/pay/transactions/jsapi")
def jsapi():
    state, data = _state(), _body()
    appid = _string(data, "appid", 32)
    mchid = _string(data, "mchid", 32)
    _string(data, "description", 127)
    out_trade_no = _string(data, "out_trade_no", 32)
    if not OUT_TRADE_NO_RE.match(out_trade_no):
        raise _param_error("out_trade_no", "字符串规则校验失败，只能是数字、大小写字母_-|*，6~32个字符")
    _string(data, "attach", 128, required=False)
    notify_url = _string(data, "notify_url", 255)
    if not re.match(r"^https?://[^?#]+$", notify_url):
        raise _param_error("notify_url", "格式错误，须为https地址且不能携带参数")
    if data.get("time_expire"):
        try:
            parsed = datetime.fromisoformat(_string(data, "time_expire", 64))
            if parsed.tzinfo is None:
                raise ValueError
        except ValueError:
            raise _param_error("time_expire", "格式错误，应为 yyyy-MM-DDTHH:mm:ss+TIMEZONE") from None
    amount = data.get("amount") or {}
    _amount(amount, "total")
    if amount.get("currency", "CNY") != "CNY":
        raise _param_error("amount/currency", "仅支持CNY")
    _string(data.get("payer") or {}, "openid", 128)
    if mchid != state.mchid:
        raise SandboxApiError(400, "MCH_NOT_EXISTS", "商户号不存在")
    if appid != state.appid:
        raise SandboxApiError(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
    order = state.ledger.prepay(data)
    _slow_after_create()
    return json_response({"prepay_id": order.prepay_id})


@bp.get("/v3/pay/transactions/out-trade-no/<out_trade_no>")
def query(out_trade_no: str):
    state = _state()
    if request.args.get("mchid") != state.mchid:
        raise _param_error("mchid", "必填性规则校验失败，此字段为必填项", "query")
    return json_response(state.ledger.transaction(state.ledger.get(out_trade_no)))


@bp.post("/v3/pay/transactions/out-trade-no/<out_trade_no>/close")
def close(out_trade_no: str):
    state, data = _state(), _body()
    if data.get("mchid") != state.mchid:
        raise _param_error("mchid", "必填性规则校验失败，此字段为必填项")
    state.ledger.close(out_trade_no)
    return Response(b"", status=204)


@bp.post("/v3/refund/domestic/refunds")
def create_refund():
    state, data = _state(), _body()
    out_refund_no = _string(data, "out_refund_no", 64)
    if not OUT_REFUND_NO_RE.match(out_refund_no):
        raise _param_error("out_refund_no", "字符串规则校验失败，只能是数字、大小写字母_-|*@")
    if bool(data.get("transaction_id")) == bool(data.get("out_trade_no")):
        raise _param_error("transaction_id", "transaction_id和out_trade_no必须二选一")
    _string(data, "reason", 80, required=False)
    _string(data, "notify_url", 256, required=False)
    amount = data.get("amount") or {}
    _amount(amount, "refund")
    _amount(amount, "total")
    if amount.get("currency") != "CNY":
        raise _param_error("amount/currency", "必填性规则校验失败，此字段为必填项")
    refund = state.ledger.refund(data)
    _slow_after_create()
    return json_response(state.ledger.refund_object(refund))


@bp.get("/v3/refund/domestic/refunds/<out_refund_no>")
def query_refund(out_refund_no: str):
    state = _state()
    return json_response(state.ledger.refund_object(state.ledger.get_refund(out_refund_no)))


@bp.get("/v3/certificates")
def certificates():
    """Platform certificates, each encrypted with the APIv3 key (AAD ``certificate``, §8)."""
    state = _state()
    if state.faults.certificates_latency:
        state.wait(state.faults.certificates_latency)
    if state.take("fail_certificates"):
        raise SandboxApiError(500, "SYSTEM_ERROR", "系统错误")
    if not state.certificates_enabled:
        # Merchants opened after ~2024-09 only have public keys (§2).
        raise SandboxApiError(500, "SYSTEM_ERROR", "系统错误，该商户未启用平台证书")
    data = []
    for key in state.certificates():
        info = parse_certificate(key.certificate_pem)
        nonce = crypto.new_resource_nonce()
        data.append({
            "serial_no": key.serial,
            "effective_time": rfc3339(info.not_before.timestamp()),
            "expire_time": rfc3339(info.not_after.timestamp()),
            "encrypt_certificate": {
                "algorithm": "AEAD_AES_256_GCM", "associated_data": "certificate", "nonce": nonce,
                "ciphertext": crypto.aes_gcm_encrypt(state.apiv3_key, nonce, "certificate",
                                                     key.certificate_pem)}})
    return json_response({"data": data})
