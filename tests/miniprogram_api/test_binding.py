"""Binding houses by phone code, by one-time binding code, by request + staff approval."""
from __future__ import annotations

import datetime as dt
import threading

import pytest

from server.audit import AuditLog
from server.owners import bindings
from server.owners.models import BindingCode
from server.property.models import Binding, BindingStatus, House, Owner
from tests import factories
from tests.miniprogram_api.conftest import bind


def _register_phone(house: House, phone: str) -> None:
    House.update(owner_phone=phone).where(House.id == house.id).execute()


def _bind(api, owner, **body):
    return api.post("/api/v1/houses/bind", json=body, headers=owner.headers)


def _address(house: House) -> dict:
    return {"community_id": house.community_id, "building": house.building.name,
            "unit": house.unit, "room_no": house.room_no}


# ------------------------------------------------------------------ phone
def test_phone_code_binds_every_house_registered_under_that_phone_as_owner(api, sandbox, login, estate):
    a, b, other = estate.houses
    _register_phone(a, "13912345678")
    _register_phone(b, "13912345678")
    _register_phone(other, "13700000000")
    owner = login()
    response = _bind(api, owner, method="phone", phone_code=sandbox.phone_code("13912345678"))
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["status"] == "active"
    assert sorted(h["id"] for h in data["houses"]) == sorted([a.id, b.id])
    rows = list(Binding.select().where(Binding.owner == owner.owner_id))
    assert {(r.house_id, r.role, r.verified_by, r.status) for r in rows} == {
        (a.id, "owner", "phone", "active"), (b.id, "owner", "phone", "active")}
    assert Owner.get_by_id(owner.owner_id).phone == "13912345678"
    listed = api.get("/api/v1/houses", headers=owner.headers).get_json()
    assert sorted(h["id"] for h in listed["houses"]) == sorted([a.id, b.id])


def test_phone_binding_uses_the_stable_access_token(api, sandbox, login, estate):
    _register_phone(estate.houses[0], "13912340001")
    owner = login()
    _bind(api, owner, method="phone", phone_code=sandbox.phone_code("13912340001"))
    kinds = {entry["kind"] for entry in sandbox.state.mp.tokens.values()}
    assert kinds == {"stable"}


def test_house_id_narrows_a_phone_binding_to_one_of_the_matching_houses(api, sandbox, login, estate):
    a, b, _ = estate.houses
    _register_phone(a, "13912345679")
    _register_phone(b, "13912345679")
    owner = login()
    response = _bind(api, owner, method="phone", phone_code=sandbox.phone_code("13912345679"), house_id=b.id)
    assert [h["id"] for h in response.get_json()["houses"]] == [b.id]


def test_a_phone_not_registered_on_any_house_binds_nothing(api, sandbox, login, estate):
    _register_phone(estate.houses[0], "13912345670")
    owner = login()
    # …not even a house id of another registered phone.
    response = _bind(api, owner, method="phone", phone_code=sandbox.phone_code("13800000000"),
                     house_id=estate.houses[0].id)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "PHONE_NOT_REGISTERED"
    assert Binding.select().count() == 0


def test_a_used_phone_code_is_refused(api, sandbox, login, estate):
    _register_phone(estate.houses[0], "13912345671")
    owner = login()
    code = sandbox.phone_code("13912345671")
    assert _bind(api, owner, method="phone", phone_code=code).status_code == 200
    response = _bind(api, owner, method="phone", phone_code=code)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "PHONE_CODE_INVALID"


# ------------------------------------------------------------------- code
def test_a_binding_code_binds_its_house_with_its_role_once(api, login, estate):
    house = estate.houses[1]
    code, row = bindings.issue_binding_code(house.id, "tenant", factories.staff_actor())
    assert row.code_hash != code and code not in row.code_hash
    owner = login()
    response = _bind(api, owner, method="code", binding_code=code.lower())   # case does not matter
    assert response.status_code == 200, response.get_json()
    assert [h["id"] for h in response.get_json()["houses"]] == [house.id]
    binding = Binding.get(Binding.owner == owner.owner_id)
    assert (binding.role, binding.verified_by, binding.status) == ("tenant", "code", "active")
    used = BindingCode.get_by_id(row.id)
    assert used.used_by_id == owner.owner_id and used.used_at is not None
    second = _bind(api, login(), method="code", binding_code=code)
    assert second.status_code == 409
    assert second.get_json()["error"]["code"] == "BINDING_CODE_USED"


def test_expired_and_unknown_binding_codes_are_refused(api, login, estate):
    code, _ = bindings.issue_binding_code(estate.houses[0].id, "family", factories.staff_actor(),
                                          ttl=dt.timedelta(seconds=-1))
    owner = login()
    expired = _bind(api, owner, method="code", binding_code=code)
    assert (expired.status_code, expired.get_json()["error"]["code"]) == (409, "BINDING_CODE_EXPIRED")
    unknown = _bind(api, owner, method="code", binding_code="ZZZZ-ZZZZ")
    assert (unknown.status_code, unknown.get_json()["error"]["code"]) == (404, "BINDING_CODE_INVALID")
    assert Binding.select().count() == 0


