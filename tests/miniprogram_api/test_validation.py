"""Declared schemas refuse unknown fields and wrong types with 422 and details."""
from __future__ import annotations

import pytest

from tests.miniprogram_api.conftest import bind


@pytest.mark.parametrize("body, field", [
    ({"code": "abc", "openid": "oSNEAKY"}, "openid"),        # the openid never comes from the client
    ({"code": 12345}, "code"),                                # wrong type: no coercion in bodies
    ({}, "code"),
    ({"code": ""}, "code"),
    ({"code": "a\u0000b"}, "code"),                           # PostgreSQL cannot store NUL
])
def test_login_body_is_validated(api, body, field):
    response = api.post("/api/v1/auth/login", json=body)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"code"'])
def test_bodies_that_are_not_json_objects_are_422(api, raw):
    response = api.post("/api/v1/auth/login", data=raw, content_type="application/json")
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("body, field", [
    ({"method": "phone"}, "phone_code"),
    ({"method": "teleport"}, "body"),
    ({"method": "code", "binding_code": "ABCD", "role": "owner"}, "role"),
    ({"method": "request", "role": "landlord", "address": {"community_id": 1, "building": "1",
                                                          "room_no": "1"}}, "role"),
    ({"method": "request", "role": "owner"}, "address"),
    ({"method": "request", "role": "owner", "address": {"community_id": "1", "building": "1",
                                                       "room_no": "1"}}, "address.community_id"),
    ({"method": "phone", "phone_code": "x", "house_id": True}, "house_id"),
    ({"method": "request", "role": "owner", "address": {"community_id": 1, "room_no": "1"}},
     "address.building"),
])
def test_bind_body_is_validated_per_method(api, login, body, field):
    owner = login()
    response = api.post("/api/v1/houses/bind", json=body, headers=owner.headers)
    assert response.status_code == 422, response.get_json()
    details = response.get_json()["error"]["details"]
    assert field in details, details


@pytest.mark.parametrize("query, field", [
    ("status=owing", "status"),
    ("period=2026-13", "period"),
    ("period=202601", "period"),
    ("page=2", "page"),
    ("status=open&status=paid", "status"),
])
def test_bill_query_arguments_are_validated(api, login, estate, query, field):
    owner = login()
    bind(owner.owner_id, estate.houses[0])
    response = api.get(f"/api/v1/houses/{estate.houses[0].id}/bills?{query}", headers=owner.headers)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["details"]


def test_validation_runs_after_authentication(api):
    response = api.post("/api/v1/houses/bind", json={"method": "teleport"})
    assert response.status_code == 401
