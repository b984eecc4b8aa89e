"""Mini-program server state: login codes, tokens, phone codes, one-time subscriptions (§9).

Error results are ``(errcode, errmsg)`` pairs raised as :class:`MpError`;
the HTTP layer turns them into WeChat's ``{"errcode":…,"errmsg":…}`` bodies.
"""
from __future__ import annotations

import re
import secrets
import string

CODE_TTL = 300                 # a js_code lives about 5 minutes
TOKEN_TTL = 7200
TOKEN_GRACE = 300              # the previous access_token stays valid ~5 more minutes
_ALNUM = string.ascii_letters + string.digits

_CJK = r"\u4e00-\u9fff"
_DATE = r"(\d{4}年\d{1,2}月\d{1,2}日|\d{4}-\d{1,2}-\d{1,2})"
_TIME = r"\d{1,2}:\d{2}(:\d{2})?"
_RULES = {
    "thing": lambda v: 0 < len(v) <= 20,
    "number": lambda v: len(v) <= 32 and re.fullmatch(r"\d+(\.\d+)?", v),
    "letter": lambda v: len(v) <= 32 and re.fullmatch(r"[A-Za-z]+", v),
    "symbol": lambda v: 0 < len(v) <= 5 and re.fullmatch(r"[^\w\s]+", v),
    "character_string": lambda v: 0 < len(v) <= 32 and re.fullmatch(r"[\x21-\x7e]+", v),
    "time": lambda v: _range_ok(v, rf"({_DATE}\s*)?{_TIME}"),
    "date": lambda v: _range_ok(v, rf"{_DATE}(\s*{_TIME})?"),
    "amount": lambda v: re.fullmatch(r"[¥￥$]?\d{1,10}(\.\d{1,2})?元?", v),
    "phone_number": lambda v: 0 < len(v) <= 17 and re.fullmatch(r"[0-9+\-() ]+", v),
    "car_number": lambda v: 0 < len(v) <= 8 and re.fullmatch(rf"[{_CJK}A-Z0-9]?[A-Z0-9]*[{_CJK}A-Z0-9]?", v),
    "name": lambda v: _name_ok(v),
    "phrase": lambda v: 0 < len(v) <= 5 and re.fullmatch(rf"[{_CJK}]+", v),
}


def _range_ok(value: str, pattern: str) -> bool:
    parts = [p.strip() for p in value.split("~")]
    return 0 < len(parts) <= 2 and all(re.fullmatch(pattern, p) for p in parts)


def _name_ok(value: str) -> bool:
    if not value:
        return False
    if re.search(rf"[{_CJK}]", value):
        return len(value) <= 10
    return len(value) <= 20


class MpError(Exception):
    def __init__(self, errcode: int, errmsg: str):
        super().__init__(f"{errcode} {errmsg}")
        self.errcode, self.errmsg = errcode, errmsg


def field_type(key: str) -> str:
    """``thing1`` → ``thing``; ``character_string2`` → ``character_string``."""
    return re.sub(r"\d+$", "", key)


