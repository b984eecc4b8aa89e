"""The sandbox checks our ``Authorization`` and signs its answers like WeChat (§1, §2)."""
from __future__ import annotations

from flask import Request, Response

from payments import crypto
from payments.sandbox.ledger import SandboxApiError

MAX_SKEW = 300
_JSON = "application/json; charset=utf-8"


def json_response(data, status: int = 200) -> Response:
    """UTF-8 JSON like WeChat's (Chinese messages are not \\u-escaped)."""
    return Response(crypto.serialize_body(data), status=status, content_type=_JSON)


def error_response(error: SandboxApiError) -> Response:
    return json_response(error.body(), error.status)


def _sign_error(message: str, detail: dict | None = None) -> SandboxApiError:
    return SandboxApiError(401, "SIGN_ERROR", message, detail)


def canonical_urls(request: Request) -> list[str]:
    """Request targets the client may have signed.

    The raw request target (Go's ``RequestURI``) as it arrived, and — when the
    sandbox is mounted under a prefix — the same target without the prefix,
    because an SDK pointed at ``http://host/prefix`` may sign only ``/v3/…``.
    """
    query = request.query_string.decode("latin-1")
    suffix = "?" + query if query else ""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
    candidates = [raw, request.script_root + request.path + suffix, request.path + suffix]
    seen: list[str] = []
    for url in candidates:
        if url and url not in seen:
            seen.append(url)
    return seen


def check_authorization(state, request: Request) -> str:
    """Verify ``Authorization`` like WeChat; returns the merchant serial or raises 401 SIGN_ERROR."""
    header = request.headers.get("Authorization", "")
    if not header:
        raise _sign_error("Http头缺少Authorization")
    try:
        pairs = crypto.parse_authorization(header)
    except ValueError as exc:
        raise _sign_error(f"Http头Authorization值格式错误: {exc}") from None
    if pairs["mchid"] != state.mchid:
        raise _sign_error("商户号与签名信息不匹配")
    key = state.merchant_key(pairs["serial_no"])
    if key is None:
        raise _sign_error("商户证书序列号有误。请使用签名私钥匹配的证书序列号")
    try:
        timestamp = int(pairs["timestamp"])
    except ValueError:
        raise _sign_error("Http头Authorization中的timestamp格式错误") from None
    if abs(state.now() - timestamp) > MAX_SKEW:
        raise _sign_error("Http头Authorization中的timestamp与发起请求的时间不得超过5分钟")
    body = request.get_data(cache=True)
    urls = canonical_urls(request)
    for url in urls:
        message = crypto.request_sign_message(request.method, url, timestamp, pairs["nonce_str"], body)
        if crypto.verify(key, message, pairs["signature"]):
            return pairs["serial_no"]
    message = crypto.request_sign_message(request.method, urls[0], timestamp, pairs["nonce_str"], body)
    raise _sign_error("错误的签名，验签失败", {
        "field": "signature", "location": "authorization",
        "sign_information": {"method": request.method, "url": urls[0],
                             "truncated_sign_message": message[:40].decode("utf-8", "replace"),
                             "sign_message_length": len(message)},
        "detail": {"issue": "sign not match"}})


def sign_response(state, request: Request, response: Response) -> Response:
    """Add ``Request-ID`` and the five ``Wechatpay-*`` headers, honouring the faults."""
    body = response.get_data()
    headers = state.sign_headers(
        body, request_serial=request.headers.get("Wechatpay-Serial", ""),
        probe=state.take("probe_responses"), forge=state.take("forge_responses"),
        skew=state.faults.response_clock_skew)
    for name, value in headers.items():
        response.headers[name] = value
    return response
