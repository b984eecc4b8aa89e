"""Login through jscode2session over real HTTP, bearer sessions, logout."""
from __future__ import annotations

import datetime as dt
import logging

import pytest

from server.owners import sessions
from server.owners.models import OwnerSession
from server.property.models import Owner
from server.timeutil import utcnow
from server.wxa import WxaError


def test_login_creates_the_owner_from_the_openid_wechat_returns(api, sandbox):
    code = sandbox.login_code("oFIRSTLOGIN0000000000000001")
    response = api.post("/api/v1/auth/login", json={"code": code})
    assert response.status_code == 200
    data = response.get_json()
    assert data["token_type"] == "Bearer" and len(data["token"]) >= 40
    assert data["new_owner"] is True
    owner = Owner.get_by_id(data["owner"]["id"])
    assert owner.openid == "oFIRSTLOGIN0000000000000001"
    session = OwnerSession.get(OwnerSession.owner == owner.id)
    assert session.token_hash == sessions.hash_token(data["token"])   # only the hash is stored
    assert data["token"] not in str(session.__data__.values())


def test_logging_in_again_finds_the_same_owner_with_a_new_token(api, sandbox, login):
    first = login("oSAMEPERSON0000000000000001")
    again = api.post("/api/v1/auth/login", json={"code": sandbox.login_code("oSAMEPERSON0000000000000001")})
    data = again.get_json()
    assert data["owner"]["id"] == first.owner_id and data["new_owner"] is False
    assert data["token"] != first.token
    assert Owner.select().count() == 1


def test_the_session_key_never_leaves_the_server(api, sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    response = api.post("/api/v1/auth/login", json={"code": sandbox.login_code()})
    assert "session_key" not in response.get_data(as_text=True)
    assert "session_key" not in caplog.text
    assert not any("session_key" in (f.name or "") for f in OwnerSession._meta.sorted_fields)


def test_login_fetches_no_access_token(api, sandbox):
    before = len(sandbox.state.mp.tokens)
    api.post("/api/v1/auth/login", json={"code": sandbox.login_code()})
    assert len(sandbox.state.mp.tokens) == before


@pytest.mark.parametrize("case, expected", [
    ("unknown", "LOGIN_CODE_INVALID"),
    ("used", "LOGIN_CODE_USED"),
    ("expired", "LOGIN_CODE_INVALID"),
])
def test_bad_login_codes_get_a_clear_error(api, sandbox, case, expected):
    if case == "unknown":
        code = "not-a-code-wechat-issued"
    else:
        code = sandbox.login_code()
        if case == "used":
            assert api.post("/api/v1/auth/login", json={"code": code}).status_code == 200
        else:
            sandbox.advance(301)          # a js_code lives about five minutes
    response = api.post("/api/v1/auth/login", json={"code": code})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == expected


def test_wechat_unreachable_is_503(make_api, sandbox):
    app = make_api(WECHAT_API_BASE="http://127.0.0.1:9")   # nothing listens on the discard port
    response = app.test_client().post("/api/v1/auth/login", json={"code": sandbox.login_code()})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "WECHAT_UNAVAILABLE"


@pytest.mark.parametrize("errcode, status, code", [
    (45011, 429, "WECHAT_RATE_LIMITED"),
    (-1, 503, "WECHAT_UNAVAILABLE"),
    (None, 503, "WECHAT_UNAVAILABLE"),
    (40226, 403, "LOGIN_BLOCKED"),
])
def test_other_wechat_login_errors_are_mapped(database, errcode, status, code):
    class Refusing:
        def code_to_session(self, js_code):
            raise WxaError(errcode, "refused")

    with pytest.raises(sessions.DomainError) as raised:
        sessions.login(Refusing(), "code")
    assert (raised.value.status, raised.value.code) == (status, code)


def test_requests_without_a_token_get_401(api):
    response = api.get("/api/v1/houses")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "AUTH_REQUIRED"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer nonsense-token-that-was-never-issued", "Basic abc", "Bearer "])
def test_unknown_or_malformed_tokens_get_401(api, header):
    response = api.get("/api/v1/houses", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "TOKEN_INVALID"


def test_logout_revokes_the_token(api, login):
    owner = login()
    assert api.post("/api/v1/auth/logout", headers=owner.headers).status_code == 204
    response = api.get("/api/v1/houses", headers=owner.headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "TOKEN_REVOKED"


def test_an_expired_token_gets_401(api, login):
    owner = login()
    OwnerSession.update(expires_at=utcnow() - dt.timedelta(seconds=1)).where(
        OwnerSession.owner == owner.owner_id).execute()
    response = api.get("/api/v1/houses", headers=owner.headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "TOKEN_EXPIRED"


def test_using_a_session_slides_its_expiry(api, login):
    owner = login()
    session = OwnerSession.get(OwnerSession.owner == owner.owner_id)
    later = session.last_used_at + dt.timedelta(days=29)
    sessions.authenticate(owner.token, now=later)
    refreshed = OwnerSession.get_by_id(session.id)
    assert refreshed.expires_at == later + sessions.SESSION_TTL
    # …and an unused one ends: 30 days after its last use.
    with pytest.raises(sessions.Unauthorized):
        sessions.authenticate(owner.token, now=refreshed.expires_at)


def test_revoke_all_ends_every_session_of_an_owner(api, login, sandbox):
    owner = login("oTWODEVICES0000000000000001")
    second = login("oTWODEVICES0000000000000001")
    assert sessions.revoke_all(owner.owner_id) == 2
    for token in (owner.token, second.token):
        assert api.get("/api/v1/houses", headers={"Authorization": f"Bearer {token}"}).status_code == 401
