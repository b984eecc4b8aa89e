"""The mini-program server API (wechat-pay-v3.md §9) through wechatpy.

One small client for what the owner API needs from WeChat: ``jscode2session``
for login, ``getuserphonenumber`` for binding by phone, the access token both
of them and ``subscribe/send`` use.  wechatpy 1.8.18 hard-codes its hosts as
class attributes, fetches tokens from ``/cgi-bin/token`` and appends an
access token to every call (§10), so:

* the base URL (``WECHAT_API_BASE``; the sandbox in tests and demo mode) is
  set on the client and API instances, never on the classes;
* the token comes from ``/cgi-bin/stable_token`` (the same token while valid,
  shared safely by every worker), cached in Redis when ``REDIS_URL`` is set;
* ``jscode2session`` is called with a list of query pairs, which wechatpy
  leaves alone, so logging in never fetches a token;
* wechatpy's unbounded token-refresh recursion is off: a rejected token is
  refreshed once and the call retried once.

Failures become :class:`WxaError` with WeChat's ``errcode`` (``None`` for a
network or HTTP failure); services translate them into domain errors.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.memorystorage import MemoryStorage
from wechatpy.session.redisstorage import RedisStorage

log = logging.getLogger(__name__)

OFFICIAL_BASE = "https://api.weixin.qq.com"
TIMEOUT = (3.05, 5)
TOKEN_REJECTED = (40001, 40014, 42001)   # invalid credential / token / expired
BUSY = -1


class WxaError(Exception):
    """WeChat refused or could not be reached.  ``errcode`` is None for network/HTTP."""

    def __init__(self, errcode: int | None, errmsg: str = ""):
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg

    @property
    def unavailable(self) -> bool:
        return self.errcode in (None, BUSY)


@dataclass(frozen=True)
class PhoneNumber:
    phone: str            # without country code: "13800138000"
    country_code: str     # "86"

    @property
    def national(self) -> str:
        """How ``House.owner_phone`` stores it: digits, "+86" dropped (server.imports.fields)."""
        return self.phone if self.country_code in ("", "86") else self.country_code + self.phone


class _StableTokenClient(WeChatClient):
    """wechatpy's client with its base URL per instance and the stable token endpoint."""

    def __init__(self, appid, secret, *, base: str, session, timeout):
        super().__init__(appid, secret, session=session, timeout=timeout, auto_retry=False)
        self.base = base
        self.API_BASE_URL = f"{base}/cgi-bin/"
        self.wxa.API_BASE_URL = f"{base}/"

    def fetch_access_token(self, force_refresh: bool = False):
        """``POST /cgi-bin/stable_token`` (§9); cached a minute short of its expiry."""
        body = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret,
                "force_refresh": force_refresh}
        res = self._http.post(f"{self.base}/cgi-bin/stable_token", json=body, timeout=self.timeout)
        res.raise_for_status()
        result = res.json()
        if result.get("errcode"):
            raise WeChatClientException(result["errcode"], result.get("errmsg", ""), client=self,
                                        request=res.request, response=res)
        expires_in = int(result.get("expires_in", 7200))
        self.session.set(self.access_token_key, result["access_token"], max(expires_in - 60, 30))
        self.expires_at = int(time.time()) + expires_in
        return result


