"""Disputes: opening holds the bill (no late fee), replies reach the owner, closing
the last open dispute lifts the hold."""
from __future__ import annotations

import datetime as dt

import pytest

from server.audit import AuditLog
from server.billing.latefees import accrue_late_fees
from server.billing.models import Adjustment, Bill, Method
from server.disputes import services
from server.errors import Conflict, ValidationError
from tests import factories
from tests.miniprogram_api.conftest import bind


@pytest.fixture
def disputed(estate, login):
    """An owner, a bill with a late-fee rule (0.05 % a day after the 15th, cap 10 %)."""
    owner = login()
    house = estate.houses[0]
    bind(owner.owner_id, house)
    item = factories.fee_item(estate.community, "GLF", "管理费")
    std = factories.standard(item, Method.FIXED, "100", daily_rate="0.0005", cap_ratio="0.1")
    bill = factories.bill(house, item, period="2026-01", amount_fen=100_000, std=std)
    return owner, bill


def _open(api, owner, bill, **body):
    payload = {"reason": "amount_wrong", "text": "金额和去年不一样"}
    payload.update(body)
    return api.post(f"/api/v1/bills/{bill.id}/disputes", json=payload, headers=owner.headers)


def test_opening_a_dispute_holds_the_bill_with_an_audit_record(api, disputed):
    owner, bill = disputed
    response = _open(api, owner, bill)
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert data["status"] == "open" and data["bill"]["on_hold"] is True and data["messages"] == []
    assert factories.reload(bill).on_hold is True
    assert [a.action for a in AuditLog.select().order_by(AuditLog.id)] == ["dispute.open", "bill.hold"]


def test_a_held_bill_accrues_no_late_fee_until_the_dispute_is_resolved(api, disputed):
    owner, bill = disputed
    dispute_id = _open(api, owner, bill).get_json()["id"]
    assert accrue_late_fees(bill.id, dt.date(2026, 1, 25)) == 0
    services.resolve_dispute(dispute_id, factories.staff_actor(), "金额无误，按标准计费")
    assert factories.reload(bill).on_hold is False
    assert accrue_late_fees(bill.id, dt.date(2026, 1, 27)) == 2 * 50    # two days at 0.05 %
    assert factories.reload(bill).late_fee_fen == 100


def test_staff_replies_reach_the_owner_and_the_owner_can_answer(api, disputed):
    owner, bill = disputed
    dispute_id = _open(api, owner, bill).get_json()["id"]
    services.reply_to_dispute(dispute_id, factories.staff_actor(), "请提供缴费凭证")
    listed = api.get("/api/v1/disputes", headers=owner.headers).get_json()["disputes"]
    assert [(d["id"], d["status"]) for d in listed] == [(dispute_id, "answered")]
    assert [(m["author"], m["text"]) for m in listed[0]["messages"]] == [("staff", "请提供缴费凭证")]
    answer = api.post(f"/api/v1/disputes/{dispute_id}/messages", json={"text": "已上传"},
                      headers=owner.headers)
    assert answer.status_code == 201
    assert answer.get_json()["status"] == "open"
    assert [m["author"] for m in answer.get_json()["messages"]] == ["staff", "owner"]


def test_one_open_dispute_per_owner_and_bill(api, disputed):
    owner, bill = disputed
    first = _open(api, owner, bill).get_json()["id"]
    second = _open(api, owner, bill)
    assert second.status_code == 409
    assert second.get_json()["error"]["details"] == {"dispute_id": first}


def test_withdrawing_lifts_the_hold(api, disputed):
    owner, bill = disputed
    dispute_id = _open(api, owner, bill).get_json()["id"]
    response = api.post(f"/api/v1/disputes/{dispute_id}/withdraw", headers=owner.headers)
    assert response.status_code == 200
    assert response.get_json()["status"] == "withdrawn" and response.get_json()["bill"]["on_hold"] is False
    again = api.post(f"/api/v1/disputes/{dispute_id}/withdraw", headers=owner.headers)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "DISPUTE_CLOSED"


def test_the_hold_stays_while_another_dispute_on_the_bill_is_open(api, login, disputed):
    owner, bill = disputed
    family = login()
    bind(family.owner_id, bill.house, role="family")
    mine = _open(api, owner, bill).get_json()["id"]
    theirs = _open(api, family, bill, reason="other", text="我也有疑问").get_json()["id"]
    services.resolve_dispute(mine, factories.staff_actor(), "已解释")
    assert factories.reload(bill).on_hold is True
    services.resolve_dispute(theirs, factories.staff_actor(), "已解释")
    assert factories.reload(bill).on_hold is False
    assert AuditLog.select().where(AuditLog.action == "bill.release").count() == 1


def test_resolving_can_reference_an_adjustment_of_the_same_bill_only(api, estate, disputed):
    owner, bill = disputed
    dispute_id = _open(api, owner, bill).get_json()["id"]
    other_bill = factories.bill(estate.houses[1], estate.items["WYF"])
    elsewhere = Adjustment.create(bill=other_bill, kind="discount", amount_fen=-100, reason="x")
    with pytest.raises(ValidationError):
        services.resolve_dispute(dispute_id, factories.staff_actor(), adjustment_id=elsewhere.id)
    fix = Adjustment.create(bill=bill, kind="correction", amount_fen=-5_000, reason="面积更正",
                            status="approved")
    services.resolve_dispute(dispute_id, factories.staff_actor(), "已更正", adjustment_id=fix.id)
    shown = api.get(f"/api/v1/disputes/{dispute_id}", headers=owner.headers).get_json()
    assert (shown["status"], shown["adjustment_id"], shown["resolution"]) == ("resolved", fix.id, "已更正")
    with pytest.raises(Conflict):
        services.reply_to_dispute(dispute_id, factories.staff_actor(), "too late")


def test_a_dispute_needs_a_known_reason_and_some_text(api, disputed):
    owner, bill = disputed
    assert _open(api, owner, bill, reason="because").status_code == 422
    assert _open(api, owner, bill, text="").status_code == 422
    assert _open(api, owner, bill, text=" \n\u3000").status_code == 422
    assert Bill.get_by_id(bill.id).on_hold is False
