"""WeChat Pay API v3 client for a direct merchant's mini-program payments.

Every call is signed (wechat-pay-v3.md §1), every 2xx answer is verified (§2)
and every error becomes a typed exception (§6, :mod:`payments.exceptions`).
The base URL comes from ``WECHATPAY_API_BASE``; the sandbox speaks the same HTTP.
"""
from __future__ import annotations

import datetime as dt
import gzip as gzip_module
import hashlib
import re
import zlib
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

import requests

from payments import crypto
from payments.exceptions import BillHashMismatch, RequestRejected, WeChatPayError
from payments.transport import SignedTransport

CST = ZoneInfo("Asia/Shanghai")
OUT_TRADE_NO_RE = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}$")     # §5 (newer pages: 6–32)
OUT_REFUND_NO_RE = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")   # §6 refund body
BILL_TYPES = ("ALL", "SUCCESS", "REFUND", "RECHARGE_REFUND", "ALL_SPECIAL", "SUC_SPECIAL", "REF_SPECIAL")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _positive_fen(name: str, value) -> int:
    _check(isinstance(value, int) and not isinstance(value, bool) and value > 0,
           f"{name} must be a positive integer number of fen")
    return value


def format_time_expire(when: dt.datetime) -> str:
    """RFC3339 ``yyyy-MM-DDTHH:mm:ss+08:00`` (§5 ``time_expire``) from an aware datetime."""
    _check(isinstance(when, dt.datetime) and when.tzinfo is not None and when.utcoffset() is not None,
           "time_expire must be an aware datetime")
    return when.astimezone(CST).replace(microsecond=0).isoformat()


