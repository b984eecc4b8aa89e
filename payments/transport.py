"""Signed HTTP exchange with WeChat Pay API v3 (wechat-pay-v3.md §1, §2, §6).

One request = serialize the body once, sign exactly the bytes and the request
target that ``requests`` will send, send with explicit connect/read timeouts,
verify every 2xx answer's signature, and translate errors into
:mod:`payments.exceptions`.  Retries reuse the identical body (same
``out_trade_no``/``out_refund_no``) and happen only where §6 says it is safe:
timeouts, connection failures, ``SYSTEM_ERROR``/``BANK_ERROR`` and 5xx.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Callable, Mapping

import requests

from payments import crypto
from payments.exceptions import (
    NetworkError, UntrustedResponse, VerificationError, WeChatPayTimeout, error_from_response,
)
from payments.redact import redact, redact_url

log = logging.getLogger("payments.wechatpay")

USER_AGENT = "WuyePay/0.1 (+python-requests)"
_NETWORK_ERRORS = (requests.Timeout, requests.ConnectionError,
                   requests.exceptions.ChunkedEncodingError)


@dataclasses.dataclass
class ApiResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes
    request_id: str

    def json(self):
        return json.loads(self.body.decode("utf-8")) if self.body else {}


class SignedTransport:
    """Signs requests with the merchant key and verifies answers with the verifier."""

    def __init__(self, *, mchid: str, merchant_serial: str, private_key, api_base: str, verifier,
                 timeout=(3.05, 10), session: requests.Session | None = None, max_attempts: int = 3,
                 backoff: float = 0.2, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, user_agent: str = USER_AGENT):
        if not api_base:
            raise ValueError("WECHATPAY_API_BASE is required")
        self.mchid = mchid
        self.merchant_serial = merchant_serial
        self._private_key = crypto.load_private_key(private_key)
        self.api_base = api_base.rstrip("/")
        self.verifier = verifier
        self.timeout = timeout
        self.session = session or requests.Session()
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.clock = clock
        self.sleep = sleep
        self.user_agent = user_agent

    def __repr__(self) -> str:
        return f"<SignedTransport mchid={self.mchid} base={self.api_base}>"

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.api_base + path

    def _prepare(self, method: str, url: str, body: bytes) -> requests.PreparedRequest:
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if body:
            headers["Content-Type"] = "application/json"
        serial = self.verifier.request_serial
        if serial:
            headers["Wechatpay-Serial"] = serial
        prepared = self.session.prepare_request(
            requests.Request(method, url, headers=headers, data=body or None))
        # Sign the request target requests will really send (Go: URL.RequestURI()).
        prepared.headers["Authorization"] = crypto.build_authorization(
            mchid=self.mchid, serial_no=self.merchant_serial, private_key=self._private_key,
            method=method, canonical_url=prepared.path_url, body=body, timestamp=int(self.clock()))
        return prepared

    def request(self, method: str, path: str, *, json_body=None, state_changing: bool,
                verify_response: bool = True) -> ApiResponse:
        """Send, retrying with the same bytes where safe; raise typed errors.

        ``state_changing``: a timeout then raises :class:`WeChatPayTimeout`
        (an :class:`OutcomeUnknown`): WeChat may have acted, query it.
        ``verify_response=False`` only for ``/v3/certificates`` (verified by the
        verifier against the certificates it brings) and the bill file (§7: unsigned).
        """
        method = method.upper()
        url = self.url(path)
        body = crypto.serialize_body(json_body) if json_body is not None else b""
        shown = redact_url(url)
        if json_body is not None and log.isEnabledFor(logging.DEBUG):
            log.debug("wechatpay %s %s body=%s", method, shown, redact(json_body))
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                prepared = self._prepare(method, url, body)
                settings = self.session.merge_environment_settings(prepared.url, {}, None, None, None)
                raw = self.session.send(prepared, timeout=self.timeout, allow_redirects=False,
                                        **settings)
            except _NETWORK_ERRORS as exc:
                kind = exc.__class__.__name__
                log.warning("wechatpay %s %s attempt %d/%d failed: %s", method, shown, attempt,
                            self.max_attempts, kind)
                if attempt < self.max_attempts:
                    self._pause(attempt)
                    continue
                if state_changing:
                    raise WeChatPayTimeout(
                        f"{method} {shown}: {kind} after {attempt} attempts; WeChat may have acted — "
                        "query with the same number") from None
                raise NetworkError(f"{method} {shown}: {kind} after {attempt} attempts") from None
            response = ApiResponse(raw.status_code, raw.headers, raw.content,
                                   raw.headers.get("Request-ID", ""))
            log.info("wechatpay %s %s -> %d in %.0f ms request_id=%s", method, shown, response.status,
                     (time.monotonic() - started) * 1000, response.request_id)
            if 200 <= response.status < 300:
                if verify_response:
                    self._verify(response, method, shown)
                return response
            error = error_from_response(response.status, response.body, response.request_id)
            log.warning("wechatpay %s %s error %s %s request_id=%s", method, shown, error.code,
                        error.status, error.request_id)
            if error.retry_same_params and attempt < self.max_attempts:
                self._pause(attempt)
                continue
            raise error

    def _verify(self, response: ApiResponse, method: str, shown: str) -> None:
        # §2: a 2xx without a valid signature must be treated as forged.
        try:
            self.verifier.verify(response.headers, response.body)
        except VerificationError as exc:
            log.error("wechatpay %s %s: untrusted 2xx answer (%s: %s) request_id=%s", method, shown,
                      exc.__class__.__name__, exc.message, response.request_id)
            raise UntrustedResponse(f"{method} {shown}: answer not authenticated: {exc.message}",
                                    reason=exc, status=response.status,
                                    request_id=response.request_id) from None

    def _pause(self, attempt: int) -> None:
        self.sleep(self.backoff * (2 ** (attempt - 1)))