def test_a_binding_code_tried_by_two_owners_at_once_binds_one(api_app, login, estate):
    code, _ = bindings.issue_binding_code(estate.houses[2].id, "owner", factories.staff_actor())
    owners = [login(), login()]
    barrier = threading.Barrier(2)
    statuses = []

    def attempt(owner):
        client = api_app.test_client()
        barrier.wait()
        statuses.append(client.post("/api/v1/houses/bind", json={"method": "code", "binding_code": code},
                                    headers=owner.headers).status_code)

    threads = [threading.Thread(target=attempt, args=(o,)) for o in owners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses) == [200, 409]
    assert Binding.select().where(Binding.house == estate.houses[2].id).count() == 1


# ---------------------------------------------------------------- request
def test_a_binding_request_waits_for_staff_approval(api, login, estate):
    house = estate.houses[0]
    owner = login()
    response = _bind(api, owner, method="request", role="family", address=_address(house))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "pending"
    listed = api.get("/api/v1/houses", headers=owner.headers).get_json()
    assert listed["houses"] == [] and [p["id"] for p in listed["pending_requests"]] == [house.id]
    assert "floor_area" not in listed["pending_requests"][0]        # not theirs yet
    assert api.get(f"/api/v1/houses/{house.id}/bills", headers=owner.headers).status_code == 404

    pending = Binding.get(Binding.owner == owner.owner_id)
    bindings.approve_binding(pending.id, factories.staff_actor())
    listed = api.get("/api/v1/houses", headers=owner.headers).get_json()
    assert [(h["id"], h["role"]) for h in listed["houses"]] == [(house.id, "family")]
    assert api.get(f"/api/v1/houses/{house.id}/bills", headers=owner.headers).status_code == 200
    assert AuditLog.select().where(AuditLog.action == "binding.approve").count() == 1


def test_a_rejected_request_binds_nothing_and_cannot_be_decided_twice(api, login, estate):
    owner = login()
    _bind(api, owner, method="request", role="tenant", address=_address(estate.houses[1]))
    pending = Binding.get(Binding.owner == owner.owner_id)
    bindings.reject_binding(pending.id, factories.staff_actor(), note="not on the lease")
    assert Binding.get_by_id(pending.id).status == BindingStatus.REJECTED
    with pytest.raises(bindings.Conflict):
        bindings.approve_binding(pending.id, factories.staff_actor())
    listed = api.get("/api/v1/houses", headers=owner.headers).get_json()
    assert listed == {"houses": [], "pending_requests": []}


def test_a_request_names_the_house_by_address_never_by_id(api, login, estate):
    response = _bind(api, login(), method="request", role="owner", house_id=estate.houses[0].id)
    assert response.status_code == 422 and "house_id" in response.get_json()["error"]["details"]


def test_requesting_an_unknown_address_is_404(api, login, estate):
    response = _bind(api, login(), method="request", role="owner",
                     address={"community_id": estate.community.id, "building": "no such", "room_no": "1"})
    assert response.status_code == 404


def test_requesting_a_house_already_bound_is_409(api, login, estate):
    owner = login()
    bind(owner.owner_id, estate.houses[0])
    response = _bind(api, owner, method="request", role="owner", address=_address(estate.houses[0]))
    assert response.get_json()["error"]["code"] == "ALREADY_BOUND"


# ----------------------------------------------------------------- unbind
def test_unbinding_hides_the_house_and_its_bills(api, login, estate):
    owner = login()
    house = estate.houses[0]
    bind(owner.owner_id, house)
    bill = factories.bill(house, estate.items["WYF"])
    assert api.delete(f"/api/v1/houses/{house.id}/binding", headers=owner.headers).status_code == 204
    assert api.get("/api/v1/houses", headers=owner.headers).get_json()["houses"] == []
    assert api.get(f"/api/v1/bills/{bill.id}", headers=owner.headers).status_code == 404
    assert api.delete(f"/api/v1/houses/{house.id}/binding", headers=owner.headers).status_code == 404
    # Binding again (here by code) reuses the row.
    code, _ = bindings.issue_binding_code(house.id, "owner", factories.staff_actor())
    assert _bind(api, owner, method="code", binding_code=code).status_code == 200
    assert Binding.select().where(Binding.owner == owner.owner_id).count() == 1


@pytest.mark.parametrize("text, found", [("", True), ("小区", True), ("%", False), ("_\\", False)])
def test_communities_are_found_by_name_with_wildcards_taken_literally(api, login, estate, text, found):
    response = api.get("/api/v1/communities", query_string={"q": text}, headers=login().headers)
    assert response.status_code == 200
    ids = [c["id"] for c in response.get_json()["communities"]]
    assert (estate.community.id in ids) is found