class WeChatPayClient:
    """The merchant's WeChat Pay v3 API (JSAPI / mini-program, refunds, bills, certificates)."""

    def __init__(self, mchid: str, merchant_serial: str, private_key, apiv3_key: str, api_base: str,
                 verifier, appid: str, notify_url: str, timeout=(3.05, 10),
                 session: requests.Session | None = None, *, max_attempts: int = 3,
                 backoff: float = 0.2, clock=None):
        if verifier is None:
            raise ValueError("a verifier is required: every 2xx answer is verified (§2)")
        kwargs = {"clock": clock} if clock is not None else {}
        self.mchid = mchid
        self.appid = appid
        self.notify_url = notify_url
        self.verifier = verifier
        self._transport = SignedTransport(
            mchid=mchid, merchant_serial=merchant_serial, private_key=private_key,
            api_base=api_base, verifier=verifier, timeout=timeout, session=session,
            max_attempts=max_attempts, backoff=backoff, **kwargs)
        self._private_key = self._transport._private_key
        if not verifier.has_apiv3_key:
            verifier.set_apiv3_key(apiv3_key)
        if verifier.use_platform_certificates and not verifier.has_fetcher:
            verifier.set_certificate_fetcher(self.fetch_certificates_response)

    def __repr__(self) -> str:           # never shows keys
        return f"<WeChatPayClient mchid={self.mchid} base={self.api_base}>"

    @property
    def api_base(self) -> str:
        return self._transport.api_base

    @property
    def transport(self) -> SignedTransport:
        return self._transport

    # ------------------------------------------------------------- payments
    def jsapi_prepay(self, out_trade_no: str, description: str, total_fen: int, openid: str,
                     time_expire: dt.datetime, attach: str = "") -> str:
        """``POST /v3/pay/transactions/jsapi`` → ``prepay_id`` (§5; doc "JSAPI下单").

        A timeout raises :class:`~payments.exceptions.WeChatPayTimeout`: the order may
        exist at WeChat — query this ``out_trade_no``; never re-create under a new one.
        """
        _check(bool(OUT_TRADE_NO_RE.match(out_trade_no or "")),
               "out_trade_no must be 6-32 characters of [0-9A-Za-z_-|*]")
        _check(0 < len(description or "") <= 127, "description must be 1-127 characters")
        _check(0 < len(openid or "") <= 128, "openid is required (≤128 characters)")
        _check(len(attach) <= 128, "attach must be ≤128 characters")
        body = {
            "appid": self.appid, "mchid": self.mchid, "description": description,
            "out_trade_no": out_trade_no, "time_expire": format_time_expire(time_expire),
            "notify_url": self.notify_url,
            "amount": {"total": _positive_fen("total_fen", total_fen), "currency": "CNY"},
            "payer": {"openid": openid},
        }
        if attach:
            body["attach"] = attach
        data = self._transport.request("POST", "/v3/pay/transactions/jsapi", json_body=body,
                                       state_changing=True).json()
        prepay_id = data.get("prepay_id")
        if not prepay_id:
            raise WeChatPayError("prepay answer has no prepay_id")
        return prepay_id

    def mini_program_pay_params(self, prepay_id: str) -> dict:
        """Parameters for ``wx.requestPayment`` (§5 "小程序调起支付"); ``appId`` is signed, not sent."""
        timestamp = str(int(self._transport.clock()))
        nonce = crypto.new_nonce(32)
        package = f"prepay_id={prepay_id}"
        return {"timeStamp": timestamp, "nonceStr": nonce, "package": package, "signType": "RSA",
                "paySign": crypto.pay_sign(self._private_key, self.appid, timestamp, nonce, package)}

    def query_by_out_trade_no(self, out_trade_no: str) -> dict:
        """``GET /v3/pay/transactions/out-trade-no/{n}?mchid=`` → Transaction (§4, §6)."""
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}?" + \
            urlencode({"mchid": self.mchid})
        return self._transport.request("GET", path, state_changing=False).json()

    def close(self, out_trade_no: str) -> None:
        """``POST …/out-trade-no/{n}/close`` → 204 (§6). After any error, query the order."""
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}/close"
        self._transport.request("POST", path, json_body={"mchid": self.mchid}, state_changing=True)

    # -------------------------------------------------------------- refunds
    def refund(self, out_refund_no: str, amount_fen: int, total_fen: int, reason: str,
               transaction_id: str | None = None, out_trade_no: str | None = None,
               notify_url: str | None = None) -> dict:
        """``POST /v3/refund/domestic/refunds`` → Refund (§4, §6; doc "退款申请").

        "同一退款单号多次请求只退一笔": retries keep ``out_refund_no``; a timeout raises
        :class:`~payments.exceptions.WeChatPayTimeout` — query the refund, same number.
        """
        _check((transaction_id is None) != (out_trade_no is None),
               "give exactly one of transaction_id and out_trade_no")
        _check(bool(OUT_REFUND_NO_RE.match(out_refund_no or "")),
               "out_refund_no must be 1-64 characters of [0-9A-Za-z_-|*@]")
        _positive_fen("amount_fen", amount_fen)
        _positive_fen("total_fen", total_fen)
        _check(amount_fen <= total_fen, "refund amount exceeds the order total")
        _check(len(reason or "") <= 80, "reason must be ≤80 characters")
        body = {"out_refund_no": out_refund_no,
                "amount": {"refund": amount_fen, "total": total_fen, "currency": "CNY"}}
        if transaction_id is not None:
            body["transaction_id"] = transaction_id
        else:
            body["out_trade_no"] = out_trade_no
        if reason:
            body["reason"] = reason
        if notify_url or self.notify_url:
            body["notify_url"] = notify_url or self.notify_url
        return self._transport.request("POST", "/v3/refund/domestic/refunds", json_body=body,
                                       state_changing=True).json()

    def query_refund(self, out_refund_no: str) -> dict:
        """``GET /v3/refund/domestic/refunds/{out_refund_no}`` → Refund (§4, §6)."""
        path = f"/v3/refund/domestic/refunds/{quote(out_refund_no, safe='')}"
        return self._transport.request("GET", path, state_changing=False).json()

    # ---------------------------------------------------------------- bills
    def trade_bill(self, bill_date: dt.date | str, bill_type: str = "ALL",
                   tar_type: str | None = None) -> dict:
        """``GET /v3/bill/tradebill`` → ``{hash_type, hash_value, download_url}`` (§7)."""
        day = bill_date.isoformat() if isinstance(bill_date, dt.date) else str(bill_date)
        _check(bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", day)), "bill_date must be yyyy-MM-DD")
        _check(bill_type in BILL_TYPES, f"bill_type must be one of {BILL_TYPES}")
        _check(tar_type in (None, "GZIP"), "tar_type must be None or 'GZIP'")
        query = {"bill_date": day, "bill_type": bill_type}
        if tar_type:
            query["tar_type"] = tar_type
        return self._transport.request("GET", "/v3/bill/tradebill?" + urlencode(query),
                                       state_changing=False).json()

    def download_bill(self, download_url: str, hash_value: str, gzip: bool = False) -> bytes:
        """Signed GET of ``download_url``; returns the (decompressed) bill bytes (§7).

        The file answer is not signed; its integrity is the SHA1 of the *decompressed*
        bytes, compared case-insensitively with ``hash_value`` (mismatch → error).
        """
        self._check_download_host(download_url)
        raw = self._transport.request("GET", download_url, state_changing=False,
                                      verify_response=False).body
        if gzip:
            try:
                raw = gzip_module.decompress(raw)
            except (OSError, EOFError, zlib.error):
                raise BillHashMismatch("the bill file is not valid gzip") from None
        digest = hashlib.sha1(raw).hexdigest()
        if digest.lower() != (hash_value or "").strip().lower():
            raise BillHashMismatch(f"bill SHA1 {digest} != hash_value {hash_value}")
        return raw

    def _check_download_host(self, url: str) -> None:
        # The signed request leaves only for our API host (or WeChat's own hosts).
        target, base = urlsplit(url), urlsplit(self.api_base)
        same = (target.scheme, target.netloc) == (base.scheme, base.netloc)
        wechat = target.scheme == "https" and (target.hostname or "").endswith(".mch.weixin.qq.com")
        if not (same or wechat):
            raise RequestRejected(f"refusing to download a bill from {target.netloc}")

    # --------------------------------------------------------- certificates
    def fetch_certificates_response(self):
        """Raw ``GET /v3/certificates`` answer ``(headers, body)`` for the verifier (§8)."""
        response = self._transport.request("GET", "/v3/certificates", state_changing=False,
                                           verify_response=False)
        return response.headers, response.body

    def download_certificates(self):
        """Download, decrypt, check and install the platform certificates (§8)."""
        headers, body = self.fetch_certificates_response()
        return self.verifier.install_certificates(headers, body)


def client_from_config(config, session: requests.Session | None = None, **kwargs) -> WeChatPayClient:
    """Build the verifier and client from ``WECHATPAY_*`` settings (DESIGN.md "Configuration").

    ``config`` is a :class:`server.config.Config` or a mapping such as ``app.config``.
    With ``WECHATPAY_PUBLIC_KEY_FILE``/``_ID`` the public key is used and platform
    certificates are still accepted (callbacks ramp between both, §2); without them
    platform certificates are downloaded and cached.
    """
    from payments.verifier import WeChatPayVerifier

    def get(name: str) -> str:
        value = config.get(name) if hasattr(config, "get") else getattr(config, name, "")
        return value or ""

    def read(path: str) -> str:
        with open(path, encoding="utf-8") as handle:
            return handle.read()

    for name in ("WECHATPAY_MCHID", "WECHATPAY_MERCHANT_SERIAL", "WECHATPAY_PRIVATE_KEY_FILE",
                 "WECHATPAY_APIV3_KEY", "WECHATPAY_API_BASE", "WECHAT_APPID"):
        if not get(name):
            raise ValueError(f"{name} is not configured")
    public_keys = {}
    if get("WECHATPAY_PUBLIC_KEY_FILE") or get("WECHATPAY_PUBLIC_KEY_ID"):
        if not (get("WECHATPAY_PUBLIC_KEY_FILE") and get("WECHATPAY_PUBLIC_KEY_ID")):
            raise ValueError("WECHATPAY_PUBLIC_KEY_FILE and WECHATPAY_PUBLIC_KEY_ID go together")
        public_keys[get("WECHATPAY_PUBLIC_KEY_ID")] = read(get("WECHATPAY_PUBLIC_KEY_FILE"))
    # The daily certificate refresh runs off the request path (payments.verifier_certs).
    verifier = WeChatPayVerifier(apiv3_key=get("WECHATPAY_APIV3_KEY"), public_keys=public_keys,
                                 use_platform_certificates=True, refresh_in_background=True)
    return WeChatPayClient(get("WECHATPAY_MCHID"), get("WECHATPAY_MERCHANT_SERIAL"),
                           read(get("WECHATPAY_PRIVATE_KEY_FILE")), get("WECHATPAY_APIV3_KEY"),
                           get("WECHATPAY_API_BASE"), verifier, get("WECHAT_APPID"),
                           get("WECHATPAY_NOTIFY_URL"), session=session, **kwargs)
