"""WeChat Pay errors, translated once at the boundary (wechat-pay-v3.md §2, §6).

Every exception is a :class:`WeChatPayError`.  Errors answered by WeChat carry
its ``code``, ``message``, HTTP ``status`` and ``Request-ID``; their class says
what the caller may do next:

========================  ==========================================================
class                     meaning (§6 "请用相同参数重新调用" wording)
========================  ==========================================================
``ServerError``           ``SYSTEM_ERROR``/``BANK_ERROR``/any 5xx: retry with the *same*
                          parameters; WeChat may have acted, so it is also an
                          :class:`OutcomeUnknown`
``RateLimited``           ``FREQUENCY_LIMITED``/``RULE_LIMIT``: back off, query, then retry
``RequestRejected``       the request itself is wrong (``PARAM_ERROR``, ``SIGN_ERROR``…):
                          do not retry
``OutTradeNoUsed``        same ``out_trade_no`` with other parameters: query the order
``OrderClosed``           the order is closed: a *new* ``out_trade_no`` is needed
``OrderPaid``             close/prepay on a paid order: query it
``NotEnough``             balance insufficient for a refund: retry later after funding
``NotFound``              ``ORDER_NOT_EXIST``/``RESOURCE_NOT_EXISTS`` (both spellings)
``UserAccountAbnormal``   refund must go offline / abnormal-refund API
========================  ==========================================================

``OutcomeUnknown`` (and its ``WeChatPayTimeout``) means *WeChat may or may not
have acted*: resolve it by querying with the same number, never by creating
the order again under a new ``out_trade_no`` (RELIABILITY.md R8).
"""
from __future__ import annotations

import json


class WeChatPayError(Exception):
    """Base of every WeChat Pay error raised by ``payments``."""

    #: WeChat's documentation says the same request may be sent again unchanged.
    retry_same_params = False
    #: Wait, query the order, and only then retry (§6 FREQUENCY_LIMITED/RULE_LIMIT).
    back_off = False

    def __init__(self, message: str = "", *, code: str = "", status: int | None = None,
                 request_id: str = "", detail=None):
        super().__init__(message or code or self.__class__.__name__)
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id
        self.detail = detail

    def __str__(self) -> str:
        parts = [self.message or self.__class__.__name__]
        if self.code:
            parts.insert(0, self.code)
        if self.status is not None:
            parts.append(f"(HTTP {self.status})")
        if self.request_id:
            parts.append(f"[Request-ID {self.request_id}]")
        return " ".join(parts)


# ----------------------------------------------------------------- trust (§2, §3)
class VerificationError(WeChatPayError):
    """A response or callback could not be authenticated: believe nothing in it."""


class InvalidSignature(VerificationError):
    """Signature missing, malformed, wrong, or a ``WECHATPAY/SIGNTEST/`` probe."""


class MissingHeaders(InvalidSignature):
    """One of the ``Wechatpay-*`` headers needed to verify is absent."""


class StaleTimestamp(VerificationError):
    """``|now - Wechatpay-Timestamp| > 300 s`` (RELIABILITY.md R3)."""


class UnknownSerial(VerificationError):
    """No valid WeChat Pay certificate or public key has this ``Wechatpay-Serial``."""


class DecryptError(WeChatPayError):
    """AES-256-GCM authentication failed or the resource is malformed (§3)."""


# ------------------------------------------------------------ outcome uncertainty
class OutcomeUnknown(WeChatPayError):
    """WeChat may or may not have acted: query with the same number, never re-create."""

    retry_same_params = True


class WeChatPayTimeout(OutcomeUnknown):
    """No answer within the read timeout (or the connection failed) after the retries."""


class UntrustedResponse(OutcomeUnknown):
    """A 2xx answer whose signature does not verify: treated as forged (§2).

    ``reason`` holds the :class:`VerificationError` that was raised.
    """

    retry_same_params = False

    def __init__(self, message: str = "", *, reason: VerificationError | None = None, **kw):
        super().__init__(message, **kw)
        self.reason = reason


class NetworkError(WeChatPayError):
    """A read-only call could not reach WeChat; nothing changed there."""

    retry_same_params = True


# ------------------------------------------------------- WeChat answered an error
class WeChatPayAPIError(WeChatPayError):
    """WeChat answered with a non-2xx status and an error body (§6)."""