class MiniProgramState:
    def __init__(self, state):
        self.state = state
        self.login_codes: dict[str, dict] = {}
        self.phone_codes: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}
        self.stable_token: str | None = None
        self.subscriptions: dict[tuple[str, str], int] = {}
        self.templates: dict[str, dict[str, list[str] | None]] = {}
        self.sent_messages: list[dict] = []
        #: False: any template id is known (as if configured in the MP console);
        #: True: only registered or subscribed ones, others get 40037.
        self.strict_templates = False

    # --------------------------------------------------------------- helpers
    def issue_login_code(self, openid: str | None = None, unionid: str | None = None) -> str:
        """What ``wx.login()`` gives the mini-program: a single-use ``js_code``."""
        code = "".join(secrets.choice(_ALNUM) for _ in range(32))
        openid = openid or "o" + "".join(secrets.choice(_ALNUM + "_-") for _ in range(27))
        with self.state.lock:
            self.login_codes[code] = {"openid": openid, "unionid": unionid, "used": False,
                                      "issued": self.state.now()}
        return code

    def issue_phone_code(self, phone: str = "13800138000", country_code: str = "86") -> str:
        """What the ``getPhoneNumber`` button gives: a single-use phone code."""
        code = secrets.token_hex(32)
        with self.state.lock:
            self.phone_codes[code] = {"phone": phone, "country_code": country_code, "used": False,
                                      "issued": self.state.now()}
        return code

    def grant_subscription(self, openid: str, template_id: str, count: int = 1) -> int:
        """The user tapped "accept" ``count`` times: one send each, accumulating, no expiry."""
        with self.state.lock:
            key = (openid, template_id)
            self.subscriptions[key] = self.subscriptions.get(key, 0) + count
            return self.subscriptions[key]

    def register_template(self, template_id: str, enums: dict[str, list[str]] | None = None) -> None:
        """Declare a template; ``enums`` lists the allowed values of its ``enum`` fields."""
        with self.state.lock:
            self.templates[template_id] = dict(enums or {})

    # -------------------------------------------------------------- services
    def code2session(self, appid: str, secret: str, js_code: str) -> dict:
        self._check_app(appid, secret)
        with self.state.lock:
            entry = self.login_codes.get(js_code or "")
            if entry is None or self.state.now() - entry["issued"] > CODE_TTL:
                raise MpError(40029, "invalid code")
            if entry["used"]:
                raise MpError(40163, "code been used")
            entry["used"] = True
        result = {"openid": entry["openid"], "session_key": secrets.token_urlsafe(18)}
        if entry["unionid"]:
            result["unionid"] = entry["unionid"]
        return result

    def _check_app(self, appid: str, secret: str) -> None:
        if appid != self.state.appid:
            raise MpError(40013, "invalid appid")
        if secret != self.state.app_secret:
            raise MpError(40125, "invalid appsecret")

    def _new_token(self, kind: str) -> dict:
        now = self.state.now()
        token = "".join(secrets.choice(_ALNUM + "_") for _ in range(136))
        entry = {"token": token, "kind": kind, "issued": now, "expires": now + TOKEN_TTL}
        for old in self.tokens.values():
            if old["kind"] == kind:
                old["expires"] = min(old["expires"], now + TOKEN_GRACE)
        self.tokens[token] = entry
        return entry

    def access_token(self, appid: str, secret: str) -> dict:
        """``/cgi-bin/token``: a new token on every call; the previous one gets 5 minutes."""
        self._check_app(appid, secret)
        with self.state.lock:
            entry = self._new_token("token")
        return {"access_token": entry["token"], "expires_in": TOKEN_TTL}

    def stable_access_token(self, appid: str, secret: str, force_refresh: bool = False) -> dict:
        """``/cgi-bin/stable_token``: the same token while valid, renewed 5 min before expiry."""
        self._check_app(appid, secret)
        with self.state.lock:
            now = self.state.now()
            entry = self.tokens.get(self.stable_token or "")
            if force_refresh or entry is None or entry["expires"] - now < TOKEN_GRACE:
                entry = self._new_token("stable")
                self.stable_token = entry["token"]
            return {"access_token": entry["token"], "expires_in": int(entry["expires"] - now)}

    def check_token(self, token: str | None) -> None:
        if not token:
            raise MpError(41001, "access_token missing")
        with self.state.lock:
            entry = self.tokens.get(token)
            now = self.state.now()
        if entry is None:
            raise MpError(40001, "invalid credential, access_token is invalid or not latest")
        if now > entry["expires"]:
            superseded = entry["expires"] < entry["issued"] + TOKEN_TTL
            if superseded:
                raise MpError(40001, "invalid credential, access_token is invalid or not latest")
            raise MpError(42001, "access_token expired")

    def phone_number(self, token: str | None, code: str) -> dict:
        self.check_token(token)
        with self.state.lock:
            entry = self.phone_codes.get(code or "")
            if entry is None or entry["used"] or self.state.now() - entry["issued"] > CODE_TTL:
                raise MpError(40029, "invalid code")
            entry["used"] = True
        phone, cc = entry["phone"], entry["country_code"]
        return {"errcode": 0, "errmsg": "ok", "phone_info": {
            "phoneNumber": phone if cc == "86" else f"+{cc}{phone}", "purePhoneNumber": phone,
            "countryCode": cc, "watermark": {"timestamp": int(self.state.now()),
                                             "appid": self.state.appid}}}

    def send_subscribe_message(self, token: str | None, payload: dict) -> dict:
        """``message/subscribe/send``: check token, recipient, template, data, then quota."""
        self.check_token(token)
        touser, template_id = payload.get("touser") or "", payload.get("template_id") or ""
        if not re.fullmatch(r"[A-Za-z0-9_-]{6,64}", touser):
            raise MpError(40003, "invalid openid")
        with self.state.lock:
            known = (not self.strict_templates or template_id in self.templates
                     or any(t == template_id for _, t in self.subscriptions))
            enums = self.templates.get(template_id, {})
        if not template_id or not known:
            raise MpError(40037, "invalid template_id")
        if payload.get("miniprogram_state", "formal") not in ("developer", "trial", "formal"):
            raise MpError(47003, "argument invalid! miniprogram_state invalid")
        data = payload.get("data")
        if not isinstance(data, dict) or not data:
            raise MpError(47003, "argument invalid! data invalid")
        for key, item in data.items():
            value = item.get("value") if isinstance(item, dict) else None
            if not isinstance(value, str) or not self._value_ok(field_type(key), value, enums.get(key)):
                raise MpError(47003, f"argument invalid! data.{key}.value invalid")
        with self.state.lock:
            left = self.subscriptions.get((touser, template_id), 0)
            if left <= 0:
                raise MpError(43101, "user refuse to accept the msg")
            self.subscriptions[(touser, template_id)] = left - 1
            msgid = len(self.sent_messages) + 1
            self.sent_messages.append({"msgid": msgid, "at": self.state.now(), **payload})
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    @staticmethod
    def _value_ok(kind: str, value: str, enum_values) -> bool:
        if kind == "enum":
            return value in enum_values if enum_values else 0 < len(value) <= 20
        rule = _RULES.get(kind)
        return bool(rule and rule(value))
