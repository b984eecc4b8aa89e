"""The sandbox's mini-program server APIs (§9): codes, tokens, phone numbers, one-time subscriptions."""
from __future__ import annotations

import pytest
import requests


@pytest.fixture
def api(sandbox):
    session = requests.Session()

    def call(method, path, **kwargs):
        answer = session.request(method, sandbox.url(path), timeout=5, **kwargs)
        assert answer.status_code == 200
        return answer
    yield call
    session.close()


@pytest.fixture
def app_credentials(sandbox):
    return {"appid": sandbox.state.appid, "secret": sandbox.state.app_secret}


def _session(api, creds, code):
    return api("GET", "/sns/jscode2session",
               params={**creds, "js_code": code, "grant_type": "authorization_code"})


def test_jscode2session_gives_the_openid_once(api, sandbox, app_credentials):
    code = sandbox.state.mp.issue_login_code(openid="oOWNER000000000000000000001", unionid="uUNION1")
    data = _session(api, app_credentials, code).json()
    assert data["openid"] == "oOWNER000000000000000000001" and data["unionid"] == "uUNION1"
    assert data["session_key"]
    again = _session(api, app_credentials, code)
    assert again.json()["errcode"] == 40163
    assert again.headers["Content-Type"].startswith("text/plain")      # errors are not always JSON-typed


def test_unknown_or_expired_codes_and_wrong_secret_are_refused(api, sandbox, app_credentials):
    assert _session(api, app_credentials, "nope").json()["errcode"] == 40029
    code = sandbox.state.mp.issue_login_code()
    sandbox.state.advance(301)
    assert _session(api, app_credentials, code).json()["errcode"] == 40029
    fresh = sandbox.state.mp.issue_login_code()
    assert _session(api, dict(app_credentials, secret="wrong"), fresh).json()["errcode"] == 40125


def test_login_codes_can_be_issued_over_http(api, app_credentials):
    answer = api("POST", "/sandbox/admin/login-codes", json={"openid": "oHTTP00000000000000000000001"})
    code = answer.json()["code"]
    assert _session(api, app_credentials, code).json()["openid"] == "oHTTP00000000000000000000001"


def _token(api, creds):
    return api("GET", "/cgi-bin/token", params={"grant_type": "client_credential", **creds}).json()


def test_access_token_is_new_each_time_and_the_old_one_lasts_five_minutes(api, sandbox, app_credentials):
    first, second = _token(api, app_credentials), _token(api, app_credentials)
    assert first["expires_in"] == 7200 and first["access_token"] != second["access_token"]
    mp = sandbox.state.mp
    mp.check_token(first["access_token"])
    sandbox.state.advance(301)
    with pytest.raises(Exception) as info:
        mp.check_token(first["access_token"])
    assert info.value.errcode == 40001
    mp.check_token(second["access_token"])
    sandbox.state.advance(7200)
    with pytest.raises(Exception) as info:
        mp.check_token(second["access_token"])
    assert info.value.errcode == 42001


def test_stable_token_is_the_same_while_valid_and_force_refresh_renews_it(api, sandbox, app_credentials):
    body = {"grant_type": "client_credential", **app_credentials}
    first = api("POST", "/cgi-bin/stable_token", json=body).json()
    second = api("POST", "/cgi-bin/stable_token", json=body).json()
    assert first["access_token"] == second["access_token"] and second["expires_in"] >= 300
    sandbox.state.advance(7200 - 299)
    renewed = api("POST", "/cgi-bin/stable_token", json=body).json()
    assert renewed["access_token"] != first["access_token"]
    forced = api("POST", "/cgi-bin/stable_token", json={**body, "force_refresh": True}).json()
    assert forced["access_token"] != renewed["access_token"]
    bad = api("POST", "/cgi-bin/stable_token", json={**body, "secret": "x"}).json()
    assert bad["errcode"] == 40125


