"""Rate limits on login and (for the lead's endpoint) order creation → 429 in our format."""
from __future__ import annotations

import redis

from miniprogram_api import ratelimit
from miniprogram_api.contract import operation


@operation("test stand-in for POST /api/v1/orders", tag="orders", status=204,
           limit=ratelimit.order_creation)
def create_order_stand_in(owner_id: int):
    return None


def _logins(client, sandbox, n):
    return [client.post("/api/v1/auth/login", json={"code": sandbox.login_code()}).status_code
            for _ in range(n)]


def test_too_many_logins_from_one_address_get_429(make_api, sandbox):
    app = make_api()
    app.config["RATELIMIT_LOGIN"] = "3 per minute"
    client = app.test_client()
    assert _logins(client, sandbox, 3) == [200, 200, 200]
    response = client.post("/api/v1/auth/login", json={"code": sandbox.login_code()})
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "RATE_LIMITED"
    assert int(response.headers["Retry-After"]) > 0
    # Attempts with invalid bodies count too: the limit is checked before parsing.
    assert client.post("/api/v1/auth/login", json={"nope": 1}).status_code == 429


def test_login_limits_are_shared_through_redis(make_api, sandbox, redis_proc):
    url = f"redis://{redis_proc.host}:{redis_proc.port}/0"
    redis.Redis.from_url(url).flushdb()
    app = make_api(REDIS_URL=url)
    app.config["RATELIMIT_LOGIN"] = "2 per minute"
    client = app.test_client()
    assert _logins(client, sandbox, 3) == [200, 200, 429]
    keys = redis.Redis.from_url(url).keys("*wuyepay*")
    assert keys, "the counter lives in Redis"


def test_order_creation_is_limited_per_owner(make_api, sandbox):
    app = make_api()
    app.add_url_rule("/api/v1/_stand_in/orders", view_func=create_order_stand_in, methods=["POST"])
    app.config["RATELIMIT_ORDER_CREATION"] = "2 per minute"
    client = app.test_client()
    tokens = [client.post("/api/v1/auth/login", json={"code": sandbox.login_code()}).get_json()["token"]
              for _ in range(2)]
    first, second = ({"Authorization": f"Bearer {t}"} for t in tokens)
    statuses = [client.post("/api/v1/_stand_in/orders", headers=first).status_code for _ in range(3)]
    assert statuses == [204, 204, 429]
    assert client.post("/api/v1/_stand_in/orders", headers=second).status_code == 204
    # No token: 401 before any limit is counted.
    assert client.post("/api/v1/_stand_in/orders").status_code == 401


def test_every_rate_limited_route_is_a_write_since_reads_skip_the_limiter(api_app):
    limited = set()
    for rule in api_app.url_map.iter_rules():
        op = getattr(api_app.view_functions[rule.endpoint], "openapi", None)
        if op is not None and op.rate_limited:
            limited.add(rule.rule)
            assert not (rule.methods - {"HEAD", "OPTIONS"}) & ratelimit.READS, rule.rule
    assert {"/api/v1/auth/login", "/api/v1/orders", "/api/v1/houses/bind"} <= limited