class ServerError(WeChatPayAPIError, OutcomeUnknown):
    """``SYSTEM_ERROR``, ``BANK_ERROR`` or any 5xx: retry with identical parameters."""

    retry_same_params = True


class RateLimited(WeChatPayAPIError):
    """``FREQUENCY_LIMITED`` / ``RULE_LIMIT``: back off, query, then retry."""

    back_off = True


class RequestRejected(WeChatPayAPIError):
    """The request is wrong (parameters, signature, account); fix it, do not retry."""


class SignError(RequestRejected):
    """``401 SIGN_ERROR``: WeChat did not accept our ``Authorization`` signature."""


class OutTradeNoUsed(WeChatPayAPIError):
    """``OUT_TRADE_NO_USED``: that number exists with other parameters; query it."""


class OrderClosed(WeChatPayAPIError):
    """``ORDER_CLOSED``: the order is closed; a new ``out_trade_no`` is needed."""


class OrderPaid(WeChatPayAPIError):
    """``ORDERPAID``: the order was paid (e.g. when closing it); query it."""


class NotEnough(WeChatPayAPIError):
    """``NOT_ENOUGH``: not enough balance / refundable amount; retry only after funding."""


class NotFound(WeChatPayAPIError):
    """``ORDER_NOT_EXIST`` / ``RESOURCE_NOT_EXISTS`` (and the underscore-less spellings)."""


class UserAccountAbnormal(WeChatPayAPIError):
    """``USER_ACCOUNT_ABNORMAL``: refund offline or via the abnormal-refund API."""


class BillNotAvailable(WeChatPayAPIError):
    """``NO_STATEMENT_EXIST`` / ``STATEMENT_CREATING``: no trade bill (yet) for that day."""


class BillHashMismatch(WeChatPayError):
    """The downloaded bill's SHA1 differs from ``hash_value`` (§7)."""


# Codes are matched without underscores: older pages write SYSTEMERROR, ORDERNOTEXIST …
_BY_CODE: dict[str, type[WeChatPayAPIError]] = {
    "SYSTEMERROR": ServerError,
    "BANKERROR": ServerError,
    "FREQUENCYLIMITED": RateLimited,
    "RULELIMIT": RateLimited,
    "SIGNERROR": SignError,
    "PARAMERROR": RequestRejected,
    "INVALIDREQUEST": RequestRejected,
    "APPIDMCHIDNOTMATCH": RequestRejected,
    "MCHNOTEXISTS": RequestRejected,
    "NOAUTH": RequestRejected,
    "OPENIDMISMATCH": RequestRejected,
    "INVALIDTRANSACTIONID": RequestRejected,
    "ACCOUNTERROR": RequestRejected,
    "TRADEERROR": RequestRejected,
    "OUTTRADENOUSED": OutTradeNoUsed,
    "ORDERCLOSED": OrderClosed,
    "ORDERPAID": OrderPaid,
    "NOTENOUGH": NotEnough,
    "ORDERNOTEXIST": NotFound,
    "RESOURCENOTEXISTS": NotFound,
    "USERACCOUNTABNORMAL": UserAccountAbnormal,
    "NOSTATEMENTEXIST": BillNotAvailable,
    "STATEMENTCREATING": BillNotAvailable,
}


def normalize_code(code: str) -> str:
    """``SYSTEM_ERROR`` and ``SYSTEMERROR`` compare equal (§6 spelling note)."""
    return (code or "").replace("_", "").upper()


def error_class_for(code: str, status: int) -> type[WeChatPayAPIError]:
    """The exception class for WeChat's ``code`` and HTTP ``status`` (§6)."""
    cls = _BY_CODE.get(normalize_code(code))
    if cls is not None:
        return cls
    if status >= 500:
        return ServerError
    if status == 429:
        return RateLimited
    if status == 404:
        return NotFound
    return RequestRejected


def error_from_response(status: int, body: bytes, request_id: str = "") -> WeChatPayAPIError:
    """Build the typed error for a non-2xx answer ``{"code","message","detail"}``."""
    code, message, detail = "", "", None
    try:
        payload = json.loads(body.decode("utf-8")) if body else {}
    except (UnicodeDecodeError, ValueError):
        payload = {}
    if isinstance(payload, dict):
        code = str(payload.get("code") or "")
        message = str(payload.get("message") or "")
        detail = payload.get("detail")
    cls = error_class_for(code, status)
    return cls(message or f"HTTP {status}", code=code, status=status,
               request_id=request_id, detail=detail)