class MiniProgramClient:
    def __init__(self, appid: str, secret: str, api_base: str = "", *, redis_url: str = "",
                 timeout=TIMEOUT):
        self.base = (api_base or OFFICIAL_BASE).rstrip("/")
        if redis_url:
            import redis

            storage = RedisStorage(redis.Redis.from_url(redis_url), prefix="wuyepay:wechatpy")
        else:
            storage = MemoryStorage()
        self._client = _StableTokenClient(appid, secret, base=self.base, session=storage,
                                          timeout=timeout)
        # Retry only a connection that could not be made: the request never left, so even a
        # single-use js_code is safe to send again.  Reads are never retried.
        adapter = HTTPAdapter(max_retries=Retry(total=None, connect=2, read=0, redirect=0,
                                                status=0, other=0, backoff_factor=0.1))
        self._client._http.mount("http://", adapter)
        self._client._http.mount("https://", adapter)

    @classmethod
    def from_config(cls, config) -> "MiniProgramClient":
        get = config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)
        return cls(get("WECHAT_APPID"), get("WECHAT_APP_SECRET"), get("WECHAT_API_BASE") or "",
                   redis_url=get("REDIS_URL") or "")

    # ------------------------------------------------------------------ calls
    def code_to_session(self, js_code: str) -> dict:
        """``GET /sns/jscode2session`` → ``{"openid", "session_key", "unionid"?}``.

        https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html
        The answer holds ``session_key``: callers must not log or return it.
        """
        c = self._client
        params = [("appid", c.appid), ("secret", c.secret), ("js_code", js_code),
                  ("grant_type", "authorization_code")]
        return self._call(lambda: c.get(f"{self.base}/sns/jscode2session", params=params),
                          "jscode2session")

    def user_phone_number(self, phone_code: str) -> PhoneNumber:
        """``POST /wxa/business/getuserphonenumber`` with the getPhoneNumber button's code.

        https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-info/phone-number/getPhoneNumber.html
        """
        result = self._with_token("post", f"{self.base}/wxa/business/getuserphonenumber",
                                  data={"code": phone_code})
        info = result.get("phone_info") or {}
        watermark = info.get("watermark") or {}
        if watermark.get("appid") not in (None, self._client.appid):
            raise WxaError(None, "phone number watermark is for another appid")
        phone = str(info.get("purePhoneNumber") or "")
        if not phone.isdigit():
            raise WxaError(None, "no phone number in the answer")
        return PhoneNumber(phone=phone, country_code=str(info.get("countryCode") or "86"))

    def send_subscribe_message(self, openid: str, template_id: str, data: dict, *,
                               page: str | None = None, state: str = "formal",
                               lang: str = "zh_CN") -> dict:
        """``POST /cgi-bin/message/subscribe/send`` (wechatpy's helper lacks
        ``miniprogram_state`` and ``lang``, §10)."""
        body = {"touser": openid, "template_id": template_id, "data": data,
                "miniprogram_state": state, "lang": lang}
        if page:
            body["page"] = page
        return self._with_token("post", f"{self.base}/cgi-bin/message/subscribe/send", data=body)

    def access_token(self) -> str:
        return self._call(lambda: self._client.access_token, "access_token")

    # --------------------------------------------------------------- plumbing
    def _with_token(self, method: str, url: str, **kwargs) -> dict:
        c = self._client
        token = self.access_token()
        try:
            return self._call(lambda: c._request(method, url, params={"access_token": token},
                                                 **kwargs), url)
        except WxaError as exc:
            if exc.errcode not in TOKEN_REJECTED:
                raise
        log.info("wechat rejected the access token; refreshing once")
        fresh = self._refresh(token)
        return self._call(lambda: c._request(method, url, params={"access_token": fresh}, **kwargs),
                          url)

    def _refresh(self, rejected: str) -> str:
        c = self._client
        c.session.delete(c.access_token_key)
        self._call(c.fetch_access_token, "stable_token")
        token = c.session.get(c.access_token_key)
        if token == rejected:  # WeChat still hands out the token it refused: force a new one
            self._call(lambda: c.fetch_access_token(force_refresh=True), "stable_token")
            token = c.session.get(c.access_token_key)
        return token

    @staticmethod
    def _call(fn, what: str):
        try:
            return fn()
        except WeChatClientException as exc:
            errcode = exc.errcode if exc.errcode is None else int(exc.errcode)
            log.warning("wechat %s failed: errcode=%s errmsg=%s", what, errcode, exc.errmsg)
            raise WxaError(errcode, str(exc.errmsg or "")) from None
        except (requests.RequestException, ValueError) as exc:
            log.warning("wechat %s unreachable: %s", what, type(exc).__name__)
            raise WxaError(None, type(exc).__name__) from None
