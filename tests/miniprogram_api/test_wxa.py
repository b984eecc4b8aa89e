"""The mini-program client against the sandbox: stable token cached and shared,
a rejected token refreshed once, subscribe/send with state and language."""
from __future__ import annotations

import pytest
import redis

from server.wxa import MiniProgramClient, WxaError


@pytest.fixture
def client(sandbox):
    return MiniProgramClient("wxd0000000000sandbox", "sandbox-app-secret", sandbox.base_url)


def test_the_stable_token_is_fetched_once_and_reused(client, sandbox):
    first = client.user_phone_number(sandbox.phone_code("13500000001"))
    assert (first.phone, first.country_code, first.national) == ("13500000001", "86", "13500000001")
    token = client.access_token()
    client.user_phone_number(sandbox.phone_code("13500000002"))
    assert client.access_token() == token
    assert sandbox.state.mp.stable_token == token


def test_a_rejected_token_is_refreshed_once_and_the_call_retried(client, sandbox):
    client.user_phone_number(sandbox.phone_code("13500000003"))
    old = client.access_token()
    sandbox.state.mp.stable_access_token("wxd0000000000sandbox", "sandbox-app-secret", force_refresh=True)
    sandbox.advance(301)                 # the superseded token's 5 minutes of grace are over
    number = client.user_phone_number(sandbox.phone_code("13500000004"))
    assert number.phone == "13500000004"
    assert client.access_token() != old


def test_wechat_errors_keep_their_code(client):
    with pytest.raises(WxaError) as raised:
        client.code_to_session("never-issued")
    assert raised.value.errcode == 40029 and not raised.value.unavailable


def test_an_unreachable_wechat_is_unavailable():
    dead = MiniProgramClient("wxd0000000000sandbox", "sandbox-app-secret", "http://127.0.0.1:9")
    with pytest.raises(WxaError) as raised:
        dead.code_to_session("x")
    assert raised.value.errcode is None and raised.value.unavailable


def test_workers_share_the_token_through_redis(sandbox, redis_proc):
    url = f"redis://{redis_proc.host}:{redis_proc.port}/0"
    redis.Redis.from_url(url).flushdb()
    worker1 = MiniProgramClient("wxd0000000000sandbox", "sandbox-app-secret", sandbox.base_url, redis_url=url)
    token = worker1.access_token()
    # A second worker that could not even reach WeChat still has the token.
    worker2 = MiniProgramClient("wxd0000000000sandbox", "sandbox-app-secret", "http://127.0.0.1:9",
                                redis_url=url)
    assert worker2.access_token() == token
    assert redis.Redis.from_url(url).ttl("wuyepay:wechatpy:wxd0000000000sandbox_access_token") > 0


def test_subscribe_send_carries_state_and_language(client, sandbox):
    sandbox.state.mp.register_template("SBX_TMPL_TEST_SEND_0001")
    sandbox.state.mp.grant_subscription("oSENDTEST000000000000000001", "SBX_TMPL_TEST_SEND_0001")
    answer = client.send_subscribe_message("oSENDTEST000000000000000001", "SBX_TMPL_TEST_SEND_0001",
                                           {"thing1": {"value": "物业费"}}, state="trial", lang="zh_CN")
    assert answer["errcode"] == 0
    sent = sandbox.state.mp.sent_messages[-1]
    assert (sent["miniprogram_state"], sent["lang"]) == ("trial", "zh_CN")
    with pytest.raises(WxaError) as raised:   # the one accept is spent
        client.send_subscribe_message("oSENDTEST000000000000000001", "SBX_TMPL_TEST_SEND_0001",
                                      {"thing1": {"value": "物业费"}})
    assert raised.value.errcode == 43101