def test_getuserphonenumber_decodes_a_phone_code_once(api, sandbox, app_credentials):
    token = _token(api, app_credentials)["access_token"]
    code = sandbox.state.mp.issue_phone_code("13912345678")
    path = "/wxa/business/getuserphonenumber"
    data = api("POST", path, params={"access_token": token}, json={"code": code}).json()
    assert data["errcode"] == 0 and data["phone_info"]["purePhoneNumber"] == "13912345678"
    assert data["phone_info"]["watermark"]["appid"] == sandbox.state.appid
    assert api("POST", path, params={"access_token": token}, json={"code": code}).json()["errcode"] == 40029
    assert api("POST", path, params={"access_token": "stale"}, json={"code": code}).json()["errcode"] == 40001


OPENID = "oOWNER000000000000000000001"
TEMPLATE = "TPL_BILL_DUE"


def _send(api, token, data, openid=OPENID, template=TEMPLATE):
    return api("POST", "/cgi-bin/message/subscribe/send", params={"access_token": token},
               json={"touser": openid, "template_id": template, "page": "pages/bills/index",
                     "miniprogram_state": "formal", "lang": "zh_CN", "data": data}).json()


GOOD = {"thing1": {"value": "物业费"}, "amount2": {"value": "¥123.45"}, "date3": {"value": "2026年1月31日"},
        "phrase4": {"value": "待缴费"}, "character_string5": {"value": "WY202601010001"}}


def test_each_accept_grants_exactly_one_subscription_message(api, sandbox, app_credentials):
    token = _token(api, app_credentials)["access_token"]
    assert _send(api, token, GOOD)["errcode"] == 43101                      # nothing accepted yet
    sandbox.state.mp.grant_subscription(OPENID, TEMPLATE)
    api("POST", "/sandbox/admin/subscriptions", json={"openid": OPENID, "template_id": TEMPLATE})
    assert _send(api, token, GOOD)["errcode"] == 0
    assert _send(api, token, GOOD)["errcode"] == 0
    assert _send(api, token, GOOD)["errcode"] == 43101
    sent = api("GET", "/sandbox/admin/messages").json()
    assert len(sent) == 2 and sent[0]["data"]["thing1"]["value"] == "物业费"


@pytest.mark.parametrize("field,value", [("thing1", "一二三四五六七八九十一二三四五六七八九十一"),
                                         ("amount2", "about 5 yuan"), ("date3", "yesterday"),
                                         ("phrase4", "待缴费了吗啊"), ("character_string5", "中文")])
def test_a_bad_data_field_is_47003_naming_the_field_and_uses_no_quota(api, sandbox, app_credentials,
                                                                      field, value):
    token = _token(api, app_credentials)["access_token"]
    sandbox.state.mp.grant_subscription(OPENID, TEMPLATE)
    data = dict(GOOD, **{field: {"value": value}})
    answer = _send(api, token, data)
    assert answer["errcode"] == 47003 and f"data.{field}.value" in answer["errmsg"]
    assert _send(api, token, GOOD)["errcode"] == 0


def test_send_with_a_stale_token_is_40001_and_unknown_template_40037(api, sandbox, app_credentials):
    sandbox.state.mp.grant_subscription(OPENID, TEMPLATE)
    old = _token(api, app_credentials)["access_token"]
    new = _token(api, app_credentials)["access_token"]
    sandbox.state.advance(301)
    assert _send(api, old, GOOD)["errcode"] == 40001
    sandbox.state.mp.strict_templates = True
    assert _send(api, new, GOOD, template="TPL_UNKNOWN")["errcode"] == 40037
    assert _send(api, new, GOOD, openid="")["errcode"] == 40003
    assert _send(api, new, GOOD)["errcode"] == 0


def test_enum_fields_accept_only_the_templates_values(api, sandbox, app_credentials):
    token = _token(api, app_credentials)["access_token"]
    sandbox.state.mp.register_template("TPL_ENUM", {"enum1": ["已缴", "未缴"]})
    sandbox.state.mp.grant_subscription(OPENID, "TPL_ENUM", count=2)
    assert _send(api, token, {"enum1": {"value": "欠费"}}, template="TPL_ENUM")["errcode"] == 47003
    assert _send(api, token, {"enum1": {"value": "未缴"}}, template="TPL_ENUM")["errcode"] == 0
