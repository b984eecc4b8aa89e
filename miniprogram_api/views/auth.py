"""``/auth``: log in with a wx.login() code, log out."""
from __future__ import annotations

from flask import g, request

from miniprogram_api import ratelimit
from miniprogram_api.blueprint import bp, wxa_client
from miniprogram_api.contract import operation
from miniprogram_api.schemas.auth import LoginBody, LoginOut
from server.owners import sessions


@bp.post("/auth/login")
@operation("Log in with a wx.login() code", tag="auth", body=LoginBody, response=LoginOut,
           auth=False, errors=(401, 403, 503), limit=ratelimit.login)
def login(body: LoginBody):
    """Exchanges the code at WeChat (jscode2session) for the owner's openid and opens a
    session.  Errors: 401 LOGIN_CODE_INVALID (unknown or expired code) or LOGIN_CODE_USED
    (call wx.login() again), 429 WECHAT_RATE_LIMITED, 403 LOGIN_BLOCKED, 503 WECHAT_UNAVAILABLE."""
    result = sessions.login(wxa_client(), body.code, user_agent=request.user_agent.string)
    owner = result.owner
    return {"token": result.token, "token_type": "Bearer", "expires_at": result.session.expires_at,
            "owner": {"id": owner.id, "phone_verified": bool(owner.phone),
                      "created_at": owner.created_at},
            "new_owner": result.created}


@bp.post("/auth/logout")
@operation("Log out: revoke this session's token", tag="auth", status=204)
def logout(owner_id: int):
    sessions.logout(g.owner_session.id)
