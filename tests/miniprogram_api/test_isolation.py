"""Owner A holding owner B's ids gets 404 everywhere; unbound houses are invisible;
every answer under /api/v1 is JSON in the error format."""
from __future__ import annotations

import pytest

from server.disputes import services as disputes
from server.property.models import Binding
from tests import factories
from tests.miniprogram_api.conftest import bind

# (method, url template, body): every route of the owner API that takes an id.
ID_ROUTES = [
    ("get", "/api/v1/houses/{house}/bills", None),
    ("delete", "/api/v1/houses/{house}/binding", None),
    ("get", "/api/v1/bills/{bill}", None),
    ("post", "/api/v1/bills/{bill}/disputes", {"reason": "other", "text": "?"}),
    ("get", "/api/v1/disputes/{dispute}", None),
    ("post", "/api/v1/disputes/{dispute}/messages", {"text": "hello"}),
    ("post", "/api/v1/disputes/{dispute}/withdraw", None),
    ("get", "/api/v1/communities/{community}/fee-standards", None),
]


@pytest.fixture
def two_owners(login, database):
    a_estate, b_estate = factories.estate(1, water=False), factories.estate(1, water=False)
    a, b = login(), login()
    bind(a.owner_id, a_estate.houses[0])
    bind(b.owner_id, b_estate.houses[0])
    b_bill = factories.bill(b_estate.houses[0], b_estate.items["WYF"])
    b_dispute = disputes.open_dispute(b.owner_id, b_bill.id, "other", "B's question")
    ids = {"house": b_estate.houses[0].id, "bill": b_bill.id, "dispute": b_dispute.id,
           "community": b_estate.community.id}
    return a, b, ids


@pytest.mark.parametrize("method, template, body", ID_ROUTES)
def test_owner_a_gets_404_with_owner_bs_ids(api, two_owners, method, template, body):
    a, b, ids = two_owners
    url = template.format(**ids)
    response = getattr(api, method)(url, json=body, headers=a.headers)
    assert response.status_code == 404, (url, response.get_json())
    assert set(response.get_json()["error"]) == {"code", "message", "details"}
    # …while B, the owner, reaches the same resource (a 409 for B's second dispute is fine).
    assert getattr(api, method)(url, json=body, headers=b.headers).status_code in (200, 201, 204, 409)


def test_b_data_is_untouched_by_a_attempts(api, two_owners):
    a, b, ids = two_owners
    for method, template, body in ID_ROUTES:
        getattr(api, method)(template.format(**ids), json=body, headers=a.headers)
    assert Binding.select().where(Binding.owner == b.owner_id, Binding.status == "active").count() == 1
    assert disputes.owner_dispute(b.owner_id, ids["dispute"])["status"] == "open"


def test_an_unbound_house_is_invisible(api, login, estate):
    owner = login()
    bind(owner.owner_id, estate.houses[0])
    listed = api.get("/api/v1/houses", headers=owner.headers).get_json()
    assert [h["id"] for h in listed["houses"]] == [estate.houses[0].id]
    neighbour = estate.houses[1]
    assert api.get(f"/api/v1/houses/{neighbour.id}/bills", headers=owner.headers).status_code == 404


def test_ids_beyond_the_database_range_are_404_not_500(api, login):
    owner = login()
    response = api.get(f"/api/v1/bills/{2**63}", headers=owner.headers)
    assert response.status_code == 404


@pytest.mark.parametrize("method, url, status, code", [
    ("get", "/api/v1/no-such-thing", 404, "NOT_FOUND"),
    ("put", "/api/v1/houses", 405, "METHOD_NOT_ALLOWED"),
    ("get", "/api/v1/bills/-1", 404, "NOT_FOUND"),
])
def test_unknown_routes_and_methods_answer_json_errors(api, method, url, status, code):
    response = getattr(api, method)(url)
    assert response.status_code == status
    assert response.is_json and response.get_json()["error"]["code"] == code


def test_a_wrong_method_says_which_are_allowed(api):
    response = api.put("/api/v1/subscriptions")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_api_responses_are_not_cacheable(api, login):
    owner = login()
    assert api.get("/api/v1/houses", headers=owner.headers).headers["Cache-Control"] == "no-store"
