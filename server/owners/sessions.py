"""Owner login and bearer sessions.

``login`` exchanges a ``wx.login()`` code for the owner's openid at WeChat
(the openid never comes from the client), finds or creates the owner and opens
a session: a random token (``secrets.token_urlsafe``) of which only the SHA-256
is stored.  Sessions slide: each use within ``SESSION_TTL`` extends them
(written at most every ``TOUCH_EVERY``, so reads stay reads), and they end at
logout or when revoked.  WeChat's ``session_key`` is dropped on the spot.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from dataclasses import dataclass

import peewee as pw

from server.db import transaction
from server.errors import DomainError, Forbidden, TooManyRequests, Unauthorized, Unavailable
from server.owners import prepared
from server.owners.models import OwnerSession
from server.property.models import Owner
from server.timeutil import utcnow
from server.wxa import MiniProgramClient, WxaError

log = logging.getLogger(__name__)

SESSION_TTL = dt.timedelta(days=30)
TOUCH_EVERY = dt.timedelta(minutes=10)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class LoginResult:
    token: str
    session: OwnerSession
    owner: Owner
    created: bool


def translate_login_error(exc: WxaError) -> DomainError:
    """WeChat's answer to jscode2session → our error (§9 error codes).  A bad code is a
    401 like any failed authentication: the mini-program calls wx.login() again."""
    if exc.errcode == 40029:
        return Unauthorized("登录凭证无效或已过期，请重新登录", code="LOGIN_CODE_INVALID")
    if exc.errcode == 40163:
        return Unauthorized("登录凭证已被使用，请重新登录", code="LOGIN_CODE_USED")
    if exc.errcode == 45011:
        return TooManyRequests("登录太频繁，请稍后再试", code="WECHAT_RATE_LIMITED")
    if exc.errcode == 40226:
        return Forbidden("该微信账号暂时无法登录", code="LOGIN_BLOCKED")
    if not exc.unavailable:
        log.error("jscode2session refused with errcode %s: check WECHAT_APPID/SECRET", exc.errcode)
    return Unavailable("微信服务暂时不可用，请稍后再试", code="WECHAT_UNAVAILABLE",
                       details={"wechat_errcode": exc.errcode})


def login(wxa: MiniProgramClient, js_code: str, *, user_agent: str = "",
          now: dt.datetime | None = None) -> LoginResult:
    now = now or utcnow()
    try:
        answer = wxa.code_to_session(js_code)
    except WxaError as exc:
        raise translate_login_error(exc) from None
    openid = answer.get("openid") if isinstance(answer, dict) else None
    if not openid:
        raise Unavailable("微信服务暂时不可用，请稍后再试", code="WECHAT_UNAVAILABLE")
    owner, created = _owner_for(str(openid), answer.get("unionid"))
    token = secrets.token_urlsafe(32)
    session = OwnerSession.create(owner=owner.id, token_hash=hash_token(token), created_at=now,
                                  last_used_at=now, expires_at=now + SESSION_TTL,
                                  user_agent=(user_agent or "")[:255])
    log.info("owner %s logged in (session %s, new owner: %s)", owner.id, session.id, created)
    return LoginResult(token=token, session=session, owner=owner, created=created)


def _owner_for(openid: str, unionid: str | None) -> tuple[Owner, bool]:
    owner = Owner.get_or_none(Owner.openid == openid)
    if owner is None:
        try:
            with transaction():
                return Owner.create(openid=openid, unionid=unionid), True
        except pw.IntegrityError:  # the same person logging in twice at once
            owner = Owner.get(Owner.openid == openid)
    if unionid and owner.unionid != unionid:
        Owner.update(unionid=unionid).where(Owner.id == owner.id).execute()
        owner.unionid = unionid
    return owner, False


def _session_query(token_hash):
    return OwnerSession.select().where(OwnerSession.token_hash == token_hash).limit(1)


def authenticate(token: str | None, *, now: dt.datetime | None = None) -> OwnerSession:
    """The live session for a bearer token, or :class:`Unauthorized` with why."""
    if not token:
        raise Unauthorized("请先登录", code="AUTH_REQUIRED")
    now = now or utcnow()
    session = next(iter(prepared.run(("owner_session",), _session_query,
                                     token_hash=hash_token(token))), None)
    if session is None:
        raise Unauthorized("登录已失效，请重新登录", code="TOKEN_INVALID")
    if session.revoked_at is not None:
        raise Unauthorized("已退出登录，请重新登录", code="TOKEN_REVOKED")
    if session.expires_at <= now:
        raise Unauthorized("登录已过期，请重新登录", code="TOKEN_EXPIRED")
    if now - session.last_used_at >= TOUCH_EVERY:
        (OwnerSession.update(last_used_at=now, expires_at=now + SESSION_TTL)
         .where(OwnerSession.id == session.id, OwnerSession.revoked_at.is_null())
         .execute())
    return session


def logout(session_id: int, *, now: dt.datetime | None = None) -> None:
    (OwnerSession.update(revoked_at=now or utcnow())
     .where(OwnerSession.id == session_id, OwnerSession.revoked_at.is_null()).execute())


def revoke_all(owner_id: int, *, now: dt.datetime | None = None) -> int:
    """End every session of an owner (staff action, or a lost phone)."""
    return (OwnerSession.update(revoked_at=now or utcnow())
            .where(OwnerSession.owner == owner_id, OwnerSession.revoked_at.is_null()).execute())


def purge_expired(before: dt.datetime) -> int:
    """Delete sessions that ended before ``before`` (a periodic job's work)."""
    return (OwnerSession.delete()
            .where((OwnerSession.expires_at < before)
                   | (OwnerSession.revoked_at.is_null(False) & (OwnerSession.revoked_at < before)))
            .execute())
